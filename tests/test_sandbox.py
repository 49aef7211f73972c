"""The code sandbox: right/wrong solutions, and escapes (loops, fork bombs, memory, files, network)."""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest

from engine.sandbox import SandboxError, SandboxLimits, network_isolation, run_code

ADD = "def add(a, b):\n    return a + b\n"
TESTS = ["assert add(1, 2) == 3", "assert add(5, 0) == 5"]


def test_right_and_wrong_solution():
    r = run_code(ADD, TESTS)
    assert r.status == "passed" and r.passed and r.n_passed == 2, r
    w = run_code("def add(a, b):\n    return a - b\n", TESTS)
    assert w.status == "failed" and not w.passed and w.n_passed == 1
    assert w.tests[0]["ok"] is False and "AssertionError" in w.tests[0]["error"]


def test_syntax_error_empty_and_missing_function():
    assert run_code("def add(a, b)\n  return", TESTS).status == "error"
    assert run_code("", TESTS).error == "no code"
    r = run_code("x = 1\n", TESTS)
    assert r.status == "failed" and "NameError" in r.tests[0]["error"]


def test_setup_code_runs_first():
    r = run_code("def f():\n    return K\n", ["assert f() == 7"], setup="K = 7")
    assert r.passed


def test_bad_input_is_a_clear_error():
    with pytest.raises(SandboxError, match="list of strings"):
        run_code(ADD, "assert add(1,2)==3")


def test_exit_early_does_not_count_as_pass():
    # os._exit(0) before the asserts run: no result line, so not a pass
    r = run_code("import os\nos._exit(0)\n", TESTS)
    assert not r.passed and r.status == "error"
    r = run_code("import sys\nsys.exit(0)\n", TESTS)
    assert not r.passed


def test_infinite_loop_hits_cpu_limit_or_timeout():
    t0 = time.perf_counter()
    r = run_code("while True:\n    pass\n", TESTS, limits=SandboxLimits(cpu_s=1, timeout_s=5))
    assert r.status in ("killed", "timeout") and not r.passed
    assert time.perf_counter() - t0 < 5


def test_sleeping_code_is_killed_at_wall_clock():
    r = run_code("import time\ntime.sleep(60)\n", TESTS, limits=SandboxLimits(timeout_s=1.5))
    assert r.status == "timeout" and r.seconds < 10


def test_fork_bomb_is_stopped_and_leaves_nothing_behind():
    code = "import os\nwhile True:\n    os.fork()\n"
    t0 = time.perf_counter()
    r = run_code(code, TESTS, limits=SandboxLimits(timeout_s=5))
    assert not r.passed and r.status == "error" and "os.fork" in r.error
    assert time.perf_counter() - t0 < 5
    r = run_code("import subprocess\nsubprocess.Popen(['sleep', '100'])\n", TESTS)
    assert not r.passed and "not allowed" in r.error
    r = run_code("import ctypes\n", TESTS)
    assert not r.passed and "not allowed" in r.error
    r = run_code("import _posixsubprocess\n", TESTS)
    assert not r.passed


def test_huge_memory_is_refused():
    r = run_code("x = bytearray(4 * 1024 ** 3)\n", TESTS, limits=SandboxLimits(memory_mb=256))
    assert not r.passed and r.status in ("error", "killed")
    assert r.status == "killed" or "MemoryError" in r.error


def test_file_writes_outside_temp_are_refused(tmp_path):
    target = tmp_path / "escape.txt"
    r = run_code(f"open({str(target)!r}, 'w').write('x')\n", TESTS)
    assert not r.passed and "PermissionError" in r.error
    assert not target.exists()
    r = run_code(f"import os\nos.remove({str(tmp_path)!r})\n", TESTS)
    assert not r.passed and tmp_path.exists()
    # inside its own temp dir the code may write, and the file is gone afterwards
    r = run_code("open('scratch.txt', 'w').write('ok')\ndef add(a, b):\n    return a + b\n", TESTS)
    assert r.passed


def test_file_size_limit():
    code = "with open('big.bin', 'wb') as f:\n    f.write(b'x' * (50 * 1024 * 1024))\n"
    r = run_code(code, TESTS, limits=SandboxLimits(file_size_mb=1))
    assert not r.passed and r.status in ("killed", "error")


@pytest.fixture
def listener():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    srv.settimeout(0.2)
    hits = []
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                c, _ = srv.accept()
                hits.append(1)
                c.close()
            except OSError:
                pass

    th = threading.Thread(target=serve, daemon=True)
    th.start()
    yield srv.getsockname()[1], hits
    stop.set()
    th.join(2)
    srv.close()


def test_network_attempts_fail(listener):
    port, hits = listener
    code = f"import socket\ns = socket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
    r = run_code(code, TESTS)
    assert not r.passed and r.status == "error"
    assert hits == []


def test_network_namespace_without_guard(listener):
    if network_isolation() != "netns":
        pytest.skip("no network namespace on this machine (guard-only isolation)")
    port, hits = listener
    code = f"import socket\ns = socket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
    r = run_code(code, TESTS, limits=SandboxLimits(guard=False))
    assert not r.passed and r.isolation["network"] == "netns"
    assert hits == []


def test_environment_is_stripped(monkeypatch):
    monkeypatch.setenv("WB_SECRET_FOR_TEST", "leak")
    code = "import os\ndef add(a, b):\n    return a + b\nassert 'WB_SECRET_FOR_TEST' not in os.environ\n"
    assert run_code(code, TESTS).passed
    assert os.environ["WB_SECRET_FOR_TEST"] == "leak"
