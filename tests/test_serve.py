"""`workbench serve`: the app in a real browser (headless Chromium driven by Playwright), and the token check.

The browser test needs Debian's chromium (`apt-get install chromium`; or $WORKBENCH_CHROMIUM naming another
binary) and the playwright package (the test extra); it never downloads Playwright's own browsers. Without
either it is skipped with the reason.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from workbench.cli.serve import is_loopback, serve_url

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _chromium() -> str | None:
    exe = os.environ.get("WORKBENCH_CHROMIUM")
    if exe:
        return exe if Path(exe).exists() else None
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


class Served:
    """`workbench serve` running in a subprocess until close(): its URL (the first line it prints)."""

    def __init__(self, db: Path, *args: str):
        self.port = _free_port()
        cmd = [sys.executable, "-m", "workbench", "--db", str(db), "serve", "--port", str(self.port), *args]
        self.err = db.parent / f"serve-{self.port}.stderr"  # a file, not a pipe: a full pipe would stall the server
        with open(self.err, "w") as err:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=err, text=True)
        self.url = self.proc.stdout.readline().strip()
        if not self.url:
            raise AssertionError(f"workbench serve printed no URL: {self.close()}")
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()  # the rest, so the pipe never fills
        deadline = time.monotonic() + 20
        while True:  # the URL is printed just before the server binds
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"workbench serve did not listen: {self.close()}") from None
                time.sleep(0.1)

    def close(self) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.err.read_text()


def _get(url: str, cookie: str | None = None) -> tuple[int, dict, str]:
    req = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


def test_loopback_and_url():
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1") and is_loopback("127.0.0.2")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.10") and not is_loopback("example.org")
    assert serve_url("127.0.0.1", 8000, None) == "http://127.0.0.1:8000/"
    assert serve_url("::1", 9, "abc") == "http://[::1]:9/?token=abc"
    assert serve_url("0.0.0.0", 8000, "t") == f"http://{socket.gethostname()}:8000/?token=t"


def test_bad_port_and_port_in_use_are_clear_errors(tmp_path):
    from tests.helpers import wb

    r = wb(tmp_path / "s.duckdb", "serve", "--port", "70000", check=False)
    assert r.returncode == 2 and "--port 70000" in r.stderr and "Traceback" not in r.stderr
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = wb(tmp_path / "s.duckdb", "serve", "--port", str(port), check=False)
    assert r.returncode == 1 and f"cannot listen on 127.0.0.1:{port}" in r.stderr and "Traceback" not in r.stderr


def test_token_refuses_requests_without_it(tmp_path):
    """With a token (always off localhost; --token here so the test stays on loopback) the page, its scripts and
    its websocket are refused without it; the URL's token lets the page in and sets the cookie the rest uses."""
    served = Served(tmp_path / "s.duckdb", "--token")
    try:
        assert "?token=" in served.url
        base = served.url.split("?")[0]
        token = served.url.split("token=")[1]
        for path in ("", "ws", "static/js/textual.js", "?token=wrong"):
            code, _, body = _get(base + path)
            assert code == 403, path
            assert "needs its token" in body
        code, headers, body = _get(served.url)
        assert code == 200 and "data-session-websocket-url" in body
        cookie = headers["Set-Cookie"].split(";")[0]
        assert cookie == f"workbench_token={token}" and "HttpOnly" in headers["Set-Cookie"]
        code, _, _ = _get(base + "static/js/textual.js", cookie=cookie)
        assert code == 200
        code, _, _ = _get(base + "static/js/textual.js", cookie="workbench_token=nope")
        assert code == 403
    finally:
        served.close()
    # Without --token on localhost: no token needed.
    served = Served(tmp_path / "s.duckdb")
    try:
        assert "token" not in served.url
        assert _get(served.url)[0] == 200
    finally:
        served.close()


# xterm.js draws on a canvas, so the page has no text to read; textual-serve's script keeps its Terminal in a
# closure. Its constructor sets this.terminal and then this.fitAddon: a setter on Object.prototype for
# `fitAddon` catches that first assignment and keeps the Terminal (its buffer holds the visible rows).
CATCH_TERMINAL = """
Object.defineProperty(Object.prototype, 'fitAddon', {
  configurable: true,
  set(v) {
    if (this.terminal && !window.__wbTerminal) window.__wbTerminal = this.terminal;
    Object.defineProperty(this, 'fitAddon', {value: v, writable: true, configurable: true, enumerable: true});
  },
});
"""
SCREEN_TEXT = """() => {
  const t = window.__wbTerminal;
  if (!t) return null;
  const b = t.buffer.active, rows = [];
  for (let i = 0; i < t.rows; i++) { const l = b.getLine(b.viewportY + i); rows.push(l ? l.translateToString(true) : ''); }
  return rows.join('\\n');
}"""


def steady(page, screen, quiet: float = 1.0, timeout: float = 15.0) -> None:
    """Wait until the screen text has not changed for `quiet` seconds."""
    last, since, deadline = None, time.monotonic(), time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = screen()
        if text != last:
            last, since = text, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
        time.sleep(0.1)


@pytest.mark.slow
def test_app_in_a_real_browser(tmp_path):
    """Headless Chromium opens `workbench serve`'s page: the app draws its Pools area, key 2 switches to Browse,
    a text filter typed into Browse narrows the table to the engine's count; a screenshot is kept."""
    exe = _chromium()
    if exe is None:
        pytest.skip("no Chromium: install Debian's package (apt-get install chromium) or set WORKBENCH_CHROMIUM")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install playwright; its own browsers are not needed)")
    from engine.core.store import Store
    from engine.data.query import Browser, Filter
    from engine.data.sample import load_sample
    from workbench.paths import sample_data_dir

    db = tmp_path / "s.duckdb"
    with Store(db) as store:
        load_sample(store, sample_data_dir(), evals=True)
        total = Browser(store).count()
        hits = Browser(store, Filter(text="python"))
        n_python = hits.count()
        first_hit = hits.page(0, 1)[0]  # the first row the filtered table draws
        first_pool = store.con.execute("SELECT name FROM pools ORDER BY id LIMIT 1").fetchone()[0]
    assert 0 < n_python < total

    served = Served(db)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=exe, headless=True, args=["--no-sandbox"])
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                page.add_init_script(CATCH_TERMINAL)
                page.goto(served.url)

                def screen() -> str:
                    return page.evaluate(SCREEN_TEXT) or ""

                def until(pred, what: str, timeout: float = 40.0) -> str:
                    deadline = time.monotonic() + timeout
                    while time.monotonic() < deadline:
                        text = screen()
                        if pred(text):
                            return text
                        time.sleep(0.2)
                    raise AssertionError(f"browser: no {what} within {timeout:.0f} s; screen:\n{screen()}")

                text = until(lambda t: "1 Pools" in t and first_pool in t, "Pools area")
                assert "2 Browse" in text
                page.click(".textual-terminal")  # keys go to the terminal
                page.keyboard.press("2")
                until(lambda t: f"row 1 · {total:,} of {total:,} samples" in t, "Browse area with its table")
                steady(page, screen)  # Browse focuses its table once its filter options load: let that pass
                page.keyboard.press("/")
                time.sleep(0.3)
                page.keyboard.type("python")
                until(lambda t: "python" in t, "typed filter text")
                page.keyboard.press("Enter")
                text = until(lambda t: f"{n_python:,} of {total:,} samples" in t, "filtered table")
                assert "python" in text
                # the rows themselves, not their placeholders: the first hit's id and pool on one line
                row = re.compile(rf"^\s*{first_hit['id']}\s+{re.escape(str(first_hit['pool']))}\s", re.M)
                until(lambda t: row.search(t) is not None, "the filtered table's first row")
                shot = tmp_path / "serve_screenshot.png"
                page.screenshot(path=str(shot))
                assert shot.stat().st_size > 10_000
                keep = ROOT / ".bench"
                keep.mkdir(exist_ok=True)
                shutil.copyfile(shot, keep / "serve_screenshot.png")
            finally:
                browser.close()
    finally:
        err = served.close()
    assert "Traceback" not in err, err
