"""URL redaction with the attacker's syntax: passwords holding the characters a pattern stops at
(quotes, `@`, spaces, `/`), percent-encoded or not, and library messages that quote them."""

from __future__ import annotations

import urllib.parse

import pytest

from ffwatt.common.urls import redact, scrub

PASSWORDS = ["Quote'RunPW", 'dq"pw', "at@sign", "two@@ats", "sp ace", "pct%40enc", "col:on", "ünï"]


@pytest.mark.parametrize("password", PASSWORDS)
def test_a_password_with_any_character_is_redacted_and_the_rest_kept(password):
    url = f"https://meter:{password}@127.0.0.1:9500/metrics"
    # what the client sends as the password is what urlsplit reads: the same parser decides both
    assert urllib.parse.urlsplit(url).password == password
    assert redact(url) == "https://meter:xxxxx@127.0.0.1:9500/metrics"


def test_a_url_without_a_password_is_shown_as_it_is():
    for url in ("http://127.0.0.1:9500/metrics", "https://meter@host/metrics", "http://[::1]:9/x?q=1"):
        assert redact(url) == url


def test_a_tab_in_a_password_is_dropped_by_the_parser_and_the_password_still_hidden():
    # urlsplit removes tabs and newlines (WHATWG), so the client sends "tabpw": hidden either way
    shown = redact("https://meter:tab\tpw@127.0.0.1:9500/metrics")
    assert shown == "https://meter:xxxxx@127.0.0.1:9500/metrics"


def test_an_ipv6_host_keeps_its_brackets():
    assert redact("http://u:p'w@[::1]:9500/metrics") == "http://u:xxxxx@[::1]:9500/metrics"


@pytest.mark.parametrize("url", ["http://u:pa/ss@host:9500/m", "http://u:1234/ab@host/metrics",
                                 "http://u:p?w@host/metrics", "http://u:p#w@host/metrics"])
def test_a_password_that_ends_the_authority_early_is_hidden_too(url):
    # `/`, `?` or `#` in a password cut the authority short for every parser: the user info is
    # then everything before the last `@`, shown as xxxxx
    shown = redact(url)
    assert shown.startswith("http://xxxxx@host")
    assert "pa/ss" not in shown and "1234" not in shown and "p?w" not in shown and "p#w" not in shown


def test_a_url_that_does_not_parse_is_not_shown():
    assert "secret" not in redact("http://u:secret@[::1")


@pytest.mark.parametrize("password", PASSWORDS)
def test_scrub_takes_the_password_out_of_a_message_in_any_form(password):
    url = f"http://meter:{password}@127.0.0.1:9500/metrics"
    quoted = urllib.parse.quote(password, safe="")
    message = (f"{url}: <urlopen error [Errno 111] refused> while reading {url!r}; "
               f"nonnumeric port: '{password}@127.0.0.1'; as sent: meter:{quoted}")
    clean = scrub(message, url)
    assert password not in clean
    assert "http://meter:xxxxx@127.0.0.1:9500/metrics" in clean
    assert "refused" in clean


def test_scrub_leaves_a_message_without_secrets_alone():
    assert scrub("timed out", "http://127.0.0.1:1/metrics", None) == "timed out"
