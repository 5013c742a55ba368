"""The one YAML loader (`common.yaml_file`): every file a user writes (web configs, health
targets, hosts.yml, scenario files) is bounded and every failure names the file."""

from __future__ import annotations

import pytest

from ffwatt.common.yaml_file import MAX_YAML_NODES, load_yaml
from ffwatt.deploy.hosts import HostsError, load_hosts
from ffwatt.exporters.health import TargetConfigError, load_targets_file
from ffwatt.exporters.webconfig import WebConfigError
from ffwatt.exporters.webconfig import load as load_web_config

# 9 levels of 9 aliases: 9**9 (387 million) nodes once expanded, from 400 bytes
BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8))


@pytest.mark.parametrize(("load", "error"), [
    (load_web_config, WebConfigError),
    (load_targets_file, TargetConfigError),
    (load_hosts, HostsError),
], ids=["web config", "health targets", "hosts.yml"])
def test_an_alias_bomb_is_refused_naming_the_file(tmp_path, load, error):
    path = tmp_path / "bomb.yml"
    path.write_text(BOMB)
    with pytest.raises(error, match=rf"{path}: YAML aliases expand to more than {MAX_YAML_NODES:,} nodes"):
        load(path)


def test_a_recursive_alias_is_refused(tmp_path):
    path = tmp_path / "loop.yml"
    path.write_text("a: &a [1, *a]\n")
    with pytest.raises(HostsError, match="recursive YAML alias"):
        load_yaml(path, HostsError)


def test_bad_yaml_names_the_file_the_line_and_the_column(tmp_path):
    path = tmp_path / "web.yml"
    path.write_text("tls_server_config:\n  cert_file: [unclosed\n")
    with pytest.raises(WebConfigError, match=rf"web config {path}: not valid YAML: line \d+, column \d+: "):
        load_web_config(path)


def test_a_file_that_is_not_text_is_refused(tmp_path):
    path = tmp_path / "hosts.yml"
    path.write_bytes(b"central: \xff\xfe\n")
    with pytest.raises(HostsError, match=rf"{path}: not UTF-8 text"):
        load_hosts(path)
