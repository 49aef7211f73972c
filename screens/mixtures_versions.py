"""The saved-versions actions of the Mixtures area: load, save, diff and export a mixture version."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable, Input, Select, Static


class SavedVersionsMixin:
    """Mixin of MixturesScreen: the actions on the saved versions list (`#m-saved`) and the recipe editor."""

    def _selected_version(self):
        t = self.query_one("#m-saved", DataTable)
        if not self.saved or t.cursor_row < 0:
            return None
        key = t.coordinate_to_cell_key((t.cursor_row, 0)).row_key.value
        return next((v for v in self.saved if str(v.id) == str(key)), None)

    def action_load(self) -> None:
        v = self._selected_version()
        if v is None:
            self.app.notify("no saved mixture to load", severity="warning")
            return
        r = v.recipe
        self.components = [type(c)(**vars(c)) for c in r.components]
        self.shares = {d: p * 100 for d, p in r.proportions.items()}
        self.stages, self.derived = r.stages, r.derived
        with self.prevent(Input.Changed, Select.Changed):
            self.query_one("#m-name", Input).value = v.name
            self.query_one("#m-budget", Input).value = "max" if r.budget is None else str(r.budget)
            self.query_one("#m-seed", Input).value = str(r.seed)
            self.query_one("#m-unit", Select).value = r.unit
            self.query_one("#m-repl", Select).value = "with" if r.replacement else "without"
            self.query_one("#m-short", Select).value = r.short
        self._show_components()
        self.resolution = None
        self._show_domains()
        self._status(f"loaded {v.label}")
        self.recompute(now=True)

    def action_save(self) -> None:
        name = self._value("#m-name")
        if not name:
            self.app.notify("type a name first (the name field)", severity="warning")
            self.query_one("#m-name", Input).focus()
            return
        try:
            recipe = self.current_recipe()
        except ValueError as e:
            self.app.notify(str(e), title="Cannot save", severity="error")
            return
        store = self.store

        def run():
            from engine.mixtures import MixtureError, get_mixture, save

            try:
                prev = get_mixture(store, name).id
            except MixtureError:
                prev = None
            mv = save(store, name, recipe)
            from engine.evaluation.evaluate import mixture_overlap_warnings

            return mv, mv.id == prev, mixture_overlap_warnings(store, mv.id)

        self.run_engine(
            run,
            self._saved,
            lambda e: self.app.notify(str(e), title="Cannot save", severity="error", timeout=10),
            group="m-save",
        )

    def _saved(self, out: tuple) -> None:
        mv, unchanged, overlap = out
        for w in overlap:
            self.app.notify(w, title=f"{mv.label}: overlap with eval data", severity="warning", timeout=10)
        msg = (
            f"{mv.label} unchanged (same recipe and items)"
            if unchanged
            else f"saved {mv.label}: {mv.n_items:,} items, {mv.n_tokens:,} tokens"
        )
        self.app.notify(msg, title="Mixture")
        self._status(msg)
        if self.query_one("#m-name", Input).has_focus:  # saved: area keys (6 Runs, ...) work again
            self.query_one("#m-domains").focus()
        self.load_saved()
        if not unchanged:
            self.app.data_changed("mixtures")  # type: ignore[attr-defined]

    def action_diff(self) -> None:
        v = self._selected_version()
        if v is None:
            self.app.notify("highlight a saved version in the left list", severity="warning")
            return
        if v.version <= 1:
            self.app.notify(f"{v.label} is the first version: nothing to diff with", severity="warning")
            return
        store = self.store

        def run():
            from engine.mixtures import diff

            return diff(store, v.name, v.version - 1, v.version)

        self.run_engine(run, self._show_diff, group="m-diff")

    def _show_diff(self, d: dict) -> None:
        t = Text()
        t.append(f"diff {d['name']} v{d['v1']} → v{d['v2']}\n", style="bold")
        if d["same"]:
            t.append("identical\n")
        t.append(
            f"items {d['n_items'][0]:,} → {d['n_items'][1]:,} · tokens {d['n_tokens'][0]:,} → {d['n_tokens'][1]:,}\n"
        )
        for k, v in d["recipe"].items():
            t.append(f"  {k}: {v['old']} → {v['new']}\n", style="cyan")
        if not d["recipe"]:
            t.append("  recipe unchanged (the data changed)\n", style="dim")
        for dom, c in d["domains"].items():
            t.append(f"  {dom}: +{c['added']:,} −{c['removed']:,} ={c['kept']:,}\n")
        self.query_one("#m-summary", Static).update(t)
        self._status(f"diff v{d['v1']} → v{d['v2']} shown on the right; any edit shows the live summary again")

    def action_export(self) -> None:
        from screens.widgets import InputDialog

        v = self._selected_version()
        if v is None:
            self.app.notify("highlight a saved version in the left list (ctrl+s saves one)", severity="warning")
            return
        store = self.store
        default = f"exports/{v.name.replace('/', '_')}_v{v.version}.jsonl alpaca"

        def done(text: str | None) -> None:
            if not text:
                return
            path, _, style = text.strip().rpartition(" ")
            if not path:
                path, style = style, "messages"
            if style not in ("messages", "alpaca", "sharegpt"):
                path, style = text.strip(), "messages"

            def run():
                from pathlib import Path

                from engine.mixtures import export_mixture

                p = Path(path).expanduser()
                return export_mixture(
                    store, v.id, p, style=style, dataset_info=p.parent, skip_mixup=True, overwrite=True
                )

            self.run_engine(
                run,
                lambda r: self.app.notify(
                    f"wrote {r.n:,} records to {', '.join(r.paths)}"
                    + (
                        f"; left out {r.n_skipped_mixup:,} mixup items (workbench interpolate export-pairs)"
                        if r.n_skipped_mixup
                        else ""
                    )
                    + f"; dataset_info {r.dataset_info_path}",
                    title="Export",
                    timeout=10,
                ),
                group="m-export",
            )

        self.app.push_screen(
            InputDialog(
                f"Export {v.label}",
                "path and style (messages, alpaca, sharegpt):",
                default,
                note="one record per item in training order; one file per stage; a "
                "LLaMA-Factory dataset_info.json entry is merged next to the file",
                ok="Export",
            ),
            done,
        )
