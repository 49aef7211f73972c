"""`workbench serve`: the app in a browser, published with textual-serve.

textual-serve runs an aiohttp server: `/` is the page, `/ws` the websocket that drives one app process per
browser tab (`python -m workbench --db STORE`), `/static` its scripts. It has no authentication of its own, so
when the server is bound to anything but a loopback address (or --token is given) an aiohttp middleware in front
of every route asks for a token: generated here, printed in the URL (`/?token=...`). The page opened with the
right token sets a cookie (HttpOnly, SameSite=Strict) that its own scripts and websocket then send; a request
with neither the token nor the cookie gets 403.
"""

from __future__ import annotations

import argparse
import ipaddress
import secrets
import shlex
import sys

from workbench.cli.kit import EXIT_OK, EXIT_USAGE, CliError

COOKIE = "workbench_token"
SESSION_WAIT_S = 10  # how long a new browser session waits for the previous one's app to quit (it holds the store)


def register(sub) -> None:
    p = sub.add_parser(
        "serve",
        help="open the app in a web browser (textual-serve); prints the URL",
        description="Publish the app at http://HOST:PORT/ with textual-serve: each browser tab runs its own app "
        "on the store. Bound to anything but localhost, the URL carries a token and requests without it are "
        "refused. Ctrl-C stops the server.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument(
        "--token", action="store_true", help="require a token on localhost too (always required on other hosts)"
    )
    p.add_argument(
        "--sample", action="store_true", default=argparse.SUPPRESS, help="load the bundled sample pools first"
    )
    p.set_defaults(func=cmd_serve)


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine only (localhost, 127.x.x.x, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def app_command(db) -> str:
    """The shell command textual-serve runs for each browser tab: this Python's workbench on the store `db`."""
    return shlex.join([sys.executable, "-m", "workbench", "--db", str(db)])


def token_middleware(token: str):
    """An aiohttp middleware that lets through only requests carrying `token` (query `token=` or the cookie that
    the page opened with it sets); the first sets the cookie on its response."""
    import hmac

    from aiohttp import web

    def ok(value: str | None) -> bool:
        return value is not None and hmac.compare_digest(value.encode(), token.encode())

    @web.middleware
    async def check(request, handler):
        by_query = ok(request.query.get("token"))
        if not by_query and not ok(request.cookies.get(COOKIE)):
            raise web.HTTPForbidden(text="workbench: this server needs its token: open the URL that it printed\n")
        response = await handler(request)
        if by_query and isinstance(response, web.Response | web.StreamResponse) and not response.prepared:
            response.set_cookie(COOKIE, token, httponly=True, samesite="Strict")
        return response

    return check


def make_server(db, host: str, port: int, token: str | None):
    """A textual_serve Server for the app on store `db`, with the token check in front when `token` is set. Its
    page's URLs (scripts, websocket) follow the address the browser used, so a server bound to 0.0.0.0 works
    from another machine. `run(on_ready)` serves until SIGINT/SIGTERM and then ends every browser session's app
    (each gets textual's quit, so its store is closed cleanly) before returning."""
    import asyncio
    import signal

    from aiohttp import web
    from textual_serve.server import Server

    class WorkbenchServer(Server):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            self.sessions: set[asyncio.Task] = set()

        async def _make_app(self) -> web.Application:
            app = await super()._make_app()
            if token is not None:
                app.middlewares.append(token_middleware(token))
            app.on_shutdown.append(self._end_sessions)
            return app

        async def handle_index(self, request):
            # textual-serve builds absolute URLs from public_url; take it from this request (its host header)
            # so that the page works under whichever address the browser reached. No await before the
            # template renders, so no other request can change it in between.
            self.public_url = f"{request.scheme}://{request.host}"
            return await super().handle_index(request)

        async def handle_websocket(self, request):
            # DuckDB lets one process open the store: a new tab (a reload) first waits a little for the app of
            # the tab before it to quit; past that it starts anyway and its app says the store is held.
            task = asyncio.current_task()
            live = [t for t in self.sessions if not t.done()]
            self.sessions.add(task)
            try:
                if live:
                    await asyncio.wait(live, timeout=SESSION_WAIT_S)
                    if request.transport is None or request.transport.is_closing():  # the tab went meanwhile
                        return web.Response(status=400)
                return await super().handle_websocket(request)
            finally:
                self.sessions.discard(task)

        async def _end_sessions(self, app) -> None:
            # A cancelled session stops its app (textual-serve's AppService.stop: quit, then wait for it).
            live = [t for t in self.sessions if not t.done()]
            for t in live:
                t.cancel()
            if live:
                await asyncio.wait(live, timeout=15)

        async def on_startup(self, app) -> None:  # textual-serve prints a banner; we print the URL ourselves
            pass

        def run(self, on_ready) -> None:
            async def main() -> None:
                runner = web.AppRunner(await self._make_app(), handle_signals=False, shutdown_timeout=5)
                await runner.setup()
                try:
                    await web.TCPSite(runner, self.host, self.port).start()
                except OSError as e:
                    await runner.cleanup()
                    raise CliError(f"cannot listen on {self.host}:{self.port}: {e.strerror or e}") from e
                stop = asyncio.Event()
                loop = asyncio.get_running_loop()
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.add_signal_handler(sig, stop.set)
                on_ready()
                try:
                    await stop.wait()
                finally:
                    await runner.cleanup()

            asyncio.run(main())

    return WorkbenchServer(app_command(db), host=host, port=port, title="Workbench")


def serve_url(host: str, port: int, token: str | None) -> str:
    """The URL to open: the host as given (a wildcard address as this machine's name), and the token if any."""
    import socket

    shown = socket.gethostname() if host in ("0.0.0.0", "::", "") else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/" + (f"?token={token}" if token else "")


def cmd_serve(args) -> int:
    from workbench.paths import resolve_db_path

    if not 0 < args.port < 65536:
        raise CliError(f"--port {args.port}: expected a port number from 1 to 65535", EXIT_USAGE)
    try:
        import textual_serve  # noqa: F401
    except ImportError as e:
        raise CliError("workbench serve needs the textual-serve package; install it: pip install textual-serve") from e
    db = resolve_db_path(args.db).resolve()
    if getattr(args, "sample", False):
        from engine.core.store import Store
        from workbench.cli.data import load_sample

        with Store(db) as store:
            load_sample(store, evals=True)
    token = secrets.token_urlsafe(24) if (args.token or not is_loopback(args.host)) else None
    server = make_server(db, args.host, args.port, token)

    def ready() -> None:
        print(f"workbench: serving the app on store {db}", file=sys.stderr)
        print(serve_url(args.host, args.port, token), flush=True)
        if token is None:
            print("workbench: localhost only; anyone with an account on this machine can open it", file=sys.stderr)
        print("workbench: Ctrl-C stops the server", file=sys.stderr, flush=True)

    server.run(ready)
    print("workbench: server stopped", file=sys.stderr)
    return EXIT_OK
