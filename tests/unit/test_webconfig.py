"""The web config parser (exporter-toolkit format): every bad key named, the verified
password cache, the basic auth header."""

from __future__ import annotations

import base64

import bcrypt
import pytest

from ffwatt.exporters import webconfig
from ffwatt.exporters.rate_limit import AuthThrottle
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


def _counting_bcrypt(monkeypatch) -> list:
    calls: list = []
    real = bcrypt.checkpw
    monkeypatch.setattr(bcrypt, "checkpw", lambda *a: calls.append(1) or real(*a))
    return calls


def test_a_wrong_password_repeated_costs_one_bcrypt_and_expires(monkeypatch):
    now = [0.0]
    config = parse({"basic_auth_users": {"prometheus": HASH}})
    object.__setattr__(config, "_verdicts", webconfig.Verdicts(ttl=300, clock=lambda: now[0]))
    calls = _counting_bcrypt(monkeypatch)
    assert [config.authorized(_basic("prometheus", "wrong")) for _ in range(5)] == [False] * 5
    assert len(calls) == 1
    now[0] = 301.0  # expired: checked again
    assert config.authorized(_basic("prometheus", "wrong")) is False
    assert len(calls) == 2


def test_a_success_is_kept_while_used_and_forgotten_when_idle_past_its_time(monkeypatch):
    now = [0.0]
    config = parse({"basic_auth_users": {"prometheus": HASH}})
    object.__setattr__(config, "_verdicts", webconfig.Verdicts(ttl=300, clock=lambda: now[0]))
    calls = _counting_bcrypt(monkeypatch)
    for t in range(0, 1000, 100):  # a scraper every 100 s: one check in all
        now[0] = float(t)
        assert config.authorized(_basic("prometheus", "pw"))
    assert len(calls) == 1
    now[0] += 301.0
    assert config.authorized(_basic("prometheus", "pw"))
    assert len(calls) == 2


def test_wrong_passwords_cannot_push_a_success_out_of_the_cache(monkeypatch):
    config = parse({"basic_auth_users": {"prometheus": HASH}})
    object.__setattr__(config, "_verdicts", webconfig.Verdicts(max_entries=4))
    calls = _counting_bcrypt(monkeypatch)
    assert config.authorized(_basic("prometheus", "pw"))
    for k in range(20):
        assert not config.authorized(_basic("prometheus", f"wrong-{k}"))
    assert config.authorized(_basic("prometheus", "pw"))
    assert len(calls) == 21  # the success was not checked again


def test_a_flood_of_new_wrong_passwords_costs_a_bounded_number_of_bcrypt_checks(monkeypatch):
    now = [0.0]
    config = parse({"basic_auth_users": {"prometheus": HASH}})
    throttle = AuthThrottle(per_peer_per_minute=10, per_second=2, clock=lambda: now[0])
    calls = _counting_bcrypt(monkeypatch)
    answers = []
    for k in range(1000):  # 8 peers, 1,000 guesses over 10 s
        now[0] = k / 100
        answers.append(config.authorized(_basic("prometheus", f"guess-{k}"), throttle, f"10.0.0.{k % 8}"))
    # all peers together: two bursts of 4 (peers without failures, and the others), then 1 + 1 a second
    # for 10 s: at most 8 + 2 x 10
    assert len(calls) == answers.count(False) <= 8 + 20
    assert answers.count(None) == 1000 - len(calls)  # throttled: answered 429, never checked
    # one peer alone: its own 10 a minute
    lone = AuthThrottle(per_peer_per_minute=10, per_second=1000, clock=lambda: now[0])
    assert sum(lone.take("10.9.9.9") is not None for _ in range(100)) == 10


def test_a_flood_of_failures_leaves_checks_for_a_peer_without_failures():
    now = [0.0]
    throttle = AuthThrottle(per_peer_per_minute=10, per_second=2, clock=lambda: now[0])
    config = parse({"basic_auth_users": {"prometheus": HASH}})
    for k in range(3000):  # 8 attacking peers, a guess each every 10 ms for 30 s
        now[0] = k / 100
        config.authorized(_basic("prometheus", f"guess-{k}"), throttle, f"10.0.0.{k % 8}")
    # a scraper that never failed still gets its check, and the flood has not taken it
    assert config.authorized(_basic("prometheus", "pw"), throttle, "10.0.9.9") is True
    assert config.authorized(_basic("prometheus", "guess-x"), throttle, "10.0.0.1") is None


def test_a_right_password_is_not_held_back_by_its_peers_failures(monkeypatch):
    config = parse({"basic_auth_users": {"prometheus": HASH}})
    throttle = AuthThrottle(per_peer_per_minute=2, per_second=100)
    assert config.authorized(_basic("prometheus", "pw"), throttle, "10.0.0.1")  # given back: successes are free
    assert config.authorized(_basic("prometheus", "no1"), throttle, "10.0.0.1") is False
    assert config.authorized(_basic("prometheus", "no2"), throttle, "10.0.0.1") is False
    assert config.authorized(_basic("prometheus", "no3"), throttle, "10.0.0.1") is None
    assert config.authorized(_basic("prometheus", "pw"), throttle, "10.0.0.1")  # cached: no check needed


def test_a_password_verified_before_a_reload_that_changed_it_is_refused_after(tmp_path):
    path = tmp_path / "web.yml"
    path.write_text(f"basic_auth_users:\n  prometheus: '{HASH}'\n")
    web = webconfig.WebConfigFile(path)
    assert web.get(10.0).authorized(_basic("prometheus", "pw"))
    changed = bcrypt.hashpw(b"pw2", bcrypt.gensalt(rounds=4)).decode()
    path.write_text(f"basic_auth_users:\n  prometheus: '{changed}'\n")
    reloaded = web.get(20.0)
    assert reloaded.users["prometheus"] == changed.encode()
    assert reloaded.authorized(_basic("prometheus", "pw")) is False
    assert reloaded.authorized(_basic("prometheus", "pw2"))
