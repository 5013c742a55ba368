"""scripts/images.py's pure parts: the recipe hash, the mmdebstrap and pip argv, and the
Dockerfile's offline switches (the builds themselves: tests/integration/test_containers.py)."""

from __future__ import annotations

import re

from scripts import images


def test_base_key_depends_on_the_recipe_and_the_architecture(monkeypatch):
    amd64 = images.base_key("amd64")
    assert images.base_key("amd64") == amd64
    assert images.base_key("arm64") != amd64
    monkeypatch.setitem(images.BASE_RECIPE, "include", [*images.BASE_RECIPE["include"], "curl"])
    assert images.base_key("amd64") != amd64


def test_base_tag_never_shadows_the_upstream_python_image():
    assert not images.base_tag("amd64").startswith("python:")
    assert images.base_tag("amd64").endswith("-amd64-" + images.base_key("amd64"))


def test_mmdebstrap_command_makes_a_tarball_of_the_recipe(tmp_path):
    cmd = images.mmdebstrap_command("arm64", tmp_path / "x.tar")
    assert cmd[0] == "mmdebstrap"
    assert "--variant=minbase" in cmd and "--format=tar" in cmd and "--architectures=arm64" in cmd
    assert "--include=python3,python3-pip,python-is-python3,ca-certificates" in cmd
    # suite, output, mirror last, as mmdebstrap wants them
    assert cmd[-3:] == ["bookworm", str(tmp_path / "x.tar"), images.DEFAULT_MIRROR]


def test_pip_platforms_cover_every_manylinux_bookworm_runs():
    tags = images.pip_platforms("arm64")
    # bookworm has glibc 2.36; wheels are tagged from manylinux_2_17 (= manylinux2014) up
    assert "manylinux_2_17_aarch64" in tags and "manylinux_2_36_aarch64" in tags
    assert "manylinux2014_aarch64" in tags
    assert all(t.endswith("_aarch64") for t in tags)
    assert "manylinux1_x86_64" in images.pip_platforms("amd64")


def test_requirements_are_pyprojects_plus_the_build_backend_without_self_references():
    base = images.requirements()
    assert base[:2] == ["setuptools>=64", "wheel"]
    assert any(r.startswith("prometheus-client") for r in base)
    runner = images.requirements(("runner",))
    assert any(r.startswith("imageio-ffmpeg") for r in runner)
    assert not [r for r in runner if r.startswith("ffwatt")]


def test_wheelhouse_command_downloads_for_the_image_not_the_host(tmp_path):
    cmd = images.wheelhouse_command("arm64", tmp_path)
    assert cmd[1:4] == ["-m", "pip", "download"]
    assert "--only-binary=:all:" in cmd
    assert cmd[cmd.index("--python-version") + 1] == "3.11"


def test_dockerfile_builds_the_normal_way_unless_asked_to_stay_offline():
    text = (images.ROOT / "Dockerfile").read_text()
    assert re.search(r"^ARG BASE_IMAGE=python:3\.11-slim@sha256:[0-9a-f]{64}$", text, re.M)
    assert re.search(r"^ARG PIP_NO_INDEX=0$", text, re.M)
    assert "PIP_FIND_LINKS=/wheelhouse" in text
    ignore = (images.ROOT / ".dockerignore").read_text().split()
    assert "!wheelhouse/" in ignore
    # the committed wheelhouse holds no wheels: a plain build uses the index
    assert (images.ROOT / "wheelhouse" / "README.md").exists()


def test_nginx_rtmp_base_is_its_own_recipe_without_python(tmp_path):
    assert images.base_key("amd64", flavor="nginx-rtmp") != images.base_key("amd64")
    assert images.base_tarball_path("amd64", flavor="nginx-rtmp").name.startswith("nginx-rtmp-amd64-")
    assert images.base_tarball_path("amd64").name.startswith("base-amd64-")
    cmd = images.mmdebstrap_command("amd64", tmp_path / "x.tar", flavor="nginx-rtmp")
    include = next(a for a in cmd if a.startswith("--include="))
    assert "libnginx-mod-rtmp" in include and "python3" not in include
    # Dockerfile.nginx-rtmp skips apt when the base already has the module
    assert "/usr/lib/nginx/modules/ngx_rtmp_module.so" in (images.ROOT / "Dockerfile.nginx-rtmp").read_text()
