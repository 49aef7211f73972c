"""The Clusters area: a saved clustering's clusters (noise included), a 2-D map, the highlighted cluster's
representative and the clustering's diversity, jumps to Browse, and the embed / assign / cluster jobs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import DataTable, Label, Markdown, Select, Static
from textual_plotext import PlotextPlot

from engine.core.errors import Cancelled
from screens.clusters_common import (
    cluster_color,
    cluster_expression,
    region_expression,  # noqa: F401 - re-exported
    rich_cluster_color,
)
from screens.clusters_dialogs import DedupDialog, RegionScreen
from screens.job_panel import JobPanel, JobScreen
from screens.scope_dialog import ask_scope, load_choices
from screens.widgets import NavTable, WorkbenchScreen

NOISE = -1
MAX_MAP_POINTS = 4000  # more points than this are sampled (deterministically) for the map
DEFAULT_TEXT_KIND = "instruction_response"

# Encoder used by `e` instead of loading the sentence-transformers model (tests set a deterministic fake;
# None: engine.geometry.embeddings.load_encoder for the clustering's model).
ENCODER: Callable[[list[str]], Any] | None = None

EMPTY_TEXT = """\
## No clustering yet

A clustering groups the samples by meaning: their embeddings are reduced with PCA and clustered with
HDBSCAN; samples that fit no cluster are **noise** (shown as their own row).

**From the command line:** `workbench embed` embeds every sample (all-MiniLM-L6-v2, offline; cached per
text, only new samples are embedded), then `workbench cluster NAME` saves a clustering named NAME.

**Here:** press `e` to embed the samples that have no embedding yet, then `k` to cluster them into a new
named clustering. `ctrl+r` reloads.
"""


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _domains(d: dict[str, int]) -> str:
    total = sum(d.values()) or 1
    parts = [f"{k} {100 * v / total:.0f}%" for k, v in sorted(d.items(), key=lambda kv: (-kv[1], kv[0]))]
    return ", ".join(parts[:3]) + (" …" if len(parts) > 3 else "")


def _list_clusterings(store) -> list[Any]:
    from engine.geometry.clusters import list_clusterings

    return list_clusterings(store)


class ClustersScreen(JobScreen, WorkbenchScreen, mode="clusters"):
    """Clusters: pick a saved clustering; the table lists its clusters (noise as its own row) with size,
    share, top keywords (c-TF-IDF), domain mix and mean IFD when scored. The map is the 2-D projection of
    the samples coloured by cluster, the highlighted cluster drawn bold on top (sampled when there are many
    points: the title says so). Below: the highlighted cluster's representative sample and the clustering's
    diversity (entropy, coverage, mean pairwise cosine distance). `enter` or `b` opens Browse on the
    highlighted cluster (`cluster.NAME = k`); `r` selects a rectangle of the map (moved and resized with
    keys, or typed ranges) and opens Browse on it (`map.NAME.x BETWEEN .. AND map.NAME.y BETWEEN ..`).
    `u` keeps one sample per duplicate group (exact, semantic or MinHash; the others are excluded, never
    deleted). `e` embeds the samples without an embedding, `n` assigns newly embedded samples to the
    existing clusters (no re-clustering), `k` saves a new clustering, `c` cancels. `e`, `k` and `u` work on the
    last Browse filter (said in words first, with a switch to every training sample); eval pools and excluded
    samples stay out unless the filter names the pool. Eval-pool members of a clustering made with them are
    counted apart in the domain mix ("math (eval)")."""

    JOB_PANEL = "c-jobbar"

    DEFAULT_CSS = """
    #c-controls { height: 1; padding: 0 1; margin: 1 0 0 0; }
    #c-controls Select { width: 40; }
    #c-controls Label { padding: 0 1; }
    #c-info { height: 1; padding: 0 1; color: $text-muted; }
    #c-empty { height: 1fr; padding: 0 2; }
    #c-main { height: 1fr; }
    #c-table { width: 1fr; height: 1fr; }
    #c-map { width: 44; height: 1fr; }
    #c-detail { height: 7; padding: 0 1; border-top: solid $panel; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.clusterings: list[Any] = []  # engine.geometry.clusters.ClusteringInfo
        self.clustering: str | None = None  # the picked clustering's name
        self.info: Any = None  # its ClusteringInfo
        self.clusters: list[Any] = []  # engine.geometry.clusters.ClusterInfo, noise first
        self.metrics: list[str] = []
        self.points: dict | None = None  # {"clusters", "x", "y", "domains", "n_total", "sampled"}
        self.n_pending = 0  # embedded (same model/kind) but not in the clustering
        self.div: Any = None  # engine.geometry.clusters.DiversityInfo
        self.highlighted: int | None = None
        self.colour_by = "cluster"  # or "domain" (key d)

    def compose(self) -> ComposeResult:
        yield from self.compose_header()
        with Horizontal(id="c-controls"):
            yield Label("clustering")
            yield Select([], prompt="no clustering yet", allow_blank=True, id="c-pick", compact=True)
        yield Static("", id="c-info")
        yield Markdown(EMPTY_TEXT, id="c-empty")
        with Horizontal(id="c-main"):
            yield NavTable(id="c-table", cursor_type="row", zebra_stripes=True)
            yield PlotextPlot(id="c-map")
        yield Static("", id="c-detail")
        yield JobPanel(
            "e: embed missing samples · n: assign new ones · k: new clustering · r: map region · u: dedup",
            status_id="c-job",
            progress_id="c-progress",
            id="c-jobbar",
        )
        yield from self.compose_footer()

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#c-empty").display = False
        self.query_one("#c-table").focus()

    # -- loading -----------------------------------------------------------------------------------------
    def on_data_changed(self, what: str) -> None:
        self.load_from_store(what, _list_clusterings, self._clusterings_loaded, "c-list")

    def _clusterings_loaded(self, infos: list[Any]) -> None:
        self.clusterings = list(infos)
        names = [c.name for c in infos]
        sel = self.query_one("#c-pick", Select)
        with self.prevent(Select.Changed):
            sel.set_options([(f"{c.name} · {c.n_clusters} clusters · {c.n_samples:,} samples", c.name) for c in infos])
            if self.clustering not in names:
                self.clustering = names[-1] if names else None  # the newest
            if self.clustering is not None:
                sel.value = self.clustering
        empty = not names
        self.query_one("#c-empty").display = empty
        for wid in ("#c-main", "#c-detail"):
            self.query_one(wid).display = not empty
        if empty:
            self.info = None
            self.query_one("#c-info", Static).update("")
            return
        self.load_clustering()

    def load_clustering(self) -> None:
        """Summary, map points and pending count of the picked clustering (worker), then its diversity."""
        store, name = self.store, self.clustering
        if store is None or name is None:
            return

        def load():
            import numpy as np

            from engine.data.query import score_metrics
            from engine.geometry.clusters import cluster_summary, clustering_scope, get_clustering, map_points
            from engine.geometry.embeddings import embedded_ids

            info = get_clustering(store, name)
            metrics = [m for m in ("ifd",) if m in score_metrics(store)]
            summary = cluster_summary(store, name, metrics=metrics, n_keywords=6)
            ids, labels, x, y, domains = map_points(store, name, with_domains=True)
            n_total = len(ids)
            full = {"all_clusters": labels, "all_x": x, "all_y": y}  # every point: exact region counts
            if n_total > MAX_MAP_POINTS:
                pick = np.sort(np.random.default_rng(0).choice(n_total, MAX_MAP_POINTS, replace=False))
                labels, x, y, domains = labels[pick], x[pick], y[pick], domains[pick]
            emb = embedded_ids(store, model=info.model, text_kind=info.text_kind, scope=clustering_scope(info.params))
            pending = int(len(np.setdiff1d(emb, ids)))
            points = {
                "clusters": labels,
                "x": x,
                "y": y,
                "domains": domains,
                "n_total": n_total,
                "sampled": n_total > MAX_MAP_POINTS,
                **full,
            }
            return info, metrics, summary, points, pending

        self.run_engine(load, self._show_clustering, group="c-load", exclusive=True)

        def div():
            from engine.geometry.clusters import diversity

            return diversity(store, name)

        self.div = None
        self.run_engine(div, self._show_diversity, group="c-div", exclusive=True)

    def _show_clustering(self, res: tuple) -> None:
        info, metrics, summary, points, pending = res
        if info.name != self.clustering:
            return
        self.info, self.metrics, self.clusters, self.points, self.n_pending = info, metrics, summary, points, pending
        p = info.params
        bits = [f"{info.model} · {info.text_kind}", f"pca {p.get('pca_dims', '?')}"]
        if p.get("min_cluster_size") is not None:
            bits.append(f"min cluster size {p['min_cluster_size']}")
        res = p.get("result", {})
        if res.get("n_predicted"):
            bits.append(f"HDBSCAN fitted on {res['n_fit']:,}, {res['n_predicted']:,} placed by approximate_predict")
        bits.append(f"{info.n_samples:,} samples, {info.n_clusters} clusters, {info.n_noise:,} noise")
        if info.n_assigned_later:
            bits.append(f"{info.n_assigned_later:,} assigned later")
        if pending:
            bits.append(f"{pending:,} embedded not assigned: n assigns")
        self.query_one("#c-info", Static).update(Text(" · ".join(bits), no_wrap=True, overflow="ellipsis"))

        t = self.query_one("#c-table", DataTable)
        row_before = t.cursor_row
        t.clear(columns=True)
        cols = [
            ("cluster", "cluster", 7),
            ("size", "size", 6),
            ("share", "share", 6),
            ("keywords", "keywords", 22),
            ("domains", "domains", 14),
        ] + [(m, f"mean {m}", 8) for m in metrics]
        for key, label, width in cols:
            t.add_column(label, key=key, width=width)
        for c in summary:
            label = (
                Text("noise", style="italic dim")
                if c.cluster < 0
                else Text(str(c.cluster), style=rich_cluster_color(c.cluster))
            )
            kw = "(no topic)" if c.cluster < 0 else " ".join(c.keywords)
            row = [label, f"{c.size:,}", _pct(c.share), kw, _domains(c.domains)]
            for m in metrics:
                v = c.scores.get(m)
                row.append("-" if v is None else f"{v:.3f}")
            t.add_row(*row, key=str(c.cluster))
        if t.row_count:
            keys = [c.cluster for c in summary]
            if self.highlighted in keys:
                t.move_cursor(row=keys.index(self.highlighted))
            elif 0 <= row_before < t.row_count:
                t.move_cursor(row=row_before)
            self.highlighted = summary[t.cursor_row].cluster
        self._draw_map()
        self._show_detail()

    def _show_diversity(self, div: Any) -> None:
        self.div = div
        self._show_detail()

    # -- drawing -----------------------------------------------------------------------------------------
    def _draw_map(self) -> None:
        plot = self.query_one("#c-map", PlotextPlot)
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        pts = self.points
        if not pts or not len(pts["x"]):
            plt.title("map: no points")
            plot.refresh()
            return
        labels, x, y = pts["clusters"], pts["x"], pts["y"]
        hl = self.highlighted
        if self.colour_by == "domain":
            doms = pts["domains"]
            for k, d in enumerate(sorted(set(doms.tolist()))):
                m = doms == d
                plt.scatter(x[m].tolist(), y[m].tolist(), marker="·", color=cluster_color(k), label=str(d))
            if hl is not None and (labels == hl).any():
                m = labels == hl
                plt.scatter(x[m].tolist(), y[m].tolist(), marker="●", color="white", style="bold")
        else:
            order = sorted(set(int(k) for k in labels.tolist()))
            # noise first (underneath), the highlighted cluster last (on top)
            order = [k for k in order if k != hl] + ([hl] if hl in order else [])
            for k in order:
                m = labels == k
                xs, ys = x[m].tolist(), y[m].tolist()
                if k == hl:
                    plt.scatter(xs, ys, marker="●", color=cluster_color(k) if k >= 0 else "white", style="bold")
                else:
                    plt.scatter(xs, ys, marker="·", color=cluster_color(k))
        shown = len(x)
        title = f"{self.clustering} · by {self.colour_by} · "
        title += f"{shown:,} of {pts['n_total']:,} points (sampled)" if pts["sampled"] else f"{shown:,} points"
        if hl is not None:
            title += " · ● " + ("noise" if hl < 0 else f"cluster {hl}")
        plt.title(title)
        plt.xticks([])
        plt.yticks([])
        plot.refresh()

    def action_colour(self) -> None:
        """Colour the map by cluster or by domain (the highlighted cluster stays on top)."""
        self.colour_by = "domain" if self.colour_by == "cluster" else "cluster"
        self._draw_map()

    def _show_detail(self) -> None:
        out = Text(no_wrap=False)
        c = next((c for c in self.clusters if c.cluster == self.highlighted), None)
        if c is not None:
            head = "noise" if c.cluster < 0 else f"cluster {c.cluster}"
            out.append(head, style="bold")
            out.append(f" · {c.size:,} samples ({_pct(c.share)})")
            if c.mean_probability is not None and c.cluster >= 0:
                out.append(f" · mean membership {c.mean_probability:.2f}")
            if c.keywords:
                out.append(f" · {', '.join(c.keywords)}")
            out.append("\n")
            if c.representative_id is not None:
                text = (c.representative_text or "").replace("\n", " ")
                out.append("representative ", style="dim")
                out.append(f"#{c.representative_id}: ", style="bold")
                out.append(text[:300] + ("…" if len(text) > 300 else ""))
            elif c.cluster < 0:
                out.append("noise: samples HDBSCAN put in no cluster (no representative, no keywords)", style="dim")
            out.append("\n")
            out.append(f"domains: {_domains(c.domains)}\n", style="dim")
        d = self.div
        if d is not None:
            out.append("diversity ", style="bold")
            ent = f"entropy {d.entropy:.3f} nats"
            if d.entropy_norm is not None:
                ent += f" ({d.entropy_norm:.2f} of max)"
            mcd = "-" if d.mean_cosine_distance is None else f"{d.mean_cosine_distance:.3f}"
            out.append(
                f"{ent} · coverage {d.n_covered}/{d.n_clusters} clusters · "
                f"mean pairwise cosine distance {mcd} · noise {d.n_noise:,}/{d.n:,}"
            )
        elif self.info is not None:
            out.append("diversity: computing…", style="dim")
        self.query_one("#c-detail", Static).update(out)

    # -- events ------------------------------------------------------------------------------------------
    @on(Select.Changed, "#c-pick")
    def _picked(self, event: Select.Changed) -> None:
        if event.value in (Select.NULL, None) or event.value == self.clustering:
            return
        self.clustering = str(event.value)
        self.highlighted = None
        self.load_clustering()

    @on(DataTable.RowHighlighted, "#c-table")
    def _row(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is None or event.row_key.value is None:
            return
        k = int(event.row_key.value)
        if k != self.highlighted:
            self.highlighted = k
            self._draw_map()
            self._show_detail()

    @on(DataTable.RowSelected, "#c-table")
    def _selected(self, _event: DataTable.RowSelected) -> None:
        self.action_browse_cluster()

    # -- actions -----------------------------------------------------------------------------------------
    def action_browse_cluster(self) -> None:
        if self.clustering is None or self.highlighted is None:
            self.app.notify("no cluster to browse: pick a clustering first", severity="warning")
            return
        self.app.open_browse(expression=cluster_expression(self.clustering, self.highlighted))  # type: ignore[attr-defined]

    def action_refresh(self) -> None:
        self.on_data_changed("samples")

    def action_region(self) -> None:
        """Open the map-region editor on the picked clustering; its result (a filter) opens Browse."""
        pts, name = self.points, self.clustering
        if name is None or not pts or not len(pts["all_x"]):
            self.app.notify("no map to select from: pick a clustering first", severity="warning")
            return

        def chosen(expr: str | None) -> None:
            if expr:
                self.app.open_browse(expression=expr)  # type: ignore[attr-defined]

        self.app.push_screen(RegionScreen(name, pts, self.highlighted), chosen)

    def action_dedup(self) -> None:
        """Open the keep-one-per-duplicate-group dialog (scope: the Browse filter, or every training sample)."""
        if self._busy():
            return
        store, info = self.store, self.info
        f = getattr(self.app, "current_filter", None)

        def done(res: tuple | None) -> None:
            if not res:
                return
            n, n_groups, method = res
            self.panel.set_text(
                f"dedup ({method}): excluded {n:,} samples from {n_groups:,} groups, tagged duplicate "
                "(nothing deleted; `workbench exclude --undo --tag duplicate` restores them)"
            )
            self.app.data_changed("samples")  # type: ignore[attr-defined]

        def show(choices: list) -> None:
            self.app.push_screen(
                DedupDialog(
                    store,
                    model=info.model if info is not None else None,
                    text_kind=info.text_kind if info is not None else DEFAULT_TEXT_KIND,
                    choices=choices,
                    metrics=self.metrics,
                ),
                done,
            )

        self.run_engine(lambda: load_choices(store, f), show, group="c-scope", exclusive=True)

    def _start_job(self, kind: str, run: Callable[[Any, Any], Any], done: Callable[[Any], None]) -> None:
        """Run `run(progress, token)` in a worker, shown in the job panel."""
        self.panel.run(kind, run, done, self._job_failed, suffix=" · c cancels", group="c-job")

    def action_embed(self) -> None:
        """Embed the samples of the scope (the Browse filter, or every training sample: asked first) without an
        embedding for the picked clustering's model and text kind (or the default model, instruction + response,
        when there is no clustering yet)."""
        if self._busy():
            return
        info = self.info
        model = info.model if info is not None else None
        kind = info.text_kind if info is not None else DEFAULT_TEXT_KIND
        ask_scope(
            self,
            "Embed samples",
            lambda choice: self._start_embed(choice, model, kind),
            note=f"{model or 'all-MiniLM-L6-v2'} · {kind}; samples already embedded are skipped (cached per text), "
            "c cancels. Eval pools and excluded samples are left out unless the Browse filter names the pool.",
            ok="Embed",
            places=True,
        )

    def _start_embed(self, choice: dict, model: str | None, kind: str) -> None:
        if self._busy():
            return
        store, scope, words = self.store, choice["scope"], choice["words"]
        encoder = ENCODER
        ray = choice.get("ray")  # a RaySetup: the encoding runs on a Ray actor pool (docs/ray.md)
        if ray is not None:
            words += " · on Ray"

        def run(progress, token):
            from engine.geometry.embeddings import embed_samples

            if ray is not None:
                from engine.core.ray_jobs import describe_pool
                from engine.geometry.ray_embed import embed_samples_on_ray

                def on_pool(report: dict) -> None:  # the workers and their throughput, under the status line
                    self.app.call_from_thread(self.panel.set_workers, describe_pool(report, "samples"))

                return embed_samples_on_ray(
                    store,
                    model=model,
                    text_kind=kind,
                    scope=scope,
                    progress=progress,
                    cancel=token,
                    encoder=encoder,
                    setup=ray,
                    on_pool=on_pool,
                )
            return embed_samples(
                store, model=model, text_kind=kind, scope=scope, progress=progress, cancel=token, encoder=encoder
            )

        def done(res) -> None:
            msg = f"embedded {res.n_new:,} samples ({res.n_encoded:,} encoded, {res.n_reused:,} reused) · {words}"
            if res.n_new and self.info is not None:
                msg += " · n assigns them to the clusters"
            self.panel.finish(msg)
            self.on_data_changed("embeddings")  # the pending count; samples themselves did not change

        self._start_job("embed", run, done)

    def action_assign(self) -> None:
        """Place newly embedded samples into the picked clustering (approximate_predict, no re-clustering)."""
        if self._busy():
            return
        if self.clustering is None:
            self.app.notify("no clustering to assign to: k clusters the embeddings first", severity="warning")
            return
        store, name = self.store, self.clustering

        def run(progress, _token):
            from engine.geometry.clusters import assign_new

            return assign_new(store, name, progress=progress)

        def done(n: int) -> None:
            self.panel.finish(f"assigned {n:,} new samples to {name}" if n else f"nothing new to assign to {name}")
            if n:
                self.app.data_changed("samples")  # type: ignore[attr-defined]

        self._start_job("assign", run, done)

    def action_new_clustering(self) -> None:
        """Cluster the embeddings of the scope (the Browse filter, or every training sample: asked with the name)
        into a new named clustering (PCA 32 + HDBSCAN, default sizes)."""
        if self._busy():
            return
        info = self.info
        model = info.model if info is not None else None
        kind = info.text_kind if info is not None else DEFAULT_TEXT_KIND
        taken = {c.name for c in self.clusterings}

        def validate(text: str) -> str | None:
            if not text.strip():
                return "write a name"
            if text.strip() in taken:
                return f"{text.strip()!r} exists; pick another name (the CLI can --replace)"
            return None

        ask_scope(
            self,
            "New clustering",
            lambda choice: self._start_cluster(choice, model, kind),
            note=f"PCA (32 dims) then HDBSCAN over the embeddings ({model or 'default model'}, {kind}) of the "
            "samples below that have one; sizes default to 1% of the data; above 30,000 samples HDBSCAN is fitted "
            "on a 30,000 sample and the rest are placed with approximate_predict (docs/clusters.md). "
            "`workbench cluster NAME --help` exposes the parameters.",
            ok="Cluster",
            name=("name", "e.g. topics", validate),
        )

    def _start_cluster(self, choice: dict, model: str | None, kind: str) -> None:
        if self._busy():
            return
        store, scope, words, name = self.store, choice["scope"], choice["words"], choice["name"]

        def run(progress, _token):
            from engine.geometry.clusters import cluster

            return cluster(store, name, model=model, text_kind=kind, progress=progress, scope=scope)

        def done(res) -> None:
            self.clustering = name
            self.highlighted = None
            self.panel.finish(f"saved clustering {name}: {res.n_clusters} clusters, {res.n_noise:,} noise · of {words}")
            self.app.data_changed("samples")  # type: ignore[attr-defined]

        self._start_job("cluster", run, done)

    def action_diversity(self) -> None:
        """v: a diversity selection of the scope (k-center, facility location, SuperFiltering-D, or balanced over
        the picked clustering's clusters), saved by name like the CLI's `workbench select --method ...`."""
        if self._busy():
            return
        from screens.widgets import ChoiceDialog

        methods = [
            ("kcenter", "k-center greedy: k samples spread over the embedding space"),
            ("facility_location", "facility location: k samples that best cover the rest"),
            ("superfiltering_d", "SuperFiltering-D: the 20% with the lowest IFD, then facility location"),
        ]
        if self.clustering:
            methods.append(("cluster_balanced", f"balanced: N per cluster of {self.clustering}"))

        def method_chosen(method: str | None) -> None:
            if not method:
                return
            ask_scope(
                self,
                "Diversity selection",
                lambda choice: self._ask_k(method, choice),
                note=f"{dict(methods)[method]}. Over the embeddings of the samples below (embed them first with e). "
                "Saved as a selection that mixtures can use; `workbench select` is the CLI twin.",
                ok="Next",
                name=("selection name", "e.g. diverse-1k", lambda t: None if t.strip() else "write a name"),
            )

        self.app.push_screen(ChoiceDialog("Diversity selection: method", methods), method_chosen)

    def _ask_k(self, method: str, choice: dict) -> None:
        from screens.widgets import FieldsDialog

        per = method == "cluster_balanced"
        label = "per cluster" if per else "k"

        def validate(v: dict) -> str | None:
            try:
                if int(v["k"]) < 1:
                    raise ValueError
            except ValueError:
                return f"{label} is a whole number >= 1 (got {v['k']!r})"
            return None

        def start(v: dict | None) -> None:
            if v:
                self._start_diversity(method, choice, int(v["k"]))

        self.app.push_screen(
            FieldsDialog(
                f"{choice['name']}: how many",
                [("k", label, "100" if not per else "10", "a whole number")],
                note=f"of {choice['words']}",
                validate=validate,
                ok="Select",
            ),
            start,
        )

    def _start_diversity(self, method: str, choice: dict, k: int) -> None:
        if self._busy():
            return
        store, scope, words, name = self.store, choice["scope"], choice["words"], choice["name"]
        info, clustering = self.info, self.clustering
        emb = dict(
            model=info.model if info is not None else None, text_kind=info.text_kind if info else DEFAULT_TEXT_KIND
        )

        def run(progress, _token):
            from engine.quality import selection as sl

            if method == "kcenter":
                return sl.kcenter_select(store, name, k=k, filter=scope, **emb)
            if method == "cluster_balanced":
                return sl.cluster_balanced_select(store, name, clustering=clustering, n_per_cluster=k, filter=scope)
            top = 0.2 if method == "superfiltering_d" else None
            return sl.facility_location_select(store, name, k=k, filter=scope, ifd_top=top, **emb)

        def done(sel) -> None:
            self.panel.finish(f"selection {sel.name}: {sel.n:,} samples ({sel.method}) · of {words}")
            self.app.data_changed("samples")  # type: ignore[attr-defined]

        self._start_job("select", run, done)

    def action_cancel_job(self) -> None:
        job = self.job
        if job is None:
            self.app.notify("no job is running")
        elif job.kind == "embed":
            self.panel.cancel("embed: cancelling after the current chunk…")
        else:
            self.panel.cancel(f"{job.kind}: cannot stop mid-way; it finishes, then nothing else starts")

    def _job_failed(self, error: BaseException) -> None:
        kind = self.job.kind if self.job else "job"
        if isinstance(error, Cancelled):
            from engine.geometry.embeddings import EmbeddingCancelled

            if isinstance(error, EmbeddingCancelled):  # say what was kept: the chunk in flight is not
                msg = f"{kind} cancelled: kept {error.n_kept:,} of {error.n_todo:,} samples embedded; e resumes"
            else:
                msg = f"{kind} cancelled; finished chunks are kept"
            self.panel.finish(msg, "cancelled")
            self.on_data_changed("embeddings")
            return
        self.app.notify(f"{type(error).__name__}: {error}", title=f"Clusters: {kind}", severity="error", timeout=15)
        self.panel.finish(f"{kind} failed: {error}", "failed")

    def palette_commands(self):
        for c in self.clusterings:
            yield (
                f"Clusters: show {c.name}",
                f"{c.n_clusters} clusters, {c.n_samples:,} samples",
                lambda n=c.name: self._pick(n),
            )
        if self.clustering is not None:
            for c in self.clusters:
                label = "noise" if c.cluster < 0 else f"cluster {c.cluster}"
                yield (
                    f"Clusters: browse {label} of {self.clustering}",
                    " ".join(c.keywords) or label,
                    lambda k=c.cluster: self._browse(k),
                )

    def _pick(self, name: str) -> None:
        self.query_one("#c-pick", Select).value = name

    def _browse(self, k: int) -> None:
        self.highlighted = k
        self.action_browse_cluster()
