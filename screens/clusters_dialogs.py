"""Dialogs of the Clusters area: keep one sample per duplicate group, and the map-region editor."""

from __future__ import annotations

import math
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, RadioButton, RadioSet, Select, Static
from textual_plotext import PlotextPlot

from screens.clusters_common import cluster_color, region_expression
from screens.widgets import Dialog, EngineCaller
from workbench.actions import bindings_for

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
    (soft flag, tagged `duplicate`; nothing is deleted). The groups are found within the scope picked at the
    top: the Browse filter (the default) or every training sample (engine.data.scope: eval pools and excluded
    samples stay out, so an eval sample is never excluded as a copy). Dismisses with (n_excluded, n_groups,
    method)."""

    DEFAULT_CSS = """
    DedupDialog #d-box { width: 90; }
    DedupDialog .row { height: auto; margin-bottom: 1; }
    DedupDialog .row Label { width: 11; padding: 1 1 0 0; }
    DedupDialog #d-method { width: 1fr; }
    DedupDialog #d-keep { width: 1fr; }
    DedupDialog #d-threshold { width: 12; }
    DedupDialog #d-result { height: auto; min-height: 2; margin-top: 1; }
    DedupDialog #d-scope { width: 1fr; margin-bottom: 1; }
    """

    def __init__(
        self,
        store: Any,
        *,
        model: str | None,
        text_kind: str,
        choices: list[tuple[str, Any, str]],
        metrics: list[str],
    ) -> None:
        super().__init__()
        self.store = store
        self.model, self.text_kind = model, text_kind
        self.choices = list(choices)  # (key, engine Scope, words): screens.scope_dialog.load_choices
        self.metrics = metrics
        self.groups: list[Any] | None = None  # found for self.found_for
        self.found_for: tuple | None = None
        self.busy = False

    def compose(self) -> ComposeResult:
        with Vertical(id="d-box"):
            yield Label("Keep one per duplicate group", classes="title")
            yield Static(
                "Nothing is deleted: every member of a group but its keeper is excluded (the soft flag that keeps "
                "it out of exports and mixtures) and tagged `duplicate`. `workbench exclude --undo --tag "
                "duplicate` (or Browse) brings them back. Groups are found among:",
                id="d-note",
                markup=False,
            )
            with RadioSet(id="d-scope"):
                for i, (key, _scope, words) in enumerate(self.choices):
                    prefix = "the Browse filter: " if key == "browse" else ""
                    yield RadioButton(Text(prefix + words), value=i == 0, id=f"d-scope-{key}")
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

    def scope(self) -> Any:
        """The engine Scope picked at the top."""
        i = self.query_one("#d-scope", RadioSet).pressed_index
        return self.choices[i if 0 <= i < len(self.choices) else 0][1]

    def settings(self) -> tuple[str, float | None, str, str]:
        """(method, threshold or None, keep, scope key); ValueError naming the bad threshold."""
        method = str(self.query_one("#d-method", Select).value)
        keep = str(self.query_one("#d-keep", Select).value)
        i = self.query_one("#d-scope", RadioSet).pressed_index
        key = self.choices[i if 0 <= i < len(self.choices) else 0][0]
        if method not in DEFAULT_THRESHOLDS:
            return method, None, keep, key
        raw = self.query_one("#d-threshold", Input).value.strip()
        try:
            th = float(raw)
        except ValueError:
            raise ValueError(
                f"threshold {raw!r} is not a number; write one in (0, 1], e.g. {DEFAULT_THRESHOLDS[method]}"
            ) from None
        if not (0 < th <= 1):
            raise ValueError(f"threshold {th} is outside (0, 1]")
        return method, th, keep, key

    @on(Select.Changed, "#d-method")
    def _method(self, event: Select.Changed) -> None:
        method = str(event.value)
        th = self.query_one("#d-threshold", Input)
        th.disabled = method not in DEFAULT_THRESHOLDS
        th.value = str(DEFAULT_THRESHOLDS[method]) if method in DEFAULT_THRESHOLDS else ""
        self._stale()

    @on(Select.Changed, "#d-keep")
    @on(Input.Changed, "#d-threshold")
    @on(RadioSet.Changed, "#d-scope")
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
            method, th, keep, _key = self.settings()
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
        f = self.scope()

        def run():
            from engine.geometry import dedup as dd

            if method in ("hash", "text"):
                return dd.exact_duplicate_groups(store, f, by=method, keep=keep)
            if method == "semantic":
                return dd.semantic_duplicate_groups(
                    store, model=model, text_kind=kind, threshold=th, filter=f, keep=keep
                )
            return dd.near_duplicate_groups_minhash(store, threshold=th, filter=f, keep=keep)

        self.run_engine(run, lambda g: self._found(g, (method, th, keep, _key)), self._failed, group="d-find")

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
                color=("white" if k < 0 else cluster_color(k)) if bold else cluster_color(k),
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
