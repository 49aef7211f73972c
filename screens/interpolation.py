"""The Interpolation area (MDIT task interpolation): interpolation sets, their pairs, a pair preview (both samples,
lam, the nearest real samples to the mix), where the mixes fall on a cluster map and how much coverage they add,
the diversity step, a create dialog and the pairs export."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Markdown, Static
from textual_plotext import PlotextPlot

from screens.interpolation_dialogs import CreateSetDialog, DiversityDialog
from screens.job_panel import JobPanel, JobScreen
from screens.widgets import NavTable, WorkbenchScreen

MAX_MAP_POINTS = 3000
MAX_PAIR_ROWS = 2000  # the pairs table shows the first ones (the export and the CLI have all)
# Default model of the diversity dialog's embedding-layer features (a spec for engine.core.models; None = the scorer
# default). The features are computed in a child process (engine.synthesis.worker).
FEATURE_MODEL: str | None = None

EMPTY_TEXT = """\
## No interpolation set yet

**MDIT task interpolation** makes new training points without any external model: for a sample of task A and a
sample of task B it mixes the model's own input embeddings, `lam*E[a] + (1-lam)*E[b]`, and trains on
`lam*CE(a) + (1-lam)*CE(b)` with `lam ~ Beta(alpha, alpha)` per pair. A set stores which samples are paired
and their lam; a mixture takes its kept pairs as a component (kind `interpolation`).

**Here:** press `n` to create a set (two sources such as `domain:math` and `domain:code`), then `s` for the
diversity step, `m` to see where the mixes fall on a cluster map.
**From the command line:** `workbench interpolate create NAME --a domain:math --b domain:code --pairs 200`.
Pairing rules, length alignment and the diversity step's features and pick rule are ours where the paper is
silent: see docs/interpolation.md.
"""


def _short(text: str | None, n: int) -> str:
    t = (text or "").replace("\n", " ")
    return t[:n] + ("…" if len(t) > n else "")


class InterpolationScreen(JobScreen, WorkbenchScreen, mode="interpolation"):
    """Interpolation (MDIT): the sets table (sources, alpha, pairs, kept, pairing); the pairs of the highlighted
    set (both samples, their domains, lam, kept, cluster of the diversity step); the preview of the highlighted
    pair (both samples, lam, the nearest real samples to lam*e_a + (1-lam)*e_b by sentence-embedding cosine);
    the map of a clustering with the mixes projected onto it and the clusters they add to the coverage.
    `n` creates a set, `s` runs the diversity step, `m` picks the map's clustering, `o` exports the pairs as a
    table (embedding mixtures have no text form), `d` deletes a set, `c` cancels a feature job."""

    JOB_PANEL = "i-jobbar"

    DEFAULT_CSS = """
    #i-info { height: 1; padding: 0 1; margin: 1 0 0 0; color: $text-muted; }
    #i-empty { height: 1fr; padding: 0 2; }
    #i-main { height: 1fr; }
    #i-left { width: 1fr; height: 1fr; }
    #i-sets { height: 7; }
    #i-pairs { height: 1fr; }
    #i-map { width: 46; height: 1fr; }
    #i-preview { height: 9; padding: 0 1; border-top: solid $panel; }
    #i-cov { height: 1; padding: 0 1; color: $text-muted; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.sets: list[Any] = []  # engine.synthesis.interpolation.InterpSet
        self.set_name: str | None = None
        self.pairs: list[Any] = []  # engine.synthesis.interpolation.Pair of the highlighted set
        self.pair_index: int | None = None
        self.preview: Any = None  # engine.synthesis.interpolation.PairPreview
        self.clustering: str | None = None  # the map's clustering
        self.clusterings: list[str] = []
        self.has_embeddings = False
        self.coverage: Any = None  # engine.synthesis.interpolation.Coverage
        self.map_points: dict | None = None

    def compose(self) -> ComposeResult:
        yield from self.compose_header()
        yield Static("", id="i-info")
        yield Markdown(EMPTY_TEXT, id="i-empty")
        with Horizontal(id="i-main"):
            with Vertical(id="i-left"):
                yield NavTable(id="i-sets", cursor_type="row", zebra_stripes=True)
                yield NavTable(id="i-pairs", cursor_type="row", zebra_stripes=True)
            yield PlotextPlot(id="i-map")
        yield Static("", id="i-preview")
        yield Static("", id="i-cov")
        yield JobPanel(
            "n: new set · s: diversity step · m: map · o: export pairs",
            status_id="i-job",
            progress_id="i-progress",
            show_eta=False,
            ellipsis=True,
            id="i-jobbar",
        )
        yield from self.compose_footer()

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#i-empty").display = False
        t = self.query_one("#i-sets", DataTable)
        for key, label, w in (
            ("name", "set", 14),
            ("a", "source A", 16),
            ("b", "source B", 16),
            ("alpha", "alpha", 6),
            ("pairs", "pairs", 6),
            ("kept", "kept", 6),
            ("pairing", "pairing", 8),
        ):
            t.add_column(label, key=key, width=w)
        p = self.query_one("#i-pairs", DataTable)
        for key, label, w in (
            ("pair", "pair", 5),
            ("lam", "lam", 5),
            ("kept", "kept", 4),
            ("cl", "cl", 3),
            ("da", "A domain", 8),
            ("ia", "A instruction", 22),
            ("db", "B domain", 8),
            ("ib", "B instruction", 22),
        ):
            p.add_column(label, key=key, width=w)
        t.focus()

    # -- loading -----------------------------------------------------------------------------------------
    def on_data_changed(self, what: str) -> None:
        if what == "error" or self.store is None:
            return
        store = self.store

        def load():
            from engine.geometry.clusters import list_clusterings
            from engine.geometry.embeddings import embedding_sets
            from engine.synthesis.interpolation import list_sets

            return list_sets(store), [c.name for c in list_clusterings(store)], bool(embedding_sets(store))

        self.run_engine(load, self._sets_loaded, group="i-list", exclusive=True)

    def _sets_loaded(self, res: tuple) -> None:
        from engine.synthesis.interpolation import source_label

        self.sets, self.clusterings, self.has_embeddings = res
        if self.clustering not in self.clusterings:
            self.clustering = self.clusterings[-1] if self.clusterings else None
        names = [s.name for s in self.sets]
        empty = not names
        self.query_one("#i-empty").display = empty
        for wid in ("#i-main", "#i-preview", "#i-cov"):
            self.query_one(wid).display = not empty
        t = self.query_one("#i-sets", DataTable)
        t.clear()
        for s in self.sets:
            t.add_row(
                s.name,
                source_label(s.source_a),
                source_label(s.source_b),
                f"{s.alpha:g}",
                str(s.n_pairs),
                str(s.n_kept),
                s.pairing,
                key=s.name,
            )
        if empty:
            self.set_name = None
            self.query_one("#i-info", Static).update("")
            return
        if self.set_name not in names:
            self.set_name = names[-1]
        t.move_cursor(row=names.index(self.set_name))
        self.load_set()

    def load_set(self) -> None:
        """Pairs of the highlighted set, then the coverage map."""
        store, name = self.store, self.set_name
        if store is None or name is None:
            return

        def load():
            from engine.synthesis.interpolation import get_set, pairs

            return get_set(store, name), pairs(store, name, limit=MAX_PAIR_ROWS)

        self.run_engine(load, self._set_loaded, group="i-set", exclusive=True)
        self.load_coverage()

    def _set_loaded(self, res: tuple) -> None:
        s, rows = res
        if s.name != self.set_name:
            return
        self.pairs = rows
        div = s.params.get("diversity")
        bits = [
            f"{s.name}: {s.n_pairs} pairs, {s.n_kept} kept",
            f"alpha {s.alpha:g}",
            f"{s.pairing} pairing",
            f"seed {s.seed}",
        ]
        bits.append(
            f"diversity: budget {div['budget']}, k {div['k']}, {div['features']}"
            if div
            else "no diversity step yet (s): every pair is kept"
        )
        if s.n_pairs > len(rows):
            bits.append(f"table: first {len(rows):,} pairs (o exports all)")
        self.query_one("#i-info", Static).update(Text(" · ".join(bits), no_wrap=True, overflow="ellipsis"))
        t = self.query_one("#i-pairs", DataTable)
        before = self.pair_index
        t.clear()
        for p in rows:
            t.add_row(
                str(p.pair_index),
                f"{p.lam:.2f}",
                "yes" if p.kept else "no",
                "" if p.cluster is None else str(p.cluster),
                p.domain_a or "?",
                _short(p.instruction_a, 40),
                p.domain_b or "?",
                _short(p.instruction_b, 40),
                key=str(p.pair_index),
            )
        idx = [p.pair_index for p in rows]
        if rows:
            t.move_cursor(row=idx.index(before) if before in idx else 0)
            self.pair_index = rows[t.cursor_row].pair_index
            self.load_preview()

    def load_preview(self) -> None:
        store, name, idx = self.store, self.set_name, self.pair_index
        if store is None or name is None or idx is None:
            return

        def load():
            from engine.synthesis.interpolation import InterpolationError, preview_pair

            try:
                return preview_pair(store, name, idx, k=4)
            except InterpolationError as e:  # e.g. no sentence embeddings: show the pair without neighbours
                return str(e)

        self.run_engine(load, lambda pv: self._show_preview(name, idx, pv), group="i-preview", exclusive=True)

    def _show_preview(self, name: str, idx: int, pv: Any) -> None:
        if name != self.set_name or idx != self.pair_index:
            return
        out = Text(no_wrap=False)
        if isinstance(pv, str):
            p = next((p for p in self.pairs if p.pair_index == idx), None)
            self.preview = None
            if p is not None:
                out.append(f"pair {idx} · lam {p.lam:.3f}\n", style="bold")
                out.append(f"A #{p.sample_a} ({p.domain_a}): {_short(p.instruction_a, 100)}\n")
                out.append(f"B #{p.sample_b} ({p.domain_b}): {_short(p.instruction_b, 100)}\n")
            out.append(f"nearest real samples: {pv}", style="dim")
            self.query_one("#i-preview", Static).update(out)
            return
        self.preview = pv
        out.append(f"pair {pv.pair_index}", style="bold")
        out.append(f" · lam {pv.lam:.3f} (weight of A) · {'kept' if pv.kept else 'not kept'}")
        if pv.why:
            out.append(f" · {_short(pv.why, 90)}", style="dim")
        out.append("\n")
        for tag, s, cos in (("A", pv.a, pv.cos_a), ("B", pv.b, pv.cos_b)):
            out.append(f"{tag} #{s['sample_id']} ({s['domain']})", style="bold")
            if cos is not None:
                out.append(f" cos {cos:.2f}", style="dim")
            out.append(f": {_short(s['instruction'], 70)} → {_short(s['response'], 30)}\n")
        out.append(f"nearest real samples to the mix ({pv.embedding}):\n", style="dim")
        if not pv.nearest:
            out.append("  none: a sample of the pair has no sentence embedding (Clusters: e embeds)\n", style="dim")
        for n in pv.nearest:
            out.append(f"  {n.cosine:.3f} #{n.sample_id} ({n.domain}) {_short(n.instruction, 80)}\n")
        self.query_one("#i-preview", Static).update(out)

    def load_coverage(self) -> None:
        store, name, cl = self.store, self.set_name, self.clustering
        if store is None or name is None:
            return
        if cl is None:
            self.coverage, self.map_points = None, None
            self._cov_text(self.coverage_text())
            self._draw_map()
            return

        def load():
            import numpy as np

            from engine.geometry.clusters import map_points
            from engine.synthesis.interpolation import InterpolationError, coverage

            try:
                cov = coverage(store, name, cl, kept_only=True)
            except InterpolationError as e:
                return str(e), None
            _ids, labels, x, y = map_points(store, cl)
            if len(x) > MAX_MAP_POINTS:
                pick = np.sort(np.random.default_rng(0).choice(len(x), MAX_MAP_POINTS, replace=False))
                labels, x, y = labels[pick], x[pick], y[pick]
            return cov, {"x": x, "y": y, "clusters": labels}

        self.run_engine(load, lambda r: self._coverage_loaded(name, cl, r), group="i-cov", exclusive=True)

    def _coverage_loaded(self, name: str, cl: str, res: tuple) -> None:
        if name != self.set_name or cl != self.clustering:
            return
        cov, pts = res
        if isinstance(cov, str):
            self.coverage, self.map_points = None, None
            self._cov_text(f"map: {cov}")
        else:
            self.coverage, self.map_points = cov, pts
            self._cov_text(self.coverage_text())
        self._draw_map()

    def _cov_text(self, text: str) -> None:
        self.query_one("#i-cov", Static).update(Text(text, no_wrap=True, overflow="ellipsis"))

    def coverage_text(self) -> str:
        cv = self.coverage
        if cv is None:
            return "no map: cluster the embeddings first (Clusters), then m picks the clustering"
        return (
            f"coverage on {cv.clustering}: {cv.covered_originals}/{cv.n_clusters} clusters by the pairs' samples, "
            f"{cv.covered_with_mixes}/{cv.n_clusters} with the kept mixes (+{len(cv.new_clusters)}) · "
            f"{cv.n_mixes_noise} mixes in noise" + (f" · {cv.n_unplaced} unplaced" if cv.n_unplaced else "")
        )

    def _draw_map(self) -> None:
        plot = self.query_one("#i-map", PlotextPlot)
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        cv, pts = self.coverage, self.map_points
        if cv is None or pts is None:
            plt.title("map: no clustering (m picks one)")
            plot.refresh()
            return
        plt.scatter(pts["x"].tolist(), pts["y"].tolist(), marker="·", color="gray", label="samples")
        mx, my = cv.x, cv.y
        if len(mx) > MAX_MAP_POINTS:  # a fixed sample of the mixes (the title says so)
            import numpy as np

            pick = np.sort(np.random.default_rng(1).choice(len(mx), MAX_MAP_POINTS, replace=False))
            mx, my = mx[pick], my[pick]
        if len(mx):
            plt.scatter(mx.tolist(), my.tolist(), marker="x", color="red", label="mixes (projected)")
        sel = [j for j, i in enumerate(cv.pair_index.tolist()) if i == self.pair_index]
        if sel:
            plt.scatter([float(cv.x[sel[0]])], [float(cv.y[sel[0]])], marker="●", color="yellow", style="bold")
        shown = f"{len(mx):,} of {cv.n_mixes:,}" if len(mx) < cv.n_mixes else f"{cv.n_mixes:,}"
        plt.title(f"{cv.clustering} · {shown} kept mixes projected")
        plt.xticks([])
        plt.yticks([])
        plot.refresh()

    # -- events ------------------------------------------------------------------------------------------
    @on(DataTable.RowHighlighted, "#i-sets")
    def _set_row(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is None or event.row_key.value is None:
            return
        if event.row_key.value != self.set_name:
            self.set_name = str(event.row_key.value)
            self.pair_index = None
            self.load_set()

    @on(DataTable.RowHighlighted, "#i-pairs")
    def _pair_row(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is None or event.row_key.value is None:
            return
        k = int(event.row_key.value)
        if k != self.pair_index:
            self.pair_index = k
            self.load_preview()
            self._draw_map()

    @on(DataTable.RowSelected, "#i-sets")
    def _set_selected(self, _event) -> None:
        self.query_one("#i-pairs", DataTable).focus()

    # -- actions -----------------------------------------------------------------------------------------
    def action_refresh(self) -> None:
        self.on_data_changed("interpolation")

    def action_new_set(self) -> None:
        if self.store is None:
            return
        store = self.store

        f = getattr(self.app, "current_filter", None)

        def hint():
            from engine.data.pools import list_pools
            from engine.data.scope import domain_counts, eval_pools, left_out_words, scope_choices

            doms = domain_counts(store)  # training samples, not excluded: what a source can draw
            evals = eval_pools(store)
            pools = [p.name for p in list_pools(store) if p.id not in evals]
            out = left_out_words(store)
            text = (
                f"domains: {', '.join(f'{d} ({n})' for d, n in sorted(doms.items()))}\n"
                + (f"left out of every source: {out}\n" if out else "")
                + f"pools: {', '.join(pools)}\nsources: domain:D, pool:NAME, cluster:CLUSTERING:k, selection:NAME"
            )
            return text, sorted(doms, key=lambda d: -doms[d])[:2], scope_choices(store, f)

        def show(found) -> None:
            text, top, choices = found
            taken = {s.name for s in self.sets}
            defaults = {}
            if len(top) == 2:  # real values to start from (placeholders alone read like values that are not there)
                name = f"{top[0]}-{top[1]}"
                defaults = {"a": f"domain:{top[0]}", "b": f"domain:{top[1]}", "name": "" if name in taken else name}
            self.app.push_screen(CreateSetDialog(taken, text, defaults, choices), self._create)

        self.run_engine(hint, show, group="i-hint")

    def _create(self, v: dict | None) -> None:
        if not v:
            return
        store = self.store

        def run():
            from engine.synthesis.interpolation import create_set

            return create_set(
                store,
                v["name"],
                v["a"],
                v["b"],
                alpha=v["alpha"],
                n_pairs=v["n_pairs"],
                pairing=v["pairing"],
                seed=v["seed"],
                allow_same_task=v["allow_same_task"],
                scope=v.get("scope"),
            )

        def done(s) -> None:
            self.set_name = s.name
            self.pair_index = None
            within = f" · sources within {v['scope_words']}" if v.get("scope_words") else ""
            self.panel.set_text(f"created {s.name}: {s.n_pairs} pairs ({s.pairing}){within}")
            self.app.data_changed("interpolation")  # type: ignore[attr-defined]

        self.panel.set_text(f"creating {v['name']}…")
        self.run_engine(run, done, self._failed("create"), group="i-job")

    def _failed(self, what: str):
        def fail(error: BaseException) -> None:
            self.app.notify(f"{error}", title=f"Interpolation: {what}", severity="error", timeout=15)
            self.panel.finish(f"{what} failed: {error}", "failed")

        return fail

    def action_select_diverse(self) -> None:
        if self.store is None or self.set_name is None:
            self.app.notify("no set: n creates one", severity="warning")
            return
        if self.job is not None:
            self.app.notify("a feature job is running; c cancels it", severity="warning")
            return
        s = next(s for s in self.sets if s.name == self.set_name)
        self.app.push_screen(
            DiversityDialog(s.n_pairs, self.has_embeddings, model=FEATURE_MODEL), lambda v: self._select(s.name, v)
        )

    def _select(self, name: str, v: dict | None) -> None:
        if not v:
            return
        store = self.store
        if v["features"] == "sentence":

            def run():
                from engine.synthesis.interpolation import select_diverse

                return select_diverse(store, name, budget=v["budget"], k=v["k"], features="sentence")

            self.panel.set_text("diversity step (sentence embeddings)…")
            self.run_engine(run, self._selected, self._failed("diversity step"), group="i-job")
            return
        # embedding-layer features: the model is loaded in a child process (torch stays out of the app)
        model = v.get("model")

        def prepare(_progress, _token):
            from engine.synthesis import worker as interp_worker

            folder = interp_worker.features_folder(store, name)
            n = interp_worker.prepare(store, name, folder, model=model)
            return folder, n, interp_worker.start(folder)

        def started(res) -> None:
            folder, n, proc = res
            self.panel.start(
                "features",
                f"features: loading the model for {n:,} samples… · c cancels",
                total=n,
                proc=proc,
                folder=folder,
                name=name,
                v=v,
            )
            self.panel.poll(0.3, self._poll_job)

        self.panel.run(
            "features", prepare, started, self._failed("features"), text="features: preparing…", group="i-job"
        )

    def _poll_job(self) -> None:
        job = self.job
        if job is None or job.proc is None or job.timer is None:
            return
        from engine.synthesis import worker as interp_worker

        st = interp_worker.read_status(job.data["folder"])
        if st.get("total"):
            self.panel.progress(
                st.get("done", 0),
                st["total"],
                f"features: {st.get('state')} {st.get('done', 0):,}/{st['total']:,} · c cancels",
            )
        if job.proc.poll() is None:
            return
        job.timer.stop()
        job.timer = None
        if st.get("state") != "done":
            err = st.get("error") or st.get("state") or "the worker stopped"
            self.app.notify(str(err), title="Interpolation: features", severity="error", timeout=15)
            cancelled = st.get("state") == "cancelled"
            self.panel.finish(
                f"features {'cancelled' if cancelled else 'failed'}: {err}", "cancelled" if cancelled else "failed"
            )
            return
        store, name, v, folder = self.store, job.data["name"], job.data["v"], job.data["folder"]

        def run():
            from engine.synthesis.interpolation import select_diverse

            return select_diverse(
                store,
                name,
                budget=v["budget"],
                k=v["k"],
                features="embedding_layer",
                vectors=interp_worker.load_result(folder),
            )

        self.panel.set_text("diversity step: K-Means…")
        self.run_engine(run, self._selected, self._failed("diversity step"), group="i-job")

    def _selected(self, r) -> None:
        self.panel.finish(f"kept {r.n_kept} of {r.n_pairs} mixes · k {r.k} · {r.features} · {r.seconds:.1f}s")
        self.app.data_changed("interpolation")  # type: ignore[attr-defined]

    def action_cancel_job(self) -> None:
        job = self.job
        if job is None or job.proc is None:
            self.app.notify("no job is running")
            return
        self.panel.cancel("features: cancelling…")

    def action_pick_map(self) -> None:
        if not self.clusterings:
            self.app.notify("no clustering yet: embed and cluster in Clusters (4) first", severity="warning")
            return
        from screens.widgets import ChoiceDialog

        def chosen(name: str | None) -> None:
            if name:
                self.clustering = name
                self.load_coverage()

        self.app.push_screen(
            ChoiceDialog("Map: which clustering?", [(c, c) for c in self.clusterings], self.clustering), chosen
        )

    def action_export_pairs(self) -> None:
        if self.set_name is None:
            self.app.notify("no set to export", severity="warning")
            return
        from screens.widgets import InputDialog

        name, store = self.set_name, self.store

        def chosen(path: str | None) -> None:
            if not path:
                return

            def run():
                from engine.synthesis.interpolation import export_pairs

                return export_pairs(store, name, path)

            self.run_engine(
                run,
                lambda n: self.panel.set_text(f"wrote {n} pairs of {name} to {path}"),
                self._failed("export"),
                group="i-export",
            )

        def validate(text: str) -> str | None:
            return (
                None
                if text.lower().endswith((".csv", ".parquet", ".jsonl"))
                else "the table is written as .csv, .parquet or .jsonl"
            )

        self.app.push_screen(
            InputDialog(
                "Export pairs",
                "file (.csv, .parquet or .jsonl):",
                f"{name}-pairs.csv",
                note="An interpolation set has no text form: MDIT mixes input embeddings at training time. This "
                "writes the pairs (sample ids, lam, kept, cluster, both instructions) as a table.",
                validate=validate,
                ok="Export",
            ),
            chosen,
        )

    def action_delete_set(self) -> None:
        if self.set_name is None:
            return
        from screens.widgets import ConfirmDialog

        name, store = self.set_name, self.store

        def confirmed(ok) -> None:
            if not ok:
                return

            def run():
                from engine.synthesis.interpolation import delete_set

                delete_set(store, name)
                return name

            def done(_n) -> None:
                self.set_name = None
                self.panel.set_text(f"deleted {name}")
                self.app.data_changed("interpolation")  # type: ignore[attr-defined]

            self.run_engine(run, done, self._failed("delete"), group="i-job")

        self.app.push_screen(
            ConfirmDialog("Delete set", f"Delete interpolation set {name!r} and its pairs?", "Delete", danger=True),
            confirmed,
        )

    def palette_commands(self):
        for s in self.sets:
            yield (
                f"Interpolation: show {s.name}",
                f"{s.n_pairs} pairs, {s.n_kept} kept",
                lambda n=s.name: self._show_set(n),
            )

    def _show_set(self, name: str) -> None:
        names = [s.name for s in self.sets]
        if name in names:
            self.query_one("#i-sets", DataTable).move_cursor(row=names.index(name))
