"""Pools: the imported data sets, with counts per domain. Import, rename, delete, set domain, browse."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.widgets import DataTable, Static

from screens.widgets import DEFAULT_DOMAINS, ConfirmDialog, InputDialog, NavTable, WorkbenchScreen


def _domains_text(domains: dict[str, int]) -> str:
    return " · ".join(f"{d} {n:,}" for d, n in sorted(domains.items(), key=lambda kv: (-kv[1], kv[0])))


class PoolTable(NavTable):
    """The pools of the store: one row per pool.

    Enter browses the pool. i imports a file, r renames, d deletes (after confirming how many samples go),
    D sets the pool's domain (for samples whose domain came from the pool, not from a rule or by hand), e marks
    the pool as an eval set (never trained on) or back to training data, p labels where its data came from.
    """

    HELP = """
    ### Pools
    One row per pool: its name, default domain, role (train, or eval set: never trained on), provenance (human,
    synthetic, mixed or unknown), detected format, number of samples, how many are excluded, and the samples per
    domain.

    - **enter** browse the pool's samples
    - **i** import a file (JSONL/JSON/Parquet/CSV, gzip ok) as a new pool or into an existing one
    - **r** rename, **d** delete (asks first, says how many samples go), **D** set the pool's domain
    - **e** mark the pool as an eval set (Results evaluates runs on it; it is never trained on, clustered or
      drawn into mixtures), or back to training data
    - **p** set the pool's provenance: where its data came from (human, synthetic, mixed, unknown); a growth
      study can split by it
    """


class PoolsScreen(WorkbenchScreen, mode="pools"):
    """The Pools area: list of pools and the actions on them."""

    HELP = PoolTable.HELP

    def __init__(self) -> None:
        super().__init__()
        self.pools: list[Any] = []  # engine.data.pools.PoolInfo

    def compose(self) -> ComposeResult:
        yield from self.compose_header()
        table = PoolTable(id="pools-table", cursor_type="row", zebra_stripes=True)
        yield table
        yield Static("", id="pools-empty")
        yield from self.compose_footer()

    def on_mount(self) -> None:
        t = self.query_one(PoolTable)
        t.add_column("name", key="name")
        t.add_column("domain", key="domain")
        t.add_column("role", key="role")
        t.add_column("provenance", key="provenance")
        t.add_column("format", key="format")
        t.add_column("samples", key="samples")
        t.add_column("excluded", key="excluded")
        t.add_column("per domain", key="domains")
        if self.app.store is None and not getattr(self.app, "store_error", None):
            # (the base class's on_mount may already have shown the store or its error)
            self._show_empty("Opening the store…")

    # -- data -------------------------------------------------------------------------------------------
    def on_data_changed(self, what: str) -> None:
        if what == "error":
            self._show_empty(f"[b]Cannot open the store:[/b] {self.app.store_error}")  # type: ignore[attr-defined]
            return
        self.action_refresh()

    def action_refresh(self) -> None:
        store = self.store
        if store is None:
            return

        def load():
            from engine.data.pools import list_pools

            return list_pools(store)

        self.run_engine(load, self._show_pools, group="pools", exclusive=True)

    def _show_pools(self, pools: list[Any]) -> None:
        self.pools = list(pools)
        t = self.query_one(PoolTable)
        selected = self.selected_pool()
        t.clear()
        for p in self.pools:
            t.add_row(
                p.name,
                p.domain,
                Text("eval set", style="bold") if p.role == "eval" else Text("train", style="dim"),
                Text(p.provenance, style="dim" if p.provenance == "unknown" else ""),
                p.format or "",
                Text(f"{p.n_samples:,}", justify="right"),
                Text(f"{p.n_excluded:,}", justify="right"),
                _domains_text(p.domains),
                key=str(p.id),
            )
        if selected is not None:
            for i, p in enumerate(self.pools):
                if p.id == selected.id:
                    t.move_cursor(row=i)
        if self.pools:
            self._show_empty("")
        else:
            self._show_empty("No pools yet. Press [b]i[/b] to import a file (JSONL, JSON, Parquet or CSV).")

    def _show_empty(self, text: str) -> None:
        s = self.query_one("#pools-empty", Static)
        s.update(text)
        s.display = bool(text)

    def selected_pool(self):
        t = self.query_one(PoolTable)
        if not self.pools or t.cursor_row is None or not (0 <= t.cursor_row < len(self.pools)):
            return None
        return self.pools[t.cursor_row]

    def _need_pool(self):
        p = self.selected_pool()
        if p is None:
            self.notify("No pool selected.", severity="warning")
        return p

    # -- actions ----------------------------------------------------------------------------------------
    def _pool_op(self, run, said) -> None:
        """Run a pool operation in a worker; then say `said(result)` and refresh what shows pools."""
        self.run_engine(run, lambda got: (self.notify(said(got)), self.app.data_changed("pools")), group="pool-op")

    def action_import_file(self) -> None:
        if self.store is None:
            self.notify("The store is not open yet.", severity="warning")
            return
        from screens.import_dialog import ImportDialog

        def done(result) -> None:
            if result is not None:
                self.app.data_changed("pools")  # type: ignore[attr-defined]

        self.app.push_screen(ImportDialog(self.store, existing=[p.name for p in self.pools]), done)

    @on(DataTable.RowSelected, "#pools-table")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open_pool()

    def action_open_pool(self) -> None:
        p = self._need_pool()
        if p is None:
            return
        self.app.open_browse(pool_id=p.id)  # type: ignore[attr-defined]

    def action_rename_pool(self) -> None:
        p = self._need_pool()
        if p is None:
            return
        names = {q.name for q in self.pools if q.id != p.id}

        def validate(v: str) -> str | None:
            return f"a pool named {v!r} exists" if v in names else None

        def done(new: str | None) -> None:
            if not new or new == p.name:
                return
            store = self.store

            def run():
                from engine.data.pools import rename_pool

                rename_pool(store, p.id, new)
                return new

            self._pool_op(run, lambda n: f"Renamed {p.name} → {n}")

        self.app.push_screen(
            InputDialog("Rename pool", f"New name for {p.name}:", p.name, validate=validate, ok="Rename"), done
        )

    def action_delete_pool(self) -> None:
        p = self._need_pool()
        if p is None:
            return

        def done(ok) -> None:
            if ok is not True:
                return
            store = self.store

            def run():
                from engine.data.pools import delete_pool

                return delete_pool(store, p.id)

            self._pool_op(run, lambda n: f"Deleted pool {p.name} ({n:,} samples)")

        self.app.push_screen(
            ConfirmDialog(
                f"Delete pool {p.name}?",
                f"This deletes the pool and its {p.n_samples:,} samples, with their tags and scores. "
                "It cannot be undone.",
                f"Delete {p.n_samples:,} samples",
                danger=True,
            ),
            done,
        )

    def action_set_pool_domain(self) -> None:
        p = self._need_pool()
        if p is None:
            return

        def done(domain: str | None) -> None:
            if not domain or domain == p.domain:
                return
            store = self.store

            def run():
                from engine.data.pools import set_pool_domain

                return set_pool_domain(store, p.id, domain)

            self._pool_op(run, lambda n: f"{p.name}: domain {domain} ({n:,} samples changed)")

        choices = list(dict.fromkeys(DEFAULT_DOMAINS + sorted(p.domains)))
        self.app.push_screen(
            InputDialog(
                f"Domain of pool {p.name}",
                "Domain:",
                p.domain,
                choices=choices,
                placeholder="custom domain, e.g. medical",
                note="Applies to the samples whose domain comes from the pool (not those set by a rule or by hand).",
                ok="Set domain",
            ),
            done,
        )

    def action_toggle_eval(self) -> None:
        p = self._need_pool()
        if p is None:
            return
        role = "train" if p.role == "eval" else "eval"
        store = self.store

        def run(force: bool = False):
            from engine.data.pools import set_role

            return set_role(store, p.id, role, force=force)

        def done(_name) -> None:
            what = "an eval set (never trained on)" if role == "eval" else "training data"
            self.notify(f"{p.name} is {what} now")
            self.app.data_changed("pools")  # type: ignore[attr-defined]

        def refused(error: BaseException) -> None:
            from engine.data.pools import PoolInMixtures

            if not isinstance(error, PoolInMixtures):
                self.engine_error(error)
                return
            # drawn into saved mixtures: say so, and mark it anyway only when asked
            self.app.push_screen(
                ConfirmDialog(
                    f"Mark {p.name} as an eval set anyway?",
                    f"{error}. Those mixture versions keep their items; new resolutions leave the pool out.",
                    "Mark anyway",
                ),
                lambda ok: self.run_engine(lambda: run(True), done, group="pool-op") if ok else None,
            )

        self.run_engine(run, done, refused, group="pool-op")

    def action_set_provenance(self) -> None:
        p = self._need_pool()
        if p is None:
            return
        from engine.data.pools import PROVENANCES, PoolError, check_provenance

        def validate(v: str) -> str | None:
            try:
                check_provenance(v)
            except PoolError as e:
                return str(e)
            return None

        def done(value: str | None) -> None:
            if not value:
                return
            store = self.store
            value = check_provenance(value)

            def run():
                from engine.data.pools import set_provenance

                return set_provenance(store, p.id, value)

            self._pool_op(run, lambda name: f"{name}: provenance {value}")

        self.app.push_screen(
            InputDialog(
                f"Provenance of pool {p.name}",
                "Provenance:",
                p.provenance,
                placeholder=", ".join(PROVENANCES),
                note="Where the data came from: written by people (human), generated by a model (synthetic), both "
                "(mixed), or unknown. A growth study can split its cells by it.",
                validate=validate,
                ok="Set provenance",
            ),
            done,
        )

    def palette_commands(self):
        """Context commands for the palette: browse any pool by name."""
        for p in self.pools:
            yield (f"Browse pool {p.name}", f"{p.n_samples:,} samples", lambda p=p: self.app.open_browse(pool_id=p.id))
