"""The Workbench Textual app: modes, the store, the command palette, F1 help and the keymap.

`WorkbenchApp(db_path=Path, load_sample=False).run()`. The store is opened lazily in a thread worker after
the first paint, and closed on exit (unless it was passed in already open with `store=`). While it is open the
app runs CLI commands on it (workbench/share.py: DuckDB lets one process open the file) and refreshes its screens
after one that wrote.
Nothing heavy is imported here: no duckdb (engine.core.store is imported inside the worker), no torch/polars.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.app import App
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.markup import escape
from textual.signal import Signal
from textual.widget import Widget

from screens.pools import PoolsScreen
from screens.widgets import EngineCaller, running_engine_threads
from workbench import actions as registry
from workbench.actions import Action, bindings_for, key_display

if TYPE_CHECKING:
    from engine.core.store import Store


def _context_nodes(app: App, screen, focused: Widget | None) -> list[tuple[str, Any]]:
    """(context, node) pairs live at the focus: focused widget up to its screen, then the app."""
    out: list[tuple[str, Any]] = []
    seen: set[str] = set()
    chain = list(focused.ancestors_with_self) if focused is not None else []
    if screen not in chain:
        chain.append(screen)
    for node in chain:
        ctx = getattr(type(node), "CONTEXT", None)
        if ctx and ctx not in seen and ctx != registry.GLOBAL:
            out.append((ctx, node))
            seen.add(ctx)
    out.append((registry.GLOBAL, app))
    return out


class ActionsProvider(Provider):
    """Command palette source: the registry's actions for the current context (then global ones), plus the
    screen's own context-aware commands (`palette_commands()`: e.g. "Browse pool X", "Sort by tokens")."""

    def _commands(self) -> Iterable[tuple[str, str, Any]]:
        screen = self.screen
        for ctx, node in _context_nodes(self.app, screen, self.focused):
            for a in registry.actions_for(ctx):
                if a.id == "app.palette":
                    continue
                help_text = escape(f"{a.description} · key {key_display(a.key)}")
                yield (self._title(a), help_text, partial(self._run, a, node))
        extra = getattr(screen, "palette_commands", None)
        if extra is not None:
            yield from extra()

    @staticmethod
    def _title(a: Action) -> str:
        if a.id.startswith("app.mode_"):
            return f"Go to {a.footer_label}"
        return a.footer_label if a.context == registry.GLOBAL else f"{a.context.title()}: {a.footer_label}"

    async def _run(self, a: Action, node: Any) -> None:
        await self.app.run_action(a.textual_action, node)

    async def discover(self) -> Hits:
        for title, help_text, callback in self._commands():
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, callback in self._commands():
            score = max(matcher.match(title), matcher.match(help_text) * 0.8)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)


QUEUE_TICK_S = 1.0  # seconds between turns of the training-run queue


def _lazy_screen(module: str, name: str, *args: Any):
    """A MODES entry that imports its screen module on first use (keeps the first paint fast)."""

    def make():
        import importlib

        return getattr(importlib.import_module(module), name)(*args)

    return make


class WorkbenchApp(EngineCaller, App[None]):
    """Workbench: curate instruction data over a DuckDB store."""

    TITLE = "Workbench"
    CSS_PATH = "app.tcss"
    BINDINGS = bindings_for("global")
    MODES = {
        "pools": PoolsScreen,
        "browse": _lazy_screen("screens.browse", "BrowseScreen"),
        "scores": _lazy_screen("screens.scores", "ScoresScreen"),
        "clusters": _lazy_screen("screens.clusters", "ClustersScreen"),
        "mixtures": _lazy_screen("screens.mixtures", "MixturesScreen"),
        "runs": _lazy_screen("screens.runs", "RunsScreen"),
        "results": _lazy_screen("screens.results", "ResultsScreen"),
        "interpolation": _lazy_screen("screens.interpolation", "InterpolationScreen"),
        "targeted": _lazy_screen("screens.targeted", "TargetedScreen"),
        "studies": _lazy_screen("screens.studies", "StudiesScreen"),
    }
    DEFAULT_MODE = "pools"
    COMMANDS = App.COMMANDS | {ActionsProvider}
    COMMAND_PALETTE_DISPLAY = "ctrl+p"

    def __init__(
        self,
        db_path: Path | str | None = None,
        load_sample: bool = False,
        *,
        store: "Store | None" = None,
        keymap_path: Path | str | None = None,
    ) -> None:
        super().__init__()
        if db_path is None and store is None:
            from workbench.paths import default_db_path

            db_path = default_db_path()
        self.db_path = Path(db_path) if db_path is not None else (store.path if store is not None else None)
        self.load_sample = load_sample
        self.store: Store | None = store
        self._owns_store = store is None
        self.store_error: str | None = None
        self.store_status = "opening store…"
        self._ticking = False
        self._tick_error: str | None = None  # the last error of the run queue's tick, notified once
        # Published with "store" once the store is open, "pools" / "samples" after a change, "error" when the
        # store could not be opened (`store_error` says why).
        self.data_signal: Signal[str] = Signal(self, "data")
        # Published with the one-line store status text.
        self.status_signal: Signal[str] = Signal(self, "status")
        self.cancel_tokens: set = set()  # CancelTokens of running jobs, cancelled on exit
        # The last filter Browse applied (engine.data.query.Filter; None before the first): the scope the jobs of
        # the other screens start on (screens.scope_dialog), unless the person picks every training sample.
        self.current_filter: Any = None
        self._share: Any = None  # the StoreServer that runs CLI commands on the store (workbench.share)

        km = registry.load_keymap(keymap_path)
        self.keymap_warnings = km.warnings
        registry.apply_keymap(km.overrides)
        if km.overrides:
            self.set_keymap(km.overrides)

    # -- lifecycle ---------------------------------------------------------------------------------------
    def on_mount(self) -> None:
        for w in self.keymap_warnings:
            self.notify(w, title="keymap", severity="warning", timeout=10)
        if self.store is not None:
            self.call_after_refresh(self._store_ready, self.store)
        else:
            # After the first frame: opening DuckDB and importing the engine must not delay the first paint.
            self.call_after_refresh(
                self.run_engine, self._open_store, self._store_ready, self._store_failed, group="store"
            )

    def _open_store(self) -> "Store":
        from engine.core.store import Store

        store = Store(self.db_path)
        if self.load_sample:
            from engine.data.sample import load_sample
            from workbench.paths import sample_data_dir

            load_sample(store, sample_data_dir(), evals=True)
        return store

    def _store_ready(self, store: "Store") -> None:
        self.store = store
        self.data_signal.publish("store")
        self.refresh_status()
        # The training queue moves on whichever screen is open: ingest metrics, notice dead workers, start
        # the next queued run.
        self.set_interval(QUEUE_TICK_S, self.tick_runs)
        self._serve_cli(store)

    def _serve_cli(self, store: "Store") -> None:
        """Run CLI commands on the store while the app has it open (workbench.share); only for a store this app
        opened from a file."""
        if not self._owns_store or store.path is None:
            return
        import asyncio

        from workbench.share import StoreServer

        loop = asyncio.get_running_loop()

        def done(argv: list[str], code: int, wrote: bool) -> None:  # in the server's thread
            try:
                loop.call_soon_threadsafe(self._cli_command_done, argv, code, wrote)
            except RuntimeError:  # the app has closed
                pass

        server = StoreServer(store, on_done=done)
        try:
            server.start()
        except OSError as e:
            self.notify(
                f"CLI commands cannot reach the store while the app is open: {e}",
                title="CLI",
                severity="warning",
                timeout=10,
            )
            return
        self._share = server

    def _cli_command_done(self, argv: list[str], code: int, wrote: bool) -> None:
        """A CLI command ran on the store: after one that could write, every screen reloads."""
        if not wrote or self.store is None or self._share is None:  # (None: the app is closing)
            return
        import shlex

        self.data_changed("samples")
        self.data_signal.publish("runs")
        outcome = "done" if code == 0 else ("cancelled" if code == 130 else f"failed (exit {code})")
        self.notify(f"workbench {shlex.join(argv)}: {outcome}", title="CLI", timeout=5)

    def tick_runs(self) -> None:
        """One turn of the run queue in a thread worker (engine.training.runs.tick); events are notified and published
        as data "runs"."""
        store = self.store
        if store is None or self._ticking:
            return
        self._ticking = True

        def work() -> list[str]:
            from engine.training.runs import tick

            return tick(store)

        def done(events: list[str]) -> None:
            self._ticking = False
            self._tick_error = None
            if events:
                for e in events:
                    self.notify(e, title="Runs", severity="error" if "failed" in e else "information", timeout=5)
                self.data_signal.publish("runs")

        def failed(error: BaseException) -> None:
            self._ticking = False
            if str(error) != self._tick_error:  # once, not every tick (a read-only run folder, a full disk)
                self._tick_error = str(error)
                self.notify(f"the run queue cannot move on: {error}", title="Runs", severity="error", timeout=10)

        self.run_engine(work, done, failed, group="runs-queue")

    def _store_failed(self, error: BaseException) -> None:
        self.store_error = str(error)
        self.store_status = "store not open"
        self.status_signal.publish(self.store_status)
        self.data_signal.publish("error")
        # A screen still mounting can miss the signal (Textual drops subscribers that are not running yet);
        # showing the error is idempotent, so tell the current screen directly too.
        show = getattr(self.screen, "on_data_changed", None)
        if show is not None:
            show("error")
        self.notify(f"{error}", title="Cannot open the store", severity="error", timeout=30)

    def data_changed(self, what: str = "samples") -> None:
        """Tell every screen that the store's content changed, and refresh the status line."""
        self.data_signal.publish(what)
        self.refresh_status()

    def refresh_status(self) -> None:
        """Recount pools and samples (thread worker) and publish the status line."""
        store = self.store
        if store is None:
            return

        def count() -> tuple[int, int]:
            from engine.data.pools import list_pools

            pools = list_pools(store)
            return len(pools), sum(p.n_samples for p in pools)

        def done(res: tuple[int, int]) -> None:
            n_pools, n_samples = res
            name = self.db_path.name if self.db_path is not None else "in-memory"
            self.store_status = (
                f"{name} · {n_pools:,} pool{'' if n_pools == 1 else 's'} · "
                f"{n_samples:,} sample{'' if n_samples == 1 else 's'}"
            )
            self.status_signal.publish(self.store_status)

        self.run_engine(count, done, group="status", exclusive=True)

    async def action_quit(self) -> None:
        self._shutdown_jobs()
        await self._stop_serving()  # while Textual still routes stdout: a cancelled CLI command says so to its caller
        self.exit()

    def _shutdown_jobs(self) -> None:
        for token in list(self.cancel_tokens):
            token.cancel()

    async def on_unmount(self) -> None:
        self._shutdown_jobs()
        await self._stop_serving()
        if self._owns_store and self.store is not None:
            # Let running engine threads finish their current query (imports stop at their next
            # checkpoint once cancelled) before closing the connection under them.
            import asyncio
            import time

            deadline = time.monotonic() + 10.0
            while running_engine_threads() and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            try:
                self.store.close()
            except Exception:  # noqa: BLE001 - closing on exit must not raise over the terminal
                pass
            self.store = None

    async def _stop_serving(self) -> None:
        """Take no more CLI commands; a running one is cancelled (at its next checkpoint, else at once after 5 s)
        and ends before the store closes."""
        server, self._share = self._share, None
        if server is None:
            return
        import asyncio
        import time

        server.stop()
        start = time.monotonic()
        interrupted = False
        while server.running and time.monotonic() - start < 10.0:
            server.reroute()  # after Textual's loop has ended (a close without the quit action)
            if not interrupted and time.monotonic() - start > 5.0:
                server.interrupt()
                interrupted = True
            await asyncio.sleep(0.02)

    # -- actions -------------------------------------------------------------------------------------
    def open_browse(self, pool_id: int | None = None, domain: str | None = None, expression: str | None = None) -> None:
        """Switch to Browse showing one pool (None: all pools), optionally one domain and an expression."""
        self.switch_mode("browse")
        show = getattr(self.screen, "show", None)  # the BrowseScreen
        if show is not None:
            show(pool_id, domain, expression)

    def action_help(self) -> None:
        """F1: help for the focused widget; F1 again closes it."""
        from screens.help import HelpScreen

        if isinstance(self.screen, HelpScreen):
            self.screen.dismiss(None)
            return
        self.push_screen(HelpScreen(self.screen, self.screen.focused))

    def get_system_commands(self, screen):
        # The registry provides Quit and Help; keep Textual's theme/screenshot/maximize commands.
        for cmd in super().get_system_commands(screen):
            if cmd.title in ("Quit", "Keys"):
                continue
            yield cmd
