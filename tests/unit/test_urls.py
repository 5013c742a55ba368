"""The one HTTP client (`common.urls`): credentials from the URL's user info, never across a
redirect, never in a message; redaction with the attacker's syntax: passwords holding the
characters a pattern stops at (quotes, `@`, spaces, `/`), percent-encoded or not, and library
messages that quote them."""

from __future__ import annotations

import base64
import urllib.error
import urllib.parse

import pytest

from ffwatt.common.errors import FfwattError
from ffwatt.common.process import free_port
from ffwatt.common.urls import HttpError, fetch, open_url, redact, scrub
from ffwatt.readers.tsdb import TsdbError, query
from ffwatt.testing.servers.targets import FakeHttp, Route

SECRET = "s3cret-pw"


def test_user_info_is_sent_as_basic_auth_and_never_across_a_redirect():
    with FakeHttp({"/metrics": Route(200, b"up 1\n")}) as elsewhere:
        with FakeHttp({"/metrics": Route(302, b"", headers=(("Location", elsewhere.url + "/metrics"),))}) as origin:
            url = f"http://meter:{SECRET}@" + origin.url.removeprefix("http://") + "/metrics"
            answer = fetch(url, 5)
            with pytest.raises(urllib.error.HTTPError) as raised:
                open_url(url, 5)
            raised.value.close()
    assert answer.status_code == 302 and raised.value.code == 302  # the redirect is the answer
    assert elsewhere.requests == []  # nothing followed it: the credentials stayed with their origin
    sent = origin.request_headers[0]["Authorization"]
    assert sent == "Basic " + base64.b64encode(f"meter:{SECRET}".encode()).decode()


def test_no_answer_is_an_http_error_that_names_the_url_without_its_password():
    url = f"http://meter:{SECRET}@127.0.0.1:{free_port()}/metrics"
    with pytest.raises(HttpError) as raised:
        fetch(url, 2)
    message = str(raised.value)
    assert "meter:xxxxx@127.0.0.1" in message and SECRET not in message
    assert isinstance(raised.value, FfwattError) and isinstance(raised.value, OSError)


def test_an_error_status_is_an_answer_until_ok_is_asked():
    with FakeHttp({}) as srv:
        answer = fetch(srv.url + "/nope", 5)
        assert answer.status_code == 404 and b"not found" in answer.content
        with pytest.raises(HttpError, match=r"/nope: HTTP 404"):
            answer.ok()


def test_a_refused_query_is_a_tsdb_error_naming_the_tsdb_and_the_query():
    body = b'{"status": "error", "errorType": "bad_data", "error": "unknown function nope()"}'
    with FakeHttp({"/api/v1/query": Route(400, body, "application/json")}) as srv:
        url = f"http://reader:{SECRET}@" + srv.url.removeprefix("http://")
        with pytest.raises(TsdbError) as raised:
            query(url, "nope()", what="the test's query")
    message = str(raised.value)
    assert "reader:xxxxx@127.0.0.1" in message and "HTTP 400" in message and "unknown function nope()" in message
    assert "the test's query" in message and SECRET not in message


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
