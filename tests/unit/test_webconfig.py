"""The web config parser (exporter-toolkit format): every bad key named, the verified
password cache, the basic auth header."""

from __future__ import annotations

import base64

import bcrypt
import pytest

from ffwatt.exporters import webconfig
from ffwatt.exporters.webconfig import WebConfigError, parse

HASH = bcrypt.hashpw(b"pw", bcrypt.gensalt(rounds=4)).decode()


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(("doc", "named"), [
    ({"tls_server_config": {"cert_file": "c", "key_file": "k", "min_version": "SSL3"}}, "tls_server_config.min_version"),
    ({"tls_server_config": {"cert_file": "c", "key_file": "k", "min_version": "TLS13", "max_version": "TLS12"}},
     "tls_server_config.min_version"),
    ({"tls_server_config": {"cert_file": "c", "key_file": "k", "client_auth_type": "RequireAnyClientCert"}},
     "tls_server_config.client_auth_type"),
    ({"tls_server_config": {"cert_file": "c", "key_file": "k", "client_auth_type": "RequireAndVerifyClientCert"}},
     "tls_server_config.client_ca_file"),
    ({"tls_server_config": {"cert_file": "c", "key_file": "k", "cipher_suites": ["X"]}},
     "tls_server_config.cipher_suites"),
    ({"tls_server_config": {"cert": "x", "cert_file": "c", "key_file": "k"}}, "tls_server_config.cert and"),
    ({"basic_auth_users": {"admin": "plaintext"}}, "basic_auth_users.admin"),
    ({"basic_auth_users": ["admin"]}, "basic_auth_users"),
    ({"http_server_config": {"headers": {"X-Frame-Options": "allow"}}}, "http_server_config.headers.X-Frame-Options"),
    ({"http_server_config": {"http2": "yes"}}, "http_server_config.http2"),
    ({"rate_limit": {"interval": "1s"}}, "rate_limit"),
    ({"tls_config": {}}, "tls_config"),
])
def test_a_bad_key_is_named(doc, named):
    with pytest.raises(WebConfigError, match=named.replace(".", r"\.")):
        parse(doc)


def test_basic_auth_checks_user_and_password():
    config = parse({"basic_auth_users": {"prometheus": HASH}})
    assert config.authorized(_basic("prometheus", "pw"))
    assert not config.authorized(_basic("prometheus", "wrong"))
    assert not config.authorized(_basic("someone", "pw"))
    assert not config.authorized(None)
    assert not config.authorized("Bearer pw")
    assert not config.authorized("Basic !!!not-base64")
    assert parse({}).authorized(None)  # no users: no auth


def test_a_verified_password_costs_one_bcrypt(monkeypatch):
    config = parse({"basic_auth_users": {"prometheus": HASH}})
    calls = []
    real = bcrypt.checkpw
    monkeypatch.setattr(bcrypt, "checkpw", lambda *a: calls.append(1) or real(*a))
    for _ in range(5):
        assert config.authorized(_basic("prometheus", "pw"))
    assert len(calls) == 1


def test_headers_are_kept_in_order_and_blank_ones_dropped():
    config = parse({"http_server_config": {"headers": {"X-Content-Type-Options": "nosniff", "X-XSS-Protection": "",
                                                       "X-Frame-Options": "deny"}}})
    assert config.headers == (("X-Content-Type-Options", "nosniff"), ("X-Frame-Options", "deny"))


def test_an_empty_file_is_plain_http(tmp_path):
    path = tmp_path / "web.yml"
    path.write_text("")
    config = webconfig.load(path)
    assert config.tls is None and not config.needs_auth
