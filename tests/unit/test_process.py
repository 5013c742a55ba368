"""common.process against real processes: the log, the group stop, the bounded waits."""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
import uuid

import pytest

from ffwatt.common import process
from ffwatt.testing.servers.targets import FakeHttp, Route


def _marker() -> str:
    return f"ffw-test-{uuid.uuid4().hex[:12]}"


def test_spawn_logged_starts_the_log_with_the_pastable_command_and_keeps_the_output(tmp_path):
    argv = ["sh", "-c", "echo 'hello out'; echo 'hello err' >&2"]
    proc = process.spawn_logged(argv, tmp_path / "x.log")
    assert proc.wait(10) == 0
    lines = (tmp_path / "x.log").read_text().splitlines()
    assert lines[1] == f"# {shlex.join(argv)}"  # line 0 is the blank separator
    assert lines[2:] == ["hello out", "hello err"]  # one file, in the order written
    assert process.log_tail(tmp_path / "x.log", len("hello err\n")) == "hello err"


def test_spawn_logged_puts_the_process_in_its_own_session(tmp_path):
    proc = process.spawn_logged([sys.executable, "-c", "import os; print(os.getsid(0) == os.getpid())"],
                                tmp_path / "s.log")
    proc.wait(10)
    assert process.log_tail(tmp_path / "s.log").endswith("True")


def test_terminate_with_group_reaches_the_children(tmp_path):
    marker = _marker()
    # the shell's child sleeps with the marker in its command line (an argument sleep itself never parses)
    child = f"{sys.executable} -c 'import time; time.sleep(300)' {marker}"
    proc = process.spawn_logged(["sh", "-c", f"{child} & wait"], tmp_path / "g.log")
    deadline = time.monotonic() + 5
    while not process.pids_mentioning(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process.pids_mentioning(marker)
    process.terminate(proc, 5, group=True)
    assert proc.returncode is not None
    deadline = time.monotonic() + 5
    while process.pids_mentioning(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process.pids_mentioning(marker) == []


def test_terminate_kills_a_process_that_ignores_sigterm_after_the_timeout(tmp_path):
    proc = process.spawn_logged([sys.executable, "-c",
                                 "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                                 "print('ready', flush=True); time.sleep(300)"], tmp_path / "t.log")
    deadline = time.monotonic() + 10
    while not process.log_tail(tmp_path / "t.log").endswith("\nready") and time.monotonic() < deadline:  # not the header
        time.sleep(0.05)
    t0 = time.monotonic()
    process.terminate(proc, 0.5)
    assert proc.returncode == -9  # SIGKILL, after the 0.5 s SIGTERM wait
    assert time.monotonic() - t0 < 5


def test_wait_http_fails_at_once_when_the_process_exits(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    t0 = time.monotonic()
    with pytest.raises(process.ProcessStartError, match="exited with code 3"):
        process.wait_http(f"http://127.0.0.1:{process.free_port()}/", 30, proc=proc)
    assert time.monotonic() - t0 < 10


def test_wait_http_timeout_names_the_last_answer_and_statuses_none_accepts_it():
    with FakeHttp({"/health": Route(503, b'{"refreshes": 2}')}) as srv:
        with pytest.raises(TimeoutError, match="HTTP 503"):
            process.wait_http(srv.url + "/health", 0.3)
        answer = process.wait_http(srv.url + "/health", 5, statuses=None, check=lambda a: a.json()["refreshes"] > 0)
    assert (answer.status_code, answer.json()) == (503, {"refreshes": 2})


def test_port_is_free_sees_a_listening_socket():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        assert not process.port_is_free(s.getsockname()[1])
    assert process.port_is_free(process.free_port())
