"""The Clusters area: a saved clustering's clusters (noise included), a 2-D map, the highlighted cluster's
representative and the clustering's diversity, jumps to Browse, and the embed / assign / cluster jobs."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, DataTable, Input, Label, Markdown, ProgressBar, Select, Static
from textual_plotext import PlotextPlot

from engine.core.errors import Cancelled
from screens.widgets import Dialog, EngineCaller, WorkbenchScreen
from workbench.actions import bindings_for

NOISE = -1
MAX_MAP_POINTS = 4000  # more points than this are sampled (deterministically) for the map
DEFAULT_TEXT_KIND = "instruction_response"
# Plotext colours for clusters 0, 1, 2, ... (cycled); noise is grey.
COLORS = ["blue", "red", "green", "orange", "magenta", "cyan", "yellow", "blue+", "red+", "green+", "magenta+", "cyan+"]

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

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _name_ref(name: str) -> str:
    """A clustering name as the filter language reads it: bare when an identifier, else double-quoted."""
    if _IDENT.fullmatch(name):
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def cluster_expression(name: str, cluster: int) -> str:
    """The Browse filter for one cluster of a clustering: `cluster.NAME = k` (the name quoted when needed)."""
    return f"cluster.{_name_ref(name)} = {int(cluster)}"


def region_expression(name: str, x0: float, x1: float, y0: float, y1: float, decimals: int = 3) -> str:
    """The Browse filter for a rectangle of a clustering's map:
    `map.NAME.x BETWEEN x0 AND x1 AND map.NAME.y BETWEEN y0 AND y1` (bounds written with `decimals`)."""
    ref = _name_ref(name)
    f = f"{{:.{int(decimals)}f}}"
    return (
        f"map.{ref}.x BETWEEN {f.format(x0)} AND {f.format(x1)} AND "
        f"map.{ref}.y BETWEEN {f.format(y0)} AND {f.format(y1)}"
    )


# The same colours in rich (table) names.
_RICH = {
    "orange": "dark_orange",
    "blue+": "bright_blue",
    "red+": "bright_red",
    "green+": "bright_green",
    "magenta+": "bright_magenta",
    "cyan+": "bright_cyan",
    "gray": "grey50",
}


def _color(k: int) -> str:
    return "gray" if k < 0 else COLORS[k % len(COLORS)]


def _rich_color(k: int) -> str:
    c = _color(k)
    return _RICH.get(c, c)


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _domains(d: dict[str, int]) -> str:
    total = sum(d.values()) or 1
    parts = [f"{k} {100 * v / total:.0f}%" for k, v in sorted(d.items(), key=lambda kv: (-kv[1], kv[0]))]
    return ", ".join(parts[:3]) + (" …" if len(parts) > 3 else "")


class ClustersScreen(WorkbenchScreen):
    """Clusters: pick a saved clustering; the table lists its clusters (noise as its own row) with size,
    share, top keywords (c-TF-IDF), domain mix and mean IFD when scored. The map is the 2-D projection of
    the samples coloured by cluster, the highlighted cluster drawn bold on top (sampled when there are many
    points: the title says so). Below: the highlighted cluster's representative sample and the clustering's
    diversity (entropy, coverage, mean pairwise cosine distance). `enter` or `b` opens Browse on the
    highlighted cluster (`cluster.NAME = k`); `r` selects a rectangle of the map (moved and resized with
    keys, or typed ranges) and opens Browse on it (`map.NAME.x BETWEEN .. AND map.NAME.y BETWEEN ..`).
    `u` keeps one sample per duplicate group (exact, semantic or MinHash; the others are excluded, never
    deleted). `e` embeds the samples without an embedding, `n` assigns newly embedded samples to the
    existing clusters (no re-clustering), `k` saves a new clustering, `c` cancels."""

    CONTEXT = "clusters"
    MODE = "clusters"
    BINDINGS = bindings_for("clusters")
    HELP = __doc__
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
    #c-jobbar { height: 1; padding: 0 1; }
    #c-job { width: 1fr; }
    #c-progress { width: 40; }
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
        self.job: dict | None = None  # running job: kind, token

    def compose(self) -> ComposeResult:
        yield from self.compose_header()
        with Horizontal(id="c-controls"):
            yield Label("clustering")
            yield Select([], prompt="no clustering yet", allow_blank=True, id="c-pick", compact=True)
        yield Static("", id="c-info")
        yield Markdown(EMPTY_TEXT, id="c-empty")
        with Horizontal(id="c-main"):
            yield DataTable(id="c-table", cursor_type="row", zebra_stripes=True)
            yield PlotextPlot(id="c-map")
        yield Static("", id="c-detail")
        with Horizontal(id="c-jobbar"):
            yield Static(
                "e: embed missing samples · n: assign new ones · k: new clustering · r: map region · u: dedup",
                id="c-job",
            )
            yield ProgressBar(id="c-progress", show_eta=True)
        yield from self.compose_footer()

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#c-progress", ProgressBar).display = False
        self.query_one("#c-empty").display = False
        self.query_one("#c-table").focus()

    # -- loading -----------------------------------------------------------------------------------------
    def on_data_changed(self, what: str) -> None:
        if what == "error" or self.store is None:
            return
        store = self.store

        def load():
            from engine.geometry.clusters import list_clusterings

            return list_clusterings(store)

        self.run_engine(load, self._clusterings_loaded, group="c-list", exclusive=True)

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
            from engine.geometry.clusters import cluster_summary, get_clustering, map_points
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
            emb = embedded_ids(
                store,
                model=info.model,
                text_kind=info.text_kind,
                pool_ids=info.params.get("pool_ids"),
                include_excluded=False,
            )
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
                else Text(str(c.cluster), style=_rich_color(c.cluster))
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
                plt.scatter(x[m].tolist(), y[m].tolist(), marker="·", color=_color(k), label=str(d))
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
                    plt.scatter(xs, ys, marker="●", color=_color(k) if k >= 0 else "white", style="bold")
                else:
                    plt.scatter(xs, ys, marker="·", color=_color(k))
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
        """Open the keep-one-per-duplicate-group dialog (scope: the picked clustering's pools, else all)."""
        if self._busy():
            return
        info = self.info
        pools = info.params.get("pool_ids") if info is not None else None
        scope = f"pools {', '.join(map(str, pools))} (the clustering's)" if pools else "every pool"

        def done(res: tuple | None) -> None:
            if not res:
                return
            n, n_groups, method = res
            self._job_text(
                f"dedup ({method}): excluded {n:,} samples from {n_groups:,} groups, tagged duplicate "
                "(nothing deleted; `workbench exclude --undo --tag duplicate` restores them)"
            )
            self.app.data_changed("samples")  # type: ignore[attr-defined]

        self.app.push_screen(
            DedupDialog(
                self.store,
                model=info.model if info is not None else None,
                text_kind=info.text_kind if info is not None else DEFAULT_TEXT_KIND,
                pool_ids=pools,
                scope=scope,
                metrics=self.metrics,
            ),
            done,
        )

    def _busy(self) -> bool:
        if self.job is not None:
            self.app.notify(f"a {self.job['kind']} job is running; c cancels it", severity="warning")
            return True
        return self.store is None

    def _start_job(self, kind: str, run: Callable[[Any, Any], Any], done: Callable[[Any], None]) -> None:
        """Run `run(progress, token)` in a worker with the progress bar and a cancel token."""
        from engine.core.jobs import CancelToken

        token = CancelToken()
        self.job = {"kind": kind, "token": token}
        self.app.cancel_tokens.add(token)  # type: ignore[attr-defined]
        bar = self.query_one("#c-progress", ProgressBar)
        bar.display = True
        bar.update(total=None, progress=0)

        def progress(p) -> None:
            self.deliver(self._progress, p)

        self._job_text(f"{kind}: starting…")
        self.run_engine(lambda: run(progress, token), done, self._job_failed, group="c-job")

    def _progress(self, p) -> None:
        if self.job is None:
            return
        bar = self.query_one("#c-progress", ProgressBar)
        if p.total:
            bar.update(total=p.total, progress=p.done)
        self._job_text(f"{self.job['kind']}: {p.line()} · c cancels")

    def action_embed(self) -> None:
        """Embed the samples without an embedding for the picked clustering's model and text kind (or the
        default model, instruction + response, when there is no clustering yet)."""
        if self._busy():
            return
        store, info = self.store, self.info
        model = info.model if info is not None else None
        kind = info.text_kind if info is not None else DEFAULT_TEXT_KIND
        pools = info.params.get("pool_ids") if info is not None else None
        encoder = ENCODER

        def run(progress, token):
            from engine.geometry.embeddings import embed_samples

            return embed_samples(
                store, model=model, text_kind=kind, pool_ids=pools, progress=progress, cancel=token, encoder=encoder
            )

        def done(res) -> None:
            msg = f"embedded {res.n_new:,} samples ({res.n_encoded:,} encoded, {res.n_reused:,} reused)"
            if res.n_new and self.info is not None:
                msg += " · n assigns them to the clusters"
            self._end_job(msg)
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
            self._end_job(f"assigned {n:,} new samples to {name}" if n else f"nothing new to assign to {name}")
            if n:
                self.app.data_changed("samples")  # type: ignore[attr-defined]

        self._start_job("assign", run, done)

    def action_new_clustering(self) -> None:
        """Cluster the embeddings (PCA 32 + HDBSCAN, default sizes) into a new named clustering."""
        if self._busy():
            return
        from screens.widgets import InputDialog

        store, info = self.store, self.info
        model = info.model if info is not None else None
        kind = info.text_kind if info is not None else DEFAULT_TEXT_KIND
        taken = {c.name for c in self.clusterings}

        def validate(text: str) -> str | None:
            if not text.strip():
                return "write a name"
            if text.strip() in taken:
                return f"{text.strip()!r} exists; pick another name (the CLI can --replace)"
            return None

        def chosen(text: str | None) -> None:
            if not text:
                return
            name = text.strip()

            def run(progress, _token):
                from engine.geometry.clusters import cluster

                return cluster(store, name, model=model, text_kind=kind, progress=progress)

            def done(res) -> None:
                self.clustering = name
                self.highlighted = None
                self._end_job(f"saved clustering {name}: {res.n_clusters} clusters, {res.n_noise:,} noise")
                self.app.data_changed("samples")  # type: ignore[attr-defined]

            self._start_job("cluster", run, done)

        self.app.push_screen(
            InputDialog(
                "New clustering",
                "name:",
                "",
                placeholder="e.g. topics",
                note=f"PCA (32 dims) then HDBSCAN over the embeddings ({model or 'default model'}, {kind}); "
                "sizes default to 1% of the data; above 30,000 samples HDBSCAN is fitted on a 30,000 sample "
                "and the rest are placed with approximate_predict (docs/clusters.md). "
                "`workbench cluster NAME --help` exposes the parameters.",
                validate=validate,
                ok="Cluster",
            ),
            chosen,
        )

    def action_cancel_job(self) -> None:
        job = self.job
        if job is None:
            self.app.notify("no job is running")
            return
        job["token"].cancel()
        if job["kind"] == "embed":
            self._job_text("embed: cancelling after the current chunk…")
        else:
            self._job_text(f"{job['kind']}: cannot stop mid-way; it finishes, then nothing else starts")

    def _job_failed(self, error: BaseException) -> None:
        kind = self.job["kind"] if self.job else "job"
        if isinstance(error, Cancelled):
            self._end_job(f"{kind} cancelled; finished chunks are kept")
            self.on_data_changed("embeddings")
            return
        self.app.notify(f"{type(error).__name__}: {error}", title=f"Clusters: {kind}", severity="error", timeout=15)
        self._end_job(f"{kind} failed: {error}")

    def _end_job(self, text: str) -> None:
        job = self.job or {}
        self.app.cancel_tokens.discard(job.get("token"))  # type: ignore[attr-defined]
        self.job = None
        self.query_one("#c-progress", ProgressBar).display = False
        self._job_text(text)

    def _job_text(self, text: str) -> None:
        self.query_one("#c-job", Static).update(Text(text))

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


# -- keep one per duplicate group --------------------------------------------------------------------------

DEDUP_METHODS = [
    ("hash", "exact: same content (hash of messages, system, tools)"),
    ("text", "exact: same instruction + response text (case and spacing ignored)"),
    ("semantic", "semantic: embedding cosine ≥ threshold"),
    ("minhash", "near-duplicate text: MinHash Jaccard of word 3-grams ≥ threshold"),
]
DEFAULT_THRESHOLDS = {"semantic": 0.95, "minhash": 0.8}


class DedupDialog(EngineCaller, Dialog):
    """Keep one sample per duplicate group. Pick how groups are found (exact hash / exact text / semantic
    cosine / MinHash) and, for the last two, the threshold; `Find groups` counts the groups and how many
    samples would be excluded; `Exclude` keeps the suggested keeper of each group and excludes the others
    (soft flag, tagged `duplicate`; nothing is deleted). Dismisses with (n_excluded, n_groups, method)."""

    DEFAULT_CSS = """
    DedupDialog #d-box { width: 90; }
    DedupDialog .row { height: auto; margin-bottom: 1; }
    DedupDialog .row Label { width: 11; padding: 1 1 0 0; }
    DedupDialog #d-method { width: 1fr; }
    DedupDialog #d-keep { width: 1fr; }
    DedupDialog #d-threshold { width: 12; }
    DedupDialog #d-result { height: auto; min-height: 2; margin-top: 1; }
    """

    def __init__(
        self,
        store: Any,
        *,
        model: str | None,
        text_kind: str,
        pool_ids: list[int] | None,
        scope: str,
        metrics: list[str],
    ) -> None:
        super().__init__()
        self.store = store
        self.model, self.text_kind, self.pool_ids, self.scope = model, text_kind, pool_ids, scope
        self.metrics = metrics
        self.groups: list[Any] | None = None  # found for self.found_for
        self.found_for: tuple | None = None
        self.busy = False

    def compose(self) -> ComposeResult:
        with Vertical(id="d-box"):
            yield Label("Keep one per duplicate group", classes="title")
            yield Static(
                f"Scope: the non-excluded samples of {self.scope}. Nothing is deleted: every member of a group "
                "but its keeper is excluded (the soft flag that keeps it out of exports and mixtures) and "
                "tagged `duplicate`. `workbench exclude --undo --tag duplicate` (or Browse) brings them back.",
                id="d-note",
                markup=False,
            )
            with Horizontal(classes="row"):
                yield Label("groups by")
                yield Select([(label, m) for m, label in DEDUP_METHODS], value="hash", allow_blank=False, id="d-method")
            with Horizontal(classes="row"):
                yield Label("threshold")
                yield Input("", placeholder="0..1", id="d-threshold", disabled=True)
                yield Static(
                    f"  semantic uses the {self.model or 'default model'} / {self.text_kind} embeddings", id="d-thnote"
                )
            with Horizontal(classes="row"):
                yield Label("keep")
                yield Select(
                    [("the longest response (ties: lowest id)", "longest")]
                    + [(f"the highest {m} (then longest)", f"score:{m}") for m in self.metrics],
                    value="longest",
                    allow_blank=False,
                    id="d-keep",
                )
            yield Static("", id="d-result")
            yield Static("", id="error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Find groups", id="find", variant="primary")
                yield Button("Exclude duplicates", id="apply", variant="warning", disabled=True)

    def on_mount(self) -> None:
        self.query_one("#d-method", Select).focus()
        self.find()

    def settings(self) -> tuple[str, float | None, str]:
        """(method, threshold or None, keep); ValueError naming the bad threshold."""
        method = str(self.query_one("#d-method", Select).value)
        keep = str(self.query_one("#d-keep", Select).value)
        if method not in DEFAULT_THRESHOLDS:
            return method, None, keep
        raw = self.query_one("#d-threshold", Input).value.strip()
        try:
            th = float(raw)
        except ValueError:
            raise ValueError(
                f"threshold {raw!r} is not a number; write one in (0, 1], e.g. {DEFAULT_THRESHOLDS[method]}"
            ) from None
        if not (0 < th <= 1):
            raise ValueError(f"threshold {th} is outside (0, 1]")
        return method, th, keep

    @on(Select.Changed, "#d-method")
    def _method(self, event: Select.Changed) -> None:
        method = str(event.value)
        th = self.query_one("#d-threshold", Input)
        th.disabled = method not in DEFAULT_THRESHOLDS
        th.value = str(DEFAULT_THRESHOLDS[method]) if method in DEFAULT_THRESHOLDS else ""
        self._stale()

    @on(Select.Changed, "#d-keep")
    @on(Input.Changed, "#d-threshold")
    def _changed(self, _event) -> None:
        self._stale()

    def _stale(self) -> None:
        self.query_one("#apply", Button).disabled = True
        if self.groups is not None:
            self.query_one("#d-result", Static).update("settings changed: Find groups counts again")

    @on(Input.Submitted, "#d-threshold")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.find()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "find":
            self.find()
        elif event.button.id == "apply":
            self.apply()
        else:
            self.dismiss(None)

    def find(self) -> None:
        """Count the groups for the current settings (worker)."""
        err = self.query_one("#error", Static)
        try:
            method, th, keep = self.settings()
        except ValueError as e:
            err.update(str(e))
            return
        err.update("")
        if self.busy:
            return
        self.busy = True
        self.groups = None
        self.query_one("#apply", Button).disabled = True
        self.query_one("#d-result", Static).update("finding groups…")
        store, model, kind = self.store, self.model, self.text_kind
        flt_pools = self.pool_ids

        def run():
            from engine.data.query import Filter
            from engine.geometry import dedup as dd

            f = Filter(pool_ids=list(flt_pools)) if flt_pools else None
            if method in ("hash", "text"):
                return dd.exact_duplicate_groups(store, f, by=method, keep=keep)
            if method == "semantic":
                return dd.semantic_duplicate_groups(
                    store, model=model, text_kind=kind, threshold=th, filter=f, keep=keep
                )
            return dd.near_duplicate_groups_minhash(store, threshold=th, filter=f, keep=keep)

        self.run_engine(run, lambda g: self._found(g, (method, th, keep)), self._failed, group="d-find")

    def _found(self, groups: list[Any], settings: tuple) -> None:
        self.busy = False
        try:
            current = self.settings()
        except ValueError:
            current = None
        if current != settings:  # changed while counting
            self.query_one("#d-result", Static).update("settings changed: Find groups counts again")
            return
        self.groups, self.found_for = groups, settings
        n_drop = sum(len(g.ids) - 1 for g in groups)
        out = Text()
        if not groups:
            out.append("no duplicate groups: nothing to exclude", style="bold")
        else:
            out.append(f"{len(groups):,} groups", style="bold")
            out.append(" · ")
            out.append(f"{n_drop:,} samples would be excluded", style="bold")
            out.append(f" (one kept per group; largest group {max(len(g.ids) for g in groups):,})")
            ex = groups[0]
            out.append(
                f"\ne.g. #{ex.keeper} kept ({ex.why}), excluded "
                + ", ".join(f"#{i}" for i in ex.ids[:6] if i != ex.keeper)
                + (" …" if len(ex.ids) > 7 else ""),
                style="dim",
            )
        self.query_one("#d-result", Static).update(out)
        self.query_one("#apply", Button).disabled = not groups

    def _failed(self, error: BaseException) -> None:
        self.busy = False
        self.query_one("#d-result", Static).update("")
        self.query_one("#error", Static).update(f"{type(error).__name__}: {error}")

    def apply(self) -> None:
        """Exclude all but the keeper of each found group (worker), then close with the counts."""
        groups, settings = self.groups, self.found_for
        if not groups or self.busy:
            return
        self.busy = True
        self.query_one("#apply", Button).disabled = True
        self.query_one("#d-result", Static).update("excluding…")
        store = self.store

        def run():
            from engine.geometry.dedup import keep_one_per_group

            return keep_one_per_group(store, groups)

        self.run_engine(run, lambda n: self.dismiss((n, len(groups), settings[0])), self._failed, group="d-apply")


# -- map region --------------------------------------------------------------------------------------------


class RegionMap(PlotextPlot):
    """The region editor's map: focusable, so the arrow keys reach the editor's bindings."""

    can_focus = True


class RegionScreen(Dialog):
    """Select a rectangle of a clustering's 2-D map and browse the samples inside it. The arrow keys move
    the rectangle, shift+arrows (or < > [ ]) resize it, `c` fits it to the highlighted cluster, `a` makes it
    the whole map; `t` (or tab) goes to the typed x / y ranges (enter applies them). The count of samples
    inside is exact (every point of the clustering, not only the drawn ones). `enter` / `b` opens Browse
    with `map.NAME.x BETWEEN .. AND map.NAME.y BETWEEN ..`; escape closes. Dismisses with the expression."""

    CONTEXT = "clusters_region"
    BINDINGS = bindings_for("clusters_region")
    HELP = __doc__
    STEPS = 20  # a move or resize step is 1/STEPS of the map's extent
    DEFAULT_CSS = """
    RegionScreen #r-box { width: 95%; height: 90%; max-height: 100%; }
    RegionScreen #r-body { height: 1fr; }
    RegionScreen #r-map { width: 1fr; height: 1fr; }
    RegionScreen #r-map:focus { border: tall $accent; }
    RegionScreen #r-side { width: 36; height: 1fr; padding: 0 0 0 1; }
    RegionScreen #r-side Input { width: 100%; }
    RegionScreen #r-count { height: auto; margin-bottom: 1; }
    RegionScreen #r-keys { height: auto; color: $text-muted; margin-top: 1; }
    """

    def __init__(self, name: str, points: dict, highlighted: int | None) -> None:
        super().__init__()
        import numpy as np

        self.clustering = name
        self.points = points
        self.highlighted = highlighted
        ax, ay = np.asarray(points["all_x"], float), np.asarray(points["all_y"], float)
        self.ax, self.ay, self.alab = ax, ay, np.asarray(points["all_clusters"])
        self.xmin, self.xmax = (float(ax.min()), float(ax.max())) if len(ax) else (0.0, 1.0)
        self.ymin, self.ymax = (float(ay.min()), float(ay.max())) if len(ay) else (0.0, 1.0)
        span = max(self.xmax - self.xmin, self.ymax - self.ymin, 1e-9)
        # bounds are written with enough decimals for a step of span / STEPS, and rounded outwards
        self.decimals = max(1, 2 - math.floor(math.log10(span / self.STEPS)))
        self.sx = max(self.xmax - self.xmin, 1e-9) / self.STEPS
        self.sy = max(self.ymax - self.ymin, 1e-9) / self.STEPS
        self.rect = (self.xmin, self.xmax, self.ymin, self.ymax)
        self.n_inside = 0

    def compose(self) -> ComposeResult:
        with Vertical(id="r-box"):
            yield Label(f"Map region of {self.clustering}", classes="title")
            with Horizontal(id="r-body"):
                yield RegionMap(id="r-map")
                with Vertical(id="r-side"):
                    yield Static("", id="r-count")
                    for key, label in (("x0", "x from"), ("x1", "x to"), ("y0", "y from"), ("y1", "y to")):
                        yield Label(label)
                        yield Input("", id=f"r-{key}", compact=True)
                    yield Static("", id="error", classes="error")
                    yield Static(
                        "arrows move · shift+arrows or < > [ ] resize · c fit the highlighted cluster · "
                        "a whole map · t type ranges (enter applies) · enter/b browse · esc close",
                        id="r-keys",
                    )
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Browse region", id="browse", variant="primary")

    def on_mount(self) -> None:
        self.action_fit_cluster()
        self.query_one("#r-map").focus()

    # -- region ---------------------------------------------------------------------------------------------
    def _round(self, x0: float, x1: float, y0: float, y1: float) -> tuple[float, float, float, float]:
        q = 10**self.decimals
        return (math.floor(x0 * q) / q, math.ceil(x1 * q) / q, math.floor(y0 * q) / q, math.ceil(y1 * q) / q)

    def set_region(self, x0: float, x1: float, y0: float, y1: float) -> None:
        """Set the rectangle (bounds rounded outwards to the written decimals), recount, redraw."""
        import numpy as np

        x0, x1, y0, y1 = self._round(min(x0, x1), max(x0, x1), min(y0, y1), max(y0, y1))
        self.rect = (x0, x1, y0, y1)
        inside = (self.ax >= x0) & (self.ax <= x1) & (self.ay >= y0) & (self.ay <= y1)
        self.n_inside = int(np.count_nonzero(inside))
        n = len(self.ax)
        clusters = sorted({int(k) for k in self.alab[inside].tolist()})
        real = [k for k in clusters if k >= 0]
        out = Text()
        out.append(f"{self.n_inside:,}", style="bold")
        out.append(f" of {n:,} samples ({100 * self.n_inside / max(n, 1):.1f}%)\n")
        out.append(
            f"{len(real)} cluster{'s' if len(real) != 1 else ''}" + (" + noise" if -1 in clusters else "") + " touched",
            style="dim",
        )
        self.query_one("#r-count", Static).update(out)
        f = f"{{:.{self.decimals}f}}"
        for key, v in zip(("x0", "x1", "y0", "y1"), self.rect):
            inp = self.query_one(f"#r-{key}", Input)
            with inp.prevent(Input.Changed):
                inp.value = f.format(v)
        self.query_one("#error", Static).update("")
        self._draw()

    def expression(self) -> str:
        return region_expression(self.clustering, *self.rect, decimals=self.decimals)

    def _draw(self) -> None:
        plot = self.query_one("#r-map", RegionMap)
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        pts = self.points
        labels, x, y = pts["clusters"], pts["x"], pts["y"]
        x0, x1, y0, y1 = self.rect
        # the rectangle first, so that the points stay visible on top of it
        plt.plot([x0, x1, x1, x0, x0], [y0, y0, y1, y1, y0], color="white", marker="braille")
        order = sorted(set(int(v) for v in labels.tolist()))
        order = [k for k in order if k != self.highlighted] + ([self.highlighted] if self.highlighted in order else [])
        for k in order:
            m = labels == k
            bold = k == self.highlighted
            plt.scatter(
                x[m].tolist(),
                y[m].tolist(),
                marker="●" if bold else "·",
                color=("white" if k < 0 else _color(k)) if bold else _color(k),
            )
        padx = 0.03 * max(self.xmax - self.xmin, 1e-9)
        pady = 0.03 * max(self.ymax - self.ymin, 1e-9)
        plt.xlim(self.xmin - padx, self.xmax + padx)
        plt.ylim(self.ymin - pady, self.ymax + pady)
        d = self.decimals
        plt.title(f"x {x0:.{d}f}..{x1:.{d}f} · y {y0:.{d}f}..{y1:.{d}f} · {self.n_inside:,} inside")
        plot.refresh()

    # -- actions --------------------------------------------------------------------------------------------
    def action_move(self, dx: int, dy: int) -> None:
        x0, x1, y0, y1 = self.rect
        self.set_region(x0 + dx * self.sx, x1 + dx * self.sx, y0 + dy * self.sy, y1 + dy * self.sy)

    def action_resize(self, dw: int, dh: int) -> None:
        x0, x1, y0, y1 = self.rect
        hx, hy = dw * self.sx / 2, dh * self.sy / 2
        if x1 - x0 + 2 * hx < self.sx:  # never thinner than one step
            hx = 0.0
        if y1 - y0 + 2 * hy < self.sy:
            hy = 0.0
        self.set_region(x0 - hx, x1 + hx, y0 - hy, y1 + hy)

    def action_fit_cluster(self) -> None:
        k = self.highlighted
        m = self.alab == k if k is not None else None
        if m is None or not m.any():
            self.action_whole_map()
            return
        self.set_region(
            float(self.ax[m].min()), float(self.ax[m].max()), float(self.ay[m].min()), float(self.ay[m].max())
        )

    def action_whole_map(self) -> None:
        self.set_region(self.xmin, self.xmax, self.ymin, self.ymax)

    def action_type_ranges(self) -> None:
        self.query_one("#r-x0", Input).focus()

    def action_browse_region(self) -> None:
        if self.n_inside == 0:
            self.query_one("#error", Static).update("no samples in this region: move or widen it first")
            return
        self.dismiss(self.expression())

    @on(Input.Submitted)
    def _typed(self, event: Input.Submitted) -> None:
        event.stop()
        vals = []
        for key, label in (("x0", "x from"), ("x1", "x to"), ("y0", "y from"), ("y1", "y to")):
            raw = self.query_one(f"#r-{key}", Input).value.strip()
            try:
                v = float(raw)
            except ValueError:
                v = float("nan")
            if not math.isfinite(v):
                self.query_one("#error", Static).update(f"{label}: {raw!r} is not a number")
                self.query_one(f"#r-{key}", Input).focus()
                return
            vals.append(v)
        x0, x1, y0, y1 = vals
        if x0 > x1 or y0 > y1:
            self.query_one("#error", Static).update("x from must be ≤ x to and y from ≤ y to")
            return
        self.set_region(x0, x1, y0, y1)
        self.query_one("#r-map").focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "browse":
            self.action_browse_region()
        else:
            self.dismiss(None)
