"""The one HTTP client (`common.urls`): credentials from the URL's user info, never across a
redirect, never in a message."""

from __future__ import annotations

import base64
import urllib.error

import pytest

from ffwatt.common.errors import FfwattError
from ffwatt.common.process import free_port
from ffwatt.common.urls import HttpError, fetch, open_url
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
