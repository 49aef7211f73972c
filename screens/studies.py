"""The Studies area: grids of training runs planned, queued, evaluated and read back (engine/studies,
docs/studies.md). The store's studies with their cells' states; the highlighted study's grid, each cell's state
and scores, with drill-down to its run (Runs) or its evaluation (Results); the template's reading drawn in the
terminal (growth curves with their fit and pace, budgets against random and the base model, score against
quantile distance, ratio lines, the protocols table with Conflict Rate, the cross-ability matrix); new study,
launch, evaluate, extend, the proposed allocation and the report export."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.widgets import DataTable, Markdown, Static
from textual_plotext import PlotextPlot

from engine.core.errors import Cancelled
from screens.job_panel import JobPanel, JobScreen
from screens.studies_dialogs import AllocationDialog, ExtendDialog, StudyDialog, plan_summary
from screens.widgets import ConfirmDialog, InputDialog, NavTable, WorkbenchScreen

STATE_STYLE = {
    "new": "grey50",
    "queued": "cyan",
    "running": "bold yellow",
    "done": "green",
    "failed": "bold red",
    "cancelled": "grey50",
}
COLORS = ["blue", "red", "green", "orange", "magenta", "cyan", "yellow"]
MAX_DOMAINS = 4  # score columns in the grid (every domain is in the reading and the report)
JUMP_TRIES = 60  # 0.1 s apart: how long a drill-down waits for the target area's table
RELOAD_S = 2.0  # seconds between reloads while a cell of the shown study is queued or running (its step)

EMPTY_TEXT = """\
## No study yet

A **study** asks one question with many runs: how each ability grows with data (**growth**), whether a
targeted selection beats a random one of the same size and the untouched base model (**targeted**,
**quantiles**), where the code–math competition peaks (**ratio**), which training protocol keeps each skill
(**protocols**), how much one domain's data helps another (**cross**).

**Here:** `n` makes one (name, template, base, axes, run and eval settings), shows its plan (new runs,
estimated time) and launches it; the app's run queue trains the cells, `e` evaluates the finished ones.
In the Targeted area, `t` starts a study of the highlighted selection against random and the base model.
**CLI:** `workbench study new g --template growth --mixture m1 --sets math_eval --launch --wait`.
"""


def display_state(state: str) -> tuple[str, bool]:
    """(done / running / queued / failed / cancelled / new, evaluated) of an engine cell state."""
    if state == "evaluated":
        return "done", True
    if state == "planned":
        return "new", False
    return state, False


def counts(rows: list[dict]) -> dict[str, int]:
    """Cells per displayed state, and how many are evaluated."""
    out = {"cells": len(rows), "new": 0, "queued": 0, "running": 0, "done": 0, "failed": 0, "evaluated": 0}
    for r in rows:
        st, ev = display_state(r["state"])
        out["failed" if st == "cancelled" else st] = out.get("failed" if st == "cancelled" else st, 0) + 1
        out["evaluated"] += ev
    return out


AXIS_SHORT = {"fraction": "f", "budget": "b", "quantile": "q", "ratio": "r", "seed": "s"}
MAIN_ARM = {"growth", "ratio", "single", "protocol"}  # arms that are their template's only arm (label left out)


def short_key(cell: dict) -> str:
    """A cell's key in few characters for the grid: `f=0.25 s=0`, `random b=50 s=1`, `multi_task s=0`."""
    if cell["arm"] == "base":
        if cell["params"].get("model"):
            from engine.studies.spec import model_label

            return f"base model {model_label(cell['params']['model'])}"
        return "base model"
    parts = [] if cell["arm"] in MAIN_ARM or cell["arm"] == "quantile" else [cell["arm"]]
    for axis, v in cell["params"].items():
        if axis == "model":
            from engine.studies.spec import model_label

            parts.append(model_label(v))
        elif axis in AXIS_SHORT:
            parts.append(f"{AXIS_SHORT[axis]}={v:g}" if isinstance(v, float) else f"{AXIS_SHORT[axis]}={v}")
        else:
            parts.append(str(v))
    return " ".join(parts)


def base_name(study: Any) -> str:
    b = study.base
    return str(b.get("mixture") or b.get("selection") or b.get("selections") or "?")


def _f(v: Any, nd: int = 3, signed: bool = False) -> str:
    if v is None:
        return "-"
    return f"{v:+.{nd}f}" if signed else f"{v:.{nd}f}"


def _stat(s: dict | None) -> str:
    if not s or s.get("mean") is None:
        return "-"
    return _f(s["mean"]) + (f"±{s['sd']:.2f}" if s.get("sd") is not None else "")


def chosen_fit(g: dict) -> dict | None:
    """The fit drawn for a growth domain: the one of the two with the lower RMSE (log-linear on a tie)."""
    fits = [f for f in (g.get("loglinear"), g.get("power")) if f]
    return min(fits, key=lambda f: (f["rmse"], f["kind"] != "loglinear")) if fits else None


def predict(f: dict, x: float) -> float:
    p = f["params"]
    if f["kind"] == "loglinear":
        return p["a"] + p["b"] * math.log(x)
    return p["c"] + p["a"] * x ** (-p["alpha"])


# -- the reading drawn in the terminal ----------------------------------------------------------------------------


def draw_reading(plt: Any, template: str, reading: dict) -> bool:
    """Draw the template's curves on a plotext figure; False when the template reads as a table instead
    (protocols, cross) or there is nothing to draw yet."""
    plt.clear_data()
    plt.clear_figure()
    if template == "growth":
        g = reading.get("growth") or {}
        drawn = False
        ticks: set[float] = set()
        for i, (dom, d) in enumerate(g.items()):
            pts = [p for p in d["points"] if p["mean"] is not None]
            if not pts:
                continue
            color = COLORS[i % len(COLORS)]
            xs, ys = [p["x"] for p in pts], [p["mean"] for p in pts]
            ticks.update(xs)
            pace = d.get("pace")
            label = f"{dom}" + (f" pace {pace['per_doubling']:+.3f}/2x" if pace else "")
            # log x drawn as log2 of the volume with the volumes as tick labels (plotext's own log scale is
            # applied again at every redraw of the widget)
            f = chosen_fit(d)
            if f and len(set(xs)) > 1:
                lo, hi = min(xs), max(xs)
                grid = [lo * (hi / lo) ** (k / 40) for k in range(41)]
                plt.plot([math.log2(x) for x in grid], [predict(f, x) for x in grid], color=color, marker="braille")
            plt.scatter([math.log2(x) for x in xs], ys, color=color, label=label, marker="●")  # over the line
            drawn = True
        if drawn:
            shown = sorted(ticks)
            plt.xticks([math.log2(x) for x in shown], [f"{x:,.0f}" for x in shown])
            series = reading.get("series") or []
            which = f" · {_series_label(series[0])}" if len(series) > 1 else ""
            plt.title(f"score vs volume{which} · ● seeds' mean, line: fit")
            plt.xlabel("items (log scale)")
        return drawn
    if template == "targeted":
        b = reading.get("budgets") or {}
        drawn = False
        for i, (dom, d) in enumerate(b.items()):
            for arm, marker in (("targeted", "braille"), ("random", "dot")):
                pts = [(x["budget"], x[arm]["mean"]) for x in d["budgets"] if x[arm] and x[arm]["mean"] is not None]
                if pts:
                    plt.plot(
                        [p[0] for p in pts],
                        [p[1] for p in pts],
                        color=COLORS[(2 * i + (arm == "random")) % len(COLORS)],
                        label=f"{dom} {arm}",
                        marker=marker,
                    )
                    drawn = True
            if d.get("base") is not None:
                plt.hline(d["base"], color=COLORS[2 * i % len(COLORS)])
        if drawn:
            plt.title("targeted vs random per budget · hline: base")
            plt.xlabel("budget")
        return drawn
    if template == "quantiles":
        q = reading.get("quantiles") or {}
        drawn = False
        for i, (dom, d) in enumerate(q.items()):
            rows = [r for r in d["quantiles"] if r.get("mean") is not None]
            if not rows:
                continue
            by_dist = all(r.get("chamfer") is not None for r in rows)
            xs = [r["chamfer"] if by_dist else r["quantile"] for r in rows]
            color = COLORS[i % len(COLORS)]
            plt.plot(xs, [r["mean"] for r in rows], color=color, label=dom, marker="braille")
            if (d.get("random") or {}).get("mean") is not None:
                plt.hline(d["random"]["mean"], color=color)
            drawn = True
        if drawn:
            plt.title("score vs quantile distance · hline: random")
            plt.xlabel("Chamfer distance to the query set")
        return drawn
    if template == "ratio":
        r = reading.get("ratio") or {}
        drawn = False
        share = "the first domain"
        for i, (dom, d) in enumerate(r.items()):
            pts = [(x["ratio"], x["mean"]) for x in d["ratios"] if x.get("mean") is not None]
            share = d.get("share_of") or share
            if pts:
                plt.plot(
                    [p[0] for p in pts],
                    [p[1] for p in pts],
                    color=COLORS[i % len(COLORS)],
                    label=f"{dom} (peak {d['peak_ratio']:g})" if d.get("peak_ratio") is not None else dom,
                    marker="braille",
                )
                drawn = True
        if drawn:
            plt.title(f"score vs share of {share}")
            plt.xlabel(f"share of {share}")
        return drawn
    return False


def reading_text(template: str, reading: dict) -> Any:
    """The reading beside the plot: fits and pace, differences against random, peaks; the protocols table
    with Conflict Rate; the cross-ability matrix as a colored table."""
    if template == "growth":
        t = Text(no_wrap=True, overflow="ellipsis")
        series = reading.get("series") or []
        if len(series) > 1:
            t.append(f"curves: {_series_label(series[0])} (the first of {len(series)} series)\n", style="dim")
        for dom, d in (reading.get("growth") or {}).items():
            pace, ll, pw = d.get("pace"), d.get("loglinear"), d.get("power")
            t.append(f"{dom} ", style="bold")
            if pace:
                se = f" ± {pace['stderr'] * math.log(2):.3f}" if pace.get("stderr") is not None else ""
                t.append(f"pace {pace['per_doubling']:+.4f}{se} per doubling")
            else:
                t.append("no curve yet (2 volumes needed)")
            t.append(f" · base {_f(d.get('base'))}\n")
            fits = []
            if ll:
                fits.append(f"log-lin {ll['rmse']:.2g}")
            if pw:
                fits.append(f"power {pw['rmse']:.2g} c {pw['params']['c']:.3g} α {pw['params']['alpha']:.2g}")
            t.append(f"  RMSE {' · '.join(fits)}\n" if fits else "")
        series_text(t, reading)
        return t
    if template == "targeted":
        t = Text(no_wrap=True, overflow="ellipsis")
        for dom, d in (reading.get("budgets") or {}).items():
            diffs = ", ".join(f"{x['budget']}: {_f(x['targeted_minus_random'], signed=True)}" for x in d["budgets"])
            t.append(f"{dom} ", style="bold")
            t.append(f"targeted − random at budgets {diffs} · base model {_f(d.get('base'))}\n")
        return t
    if template == "quantiles":
        t = Text(no_wrap=True, overflow="ellipsis")
        for dom, d in (reading.get("quantiles") or {}).items():
            rho = d.get("spearman_chamfer")
            t.append(f"{dom} ", style="bold")
            t.append(
                f"random {_stat(d.get('random'))} · base {_f(d.get('base'))}"
                + (f" · Spearman(distance, score) {rho:+.2f}" if rho is not None else "")
                + "\n"
            )
        return t
    if template == "ratio":
        t = Text(no_wrap=True, overflow="ellipsis")
        for dom, d in (reading.get("ratio") or {}).items():
            line = d.get("line") or {}
            t.append(f"{dom} ", style="bold")
            t.append(
                f"peaks at {d['peak_ratio']} · slope {_f(line.get('slope'), signed=True)}"
                + (f" R² {line['r2']:.2f}" if line.get("r2") is not None else "")
                + f" · base {_f(d.get('base'))}\n"
            )
        return t
    if template == "protocols":
        return protocols_table(reading.get("protocols") or {})
    return cross_table(reading.get("cross") or {})


def _series_label(s: dict) -> str:
    model = s.get("model_label") if "model_label" in s else s.get("model")  # a series, or a pace of one
    return " ".join(x for x in (model or "", s.get("provenance") or "") if x) or "-"


def series_text(t: Any, reading: dict) -> None:
    """A growth study split by base model or provenance: which series the curves are, every series' pace, the
    pace against model size and the provenances compared (the report and `workbench study show` say more)."""
    series = reading.get("series") or []
    if len(series) < 2:
        return
    for dom, ps in (reading.get("paces") or {}).items():
        t.append(f"{dom} pace by series ", style="bold")
        t.append(" · ".join(f"{_series_label(p)} {_f(p['pace'], 4, signed=True)}" for p in ps) + "\n")
    for m in reading.get("model_size") or []:
        per = "per 10× parameters" if m["basis"] == "log10 parameters" else "per step up the models' order"
        t.append(f"{m['domain']}{' ' + m['provenance'] if m['provenance'] else ''} pace vs model size ", style="bold")
        t.append(f"{_f(m['slope'], 4, signed=True)} {per}\n" if m["slope"] is not None else f"- ({m['note']})\n")
    for c in reading.get("provenance") or []:
        t.append(f"{c['domain']}{' ' + c['model'] if c['model'] else ''} by provenance ", style="bold")
        t.append(" · ".join(f"{pv} {_f(v, 4, signed=True)}" for pv, v in c["paces"].items()) + "\n")


def protocols_table(p: dict) -> Any:
    doms = p.get("domains") or {}
    if not doms:
        return Text("no scores yet: e evaluates the finished cells")
    protocols = list(dict.fromkeys(k for d in doms.values() for k in d["protocols"]))
    t = Table(title="score (Δ base model) per protocol · Conflict Rate vs the base model (ours)", expand=True)
    t.add_column("protocol")
    for dom in doms:
        t.add_column(dom, justify="right")
    t.add_column("Conflict Rate", justify="right")
    for proto in protocols:
        cells = []
        for d in doms.values():
            v = d["protocols"].get(proto)
            cells.append("-" if not v else f"{_stat(v)} ({_f(v['minus_base'], signed=True)})")
        t.add_row(proto, *cells, _stat((p.get("conflict") or {}).get(proto)))
    t.add_row("base model", *[_f(d["base"]) for d in doms.values()], "-", style="dim")
    return t


def _heat(v: float | None, lim: float, better_up: bool) -> str:
    """A background from red (worse) through grey to green (better) by the change's size."""
    if v is None:
        return ""
    x = max(-1.0, min(1.0, (v if better_up else -v) / lim)) if lim > 0 else 0.0
    grey = 60
    if x >= 0:
        r, g, b = grey - int(grey * x), grey + int((150 - grey) * x), grey - int(grey * x)
    else:
        r, g, b = grey + int((160 - grey) * -x), grey + int(grey * x), grey + int(grey * x)
    return f"white on rgb({r},{g},{b})"


def cross_table(x: dict) -> Any:
    if not x or not x.get("evaluated") or not x.get("trained"):
        return Text("no scores yet: e evaluates the finished cells")
    vals = [x["matrix"][t][d]["minus_base"] for t in x["trained"] for d in x["evaluated"]]
    lim = max((abs(v) for v in vals if v is not None), default=0.0)
    tbl = Table(title="cross-ability: change from the base model (row: trained on; green = better)", expand=True)
    tbl.add_column("trained on")
    for d in x["evaluated"]:
        tbl.add_column(d, justify="right")
    for t in x["trained"]:
        cells = []
        for d in x["evaluated"]:
            v = x["matrix"][t][d]["minus_base"]
            cells.append(Text(f" {_f(v, signed=True)} ", style=_heat(v, lim, x["metric"].get(d) != "nll")))
        tbl.add_row(t, *cells)
    tbl.add_row("base score", *[_f(x["base"].get(d)) for d in x["evaluated"]], style="dim")
    if x.get("mean_transfer") is not None:
        tbl.caption = f"mean change of the other domains: {x['mean_transfer']:+.4f}"
    return tbl


# -- workers ------------------------------------------------------------------------------------------------------


def _load_list(store: Any) -> list[tuple[Any, dict]]:
    from engine.studies import list_studies, status

    return [(s, counts(status(store, s.name))) for s in list_studies(store)]


def _load_detail(store: Any, name: str) -> tuple[dict, dict]:
    from engine.studies import read_study, status

    return read_study(store, name), {r["key"]: r for r in status(store, name)}


def _form_choices(store: Any) -> dict:
    """What the new-study form offers: the store's bases per kind, eval sets, default settings."""
    from dataclasses import asdict

    from engine.evaluation.evaluate import eval_pools
    from engine.mixtures import list_versions
    from engine.studies import list_studies
    from engine.targeting.listing import list_targeted
    from engine.training import LoraSettings, TrainSettings
    from engine.training.runs import DEFAULT_BASE_MODEL

    targeted = list_targeted(store)
    singles = sorted(s.name for s in targeted if "quantile" not in (s.params or {}))
    quantiles = sorted(
        {s.name[: -len(f"-q{s.params['quantile']}")] for s in targeted if "quantile" in (s.params or {})}
    )
    return {
        "targeted": singles,
        "quantiles": quantiles,
        "mixtures": [mv.label for mv in list_versions(store) if mv.recipe.derived is None],
        "sets": [(p["name"], p["n_samples"]) for p in eval_pools(store)],
        "lora": asdict(LoraSettings()),
        "train": asdict(TrainSettings()),
        "default_model": DEFAULT_BASE_MODEL,
        "taken": [s.name for s in list_studies(store)],
    }


def _create(store: Any, spec: dict) -> tuple[str, dict | None, str | None]:
    """Make the study, then its plan (the confirmation's numbers)."""
    from engine.studies import StudyError, new_study, plan

    st = new_study(
        store,
        spec["name"],
        spec["template"],
        spec["base"],
        axes=spec["axes"],
        run=spec["run"],
        options=spec["options"],
        eval=spec["eval"],
    )
    try:
        return st.name, plan(store, st.name).to_dict(), None
    except StudyError as e:
        return st.name, None, str(e)


def _launch(store: Any, name: str) -> dict[str, int]:
    from engine.studies import launch

    out: dict[str, int] = {}
    for x in launch(store, name):
        out[x.what] = out.get(x.what, 0) + 1
    return out


def default_report_dir(store: Any, name: str) -> str:
    """Where a report goes unless the person says otherwise: reports/NAME beside the store file."""
    base = Path(store.path).parent if getattr(store, "path", None) else Path.cwd()
    return str(base / "reports" / name.replace("/", "_"))


class StudiesScreen(JobScreen, WorkbenchScreen, mode="studies"):
    """Studies: grids of training runs read back as curves (docs/studies.md). The top table lists the studies
    (template, base, cells new / queued / running / done / failed, evaluated); the line under it is the
    highlighted study's axes and settings. The grid lists its cells with their state (done, running, queued,
    failed, new; ✓ = evaluated on every eval set of the study), run, items and scores per domain: `enter` on a
    cell opens its evaluation in Results (or its run in Runs when it is not evaluated), `v` its run in Runs.
    Beside it the template's reading: growth curves per domain against volume (log x) with the fitted curve and
    the growth pace; targeted vs random vs the base model per budget; score against quantile distance; score
    across the ratio grid; the protocols table with Conflict Rate; the cross-ability matrix as a colored table.

    `n` makes a study (a form: name, template, base from the store's lists, axes, base model, LoRA and
    training settings, eval sets, items per set), shows its plan (new runs and the estimated time from this
    store's finished runs) and launches it on the run queue once confirmed; `l` launches (again: failed and
    new cells are queued, finished ones kept); `e` evaluates the finished cells (one worker; `c` cancels); `x`
    extends the grid (axis values, seeds, eval sets); `a` shows a growth study's proposed allocation with its
    reasoning and saves it as a mixture version; `o` exports the report (PNG and SVG figures, Markdown and HTML
    with the tables). `workbench study ...` is the CLI twin (`--format json`)."""

    JOB_PANEL = "s-jobbar"

    DEFAULT_CSS = """
    #s-list { height: 6; margin-top: 1; }
    #s-info { height: 2; padding: 0 1; color: $text-muted; }
    #s-empty { height: 1fr; padding: 0 2; }
    #s-main { height: 1fr; }
    #s-grid { width: 1fr; height: 1fr; }
    #s-side { width: 54; height: 1fr; }
    #s-plot { height: 1fr; }
    #s-reading { height: auto; max-height: 12; padding: 0 1; }
    #s-jobbar { height: 1; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.studies: list[tuple[Any, dict]] = []  # (engine.studies.Study, counts)
        self.selected: str | None = None
        self.result: dict | None = None  # read_study of `selected`
        self.progress: dict[str, dict] = {}  # cell key -> status row

    def compose(self) -> ComposeResult:
        yield from self.compose_header()
        yield NavTable(id="s-list", cursor_type="row", zebra_stripes=True)
        yield Static("", id="s-info")
        yield Markdown(EMPTY_TEXT, id="s-empty")
        with Horizontal(id="s-main"):
            yield NavTable(id="s-grid", cursor_type="row", zebra_stripes=True)
            with Vertical(id="s-side"):
                yield PlotextPlot(id="s-plot")
                yield Static("", id="s-reading")
        yield JobPanel(
            "n: new study · l: launch · e: evaluate · x: extend · a: allocation · o: report",
            status_id="s-job",
            progress_id="s-progress",
            id="s-jobbar",
        )
        yield from self.compose_footer()

    def on_mount(self) -> None:
        super().on_mount()
        t = self.query_one("#s-list", DataTable)
        for key, label, width in (
            ("name", "study", 16),
            ("template", "template", 9),
            ("base", "base", 16),
            ("cells", "cells", 5),
            ("new", "new", 4),
            ("queued", "queued", 6),
            ("running", "running", 7),
            ("done", "done", 4),
            ("failed", "failed", 6),
            ("evaluated", "evaluated", 9),
        ):
            t.add_column(label, key=key, width=width)
        self._show_empty(True)
        t.focus()
        self.set_interval(RELOAD_S, self._follow)

    def _follow(self) -> None:
        """While this area is shown and a cell of its study is queued or running, reload (states and steps)."""
        res = self.result
        if res is None or not self.is_current:
            return
        if any(c["state"] in ("queued", "running") for c in res["cells"]):
            self.on_data_changed("runs")

    # -- loading -----------------------------------------------------------------------------------------
    def on_data_changed(self, what: str) -> None:
        self.load_from_store(what, _load_list, self._listed, "s-list")

    def _show_empty(self, empty: bool) -> None:
        self.query_one("#s-empty").display = empty
        for wid in ("#s-list", "#s-main", "#s-info"):
            self.query_one(wid).display = not empty

    def _listed(self, studies: list[tuple[Any, dict]]) -> None:
        self.studies = list(studies)
        names = [s.name for s, _ in studies]
        self._show_empty(not names)
        t = self.query_one("#s-list", DataTable)
        t.clear()
        for s, c in studies:
            t.add_row(
                s.name,
                s.template,
                base_name(s),
                str(c["cells"]),
                *[
                    Text(str(c[k]), style=STATE_STYLE.get(k, "") if c[k] else "dim")
                    for k in ("new", "queued", "running", "done", "failed")
                ],
                Text(f"{c['evaluated']}/{c['cells']}", style="bold green" if c["evaluated"] else "dim"),
                key=s.name,
            )
        if self.selected not in names:
            self.selected = names[-1] if names else None
        if self.selected is None:
            self.result = None
            self.query_one("#s-info", Static).update("")
            return
        t.move_cursor(row=names.index(self.selected))
        self.load_detail()

    def load_detail(self) -> None:
        store, name = self.store, self.selected
        if store is None or name is None:
            return
        self.run_engine(lambda: _load_detail(store, name), self._show_detail, group="s-detail", exclusive=True)

    def study(self) -> Any:
        return next((s for s, _ in self.studies if s.name == self.selected), None)

    def _show_detail(self, res: tuple) -> None:
        result, progress = res
        if result["study"]["name"] != self.selected:
            return
        self.result, self.progress = result, progress
        st = result["study"]
        axes = " · ".join(f"{a}: {', '.join(map(str, v))}" for a, v in st["axes"].items())
        s = st["settings"]
        train = s.get("train") or {}
        length = f"{train['max_steps']} steps" if train.get("max_steps") else f"{train.get('epochs', 1)} epoch(s)"
        info = (
            f"{st['name']} ({st['template']} of {base_name(self.study()) if self.study() else '?'}) · {axes}\n"
            f"model {s.get('base_model') or 'default'} · {length} · eval sets "
            f"{', '.join(st['eval'].get('sets') or []) or 'none (x adds them)'}"
        )
        self.query_one("#s-info", Static).update(Text(info, overflow="ellipsis"))
        self._fill_grid()
        self._draw()

    def _fill_grid(self) -> None:
        res = self.result
        t = self.query_one("#s-grid", DataTable)
        keep = t.cursor_row
        doms = sorted({d for c in res["cells"] for d in c["scores"]})[:MAX_DOMAINS]
        t.clear(columns=True)
        for key, label, width in (
            ("cell", "cell", 16),
            ("state", "state", 11),
            ("eval", "ev", 2),
            ("run", "run", 4),
            ("items", "items", 5),
        ):
            t.add_column(label, key=key, width=width)
        for d in doms:
            t.add_column(d[:6], key=f"d:{d}", width=6)
        for c in res["cells"]:
            st, ev = display_state(c["state"])
            p = (self.progress.get(c["key"]) or {}).get("progress") or {}
            shown = f"{st} {p.get('step', 0)}/{p['total']}" if st == "running" and p.get("total") else st
            t.add_row(
                short_key(c),
                Text(shown, style=STATE_STYLE.get(st, "")),
                Text("✓", style="bold green") if ev else Text("-", style="dim"),
                str(c["run_id"]) if c["run_id"] is not None else "-",
                f"{c['volume']['n_items']:,}" if c["arm"] != "base" and c["run_id"] is not None else "-",
                *[_f((c["scores"].get(d) or {}).get("value")) for d in doms],
                key=c["key"],
            )
        if t.row_count:
            t.move_cursor(row=min(max(keep, 0), t.row_count - 1))

    def _draw(self) -> None:
        res = self.result
        plot = self.query_one("#s-plot", PlotextPlot)
        template = res["study"]["template"]
        drawn = draw_reading(plot.plt, template, res["reading"])
        if not drawn and template not in ("protocols", "cross"):
            plot.plt.title("no scores yet: e evaluates the finished cells")
        plot.display = template not in ("protocols", "cross")
        plot.refresh()
        self.query_one("#s-reading", Static).update(reading_text(template, res["reading"]))

    # -- events ------------------------------------------------------------------------------------------
    @on(DataTable.RowHighlighted, "#s-list")
    def _row(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is None or event.row_key.value is None:
            return
        name = str(event.row_key.value)
        if name != self.selected:
            self.selected = name
            self.load_detail()

    @on(DataTable.RowSelected, "#s-list")
    def _list_selected(self, _event: DataTable.RowSelected) -> None:
        self.query_one("#s-grid", DataTable).focus()

    @on(DataTable.RowSelected, "#s-grid")
    async def _grid_selected(self, _event: DataTable.RowSelected) -> None:
        await self.action_drill()

    def cell(self) -> dict | None:
        """The highlighted cell of the grid."""
        t = self.query_one("#s-grid", DataTable)
        if self.result is None or not t.row_count:
            return None
        key = t.coordinate_to_cell_key((t.cursor_row, 0)).row_key.value
        return next((c for c in self.result["cells"] if c["key"] == key), None)

    # -- drill-down --------------------------------------------------------------------------------------
    async def action_drill(self) -> None:
        """enter: the highlighted cell's evaluation in Results when it has one, else its run in Runs."""
        c = self.cell()
        if c is None:
            return
        if c["run_id"] is None:
            self.app.notify(f"cell {c['key']!r} has no run yet: l launches the study", severity="warning")
            return
        if c["scores"]:
            await self._jump("results", "#r-table", lambda k: k.startswith(f"{c['run_id']}|"), f"run {c['run_id']}")
        else:
            await self.action_open_run()

    async def action_open_run(self) -> None:
        """v: the highlighted cell's run in Runs."""
        c = self.cell()
        if c is None or c["run_id"] is None:
            self.app.notify("this cell has no run yet: l launches the study", severity="warning")
            return
        await self._jump("runs", "#r-runs", lambda k: k == str(c["run_id"]), f"run {c['run_id']}")

    async def _jump(self, mode: str, table_id: str, match: Callable[[str], bool], what: str) -> None:
        """Switch to `mode` and put its table's cursor on the first row whose key matches, once the area has
        loaded it (a fresh area loads in a worker; it is polled for a few seconds)."""
        app = self.app
        await app.switch_mode(mode)
        state: dict[str, Any] = {"tries": 0, "timer": None}

        def look() -> None:
            state["tries"] += 1
            screen = app.screen
            found = None
            if getattr(screen, "MODE", "") == mode:
                try:
                    t = screen.query_one(table_id, DataTable)
                except NoMatches:
                    t = None
                if t is not None:
                    found = next((k for k in t.rows if k.value is not None and match(str(k.value))), None)
                    if found is not None:
                        t.move_cursor(row=t.get_row_index(found))
                        t.focus()
            if found is not None or state["tries"] >= JUMP_TRIES or getattr(screen, "MODE", "") != mode:
                state["timer"].stop()
                if found is None and getattr(screen, "MODE", "") == mode:
                    app.notify(f"{what} is not listed in {mode.title()}", severity="warning")

        state["timer"] = app.set_interval(0.1, look)
        look()

    # -- actions -----------------------------------------------------------------------------------------
    def action_refresh(self) -> None:
        self.on_data_changed("studies")

    def _need_study(self) -> str | None:
        if self.selected is None:
            self.app.notify("no study yet: n makes one", severity="warning")
        return self.selected

    def action_new_study(self) -> None:
        self.open_new_study(None)

    def open_new_study(self, defaults: dict | None) -> None:
        """The new-study form (defaults: {"template", "base", "name"} to start from), then the plan to confirm,
        then the launch."""
        store = self.store
        if store is None:
            return

        def show(choices: dict) -> None:
            def create(spec: dict):
                return _create(store, spec)

            self.app.push_screen(StudyDialog(choices, create, defaults), self._made)

        self.run_engine(lambda: _form_choices(store), show, group="s-form", exclusive=True)

    def _made(self, made: tuple | None) -> None:
        if not made:
            return
        name, plan, error = made
        self.selected = name
        self.app.data_changed("studies")  # type: ignore[attr-defined]
        self._confirm_launch(name, plan, error, saved=True)

    def _confirm_launch(self, name: str, plan: dict | None, error: str | None, *, saved: bool) -> None:
        def answered(ok) -> None:
            if ok:
                self._do_launch(name)
            elif saved:
                self.app.notify(f"study {name} saved, not launched: l launches it", title="Studies")

        self.app.push_screen(
            ConfirmDialog(f"Launch study {name}?", plan_summary(name, plan, error, saved=saved), "Launch"),
            answered,
        )

    def action_launch(self) -> None:
        """l: the plan (new runs, estimated time) to confirm, then every cell without a run is queued."""
        name, store = self._need_study(), self.store
        if name is None or store is None:
            return

        def planned(p) -> None:
            if p["n_new"] == 0:
                self.app.notify(f"study {name}: every cell has its run (queued, running or done)", title="Studies")
                return
            self._confirm_launch(name, p, None, saved=False)

        def load():
            from engine.studies import plan

            return plan(store, name).to_dict()

        self.run_engine(load, planned, group="s-action")

    def _do_launch(self, name: str) -> None:
        store = self.store

        def done(c: dict[str, int]) -> None:
            text = ", ".join(f"{n} {w}" for w, n in sorted(c.items()))
            self.panel.set_text(f"study {name} launched: {text} · the run queue trains the cells (Runs, 6)")
            self.app.data_changed("runs")  # type: ignore[attr-defined]

        self.run_engine(lambda: _launch(store, name), done, group="s-action")

    def action_evaluate(self) -> None:
        """e: evaluate every finished cell on the study's eval sets in one worker (progress; c cancels)."""
        name = self._need_study()
        if name is None or self._busy():
            return
        store = self.store

        def run(progress, token):
            from engine.studies import evaluate_study

            return evaluate_study(store, name, progress=progress, cancel=token)

        def done(res: dict) -> None:
            waiting = f"; {len(res['waiting'])} cell(s) not finished yet" if res["waiting"] else ""
            self.panel.finish(f"study {name}: {len(res['evaluated'])} cell(s) evaluated{waiting}")
            self.app.data_changed("evaluations")  # type: ignore[attr-defined]

        def failed(error: BaseException) -> None:
            if isinstance(error, Cancelled):
                self.panel.finish(f"evaluation of {name} cancelled; finished chunks are kept (e resumes)", "cancelled")
                return
            self.panel.fail(error)

        self.panel.run(
            "evaluate",
            run,
            done,
            failed,
            text=f"evaluating study {name}: preparing…",
            label=f"evaluate {name}",
            suffix=" · c cancels",
            group="s-job",
        )

    def action_cancel_job(self) -> None:
        if self.job is None:
            self.app.notify("no job is running")
            return
        self.panel.cancel("evaluation: cancelling (finished chunks are kept)…")

    def action_extend(self) -> None:
        """x: more axis values, seeds or eval sets; the finished cells stay."""
        name, store = self._need_study(), self.store
        st = self.study()
        if name is None or store is None or st is None:
            return

        def loaded(sets: list) -> None:
            def chosen(v: dict | None) -> None:
                if not v:
                    return

                def work():
                    from engine.studies import extend

                    return extend(store, name, axes=v["axes"], eval_sets=v["sets"] or None)

                def done(new: list) -> None:
                    self.app.notify(
                        f"study {name}: {len(new)} new cell(s)" + ("; l launches them" if new else ""),
                        title="Studies",
                    )
                    self.app.data_changed("studies")  # type: ignore[attr-defined]

                self.run_engine(work, done, group="s-action")

            self.app.push_screen(ExtendDialog(st.to_dict(), sets), chosen)

        def load():
            from engine.evaluation.evaluate import eval_pools

            return [(p["name"], p["n_samples"]) for p in eval_pools(store)]

        self.run_engine(load, loaded, group="s-action")

    def action_allocate(self) -> None:
        """a: a growth study's proposed allocation with its reasoning; saved as a mixture version once confirmed."""
        name, store = self._need_study(), self.store
        if name is None or store is None:
            return

        def load():
            from engine.mixtures import list_versions
            from engine.studies import allocate_study

            return allocate_study(store, name), {mv.name for mv in list_versions(store)}

        def show(res: tuple) -> None:
            proposal, taken = res

            def save(mixture: str | None) -> None:
                if not mixture:
                    return

                def work():
                    from engine.studies import get_study, save_allocation

                    a = proposal["allocation"]
                    return save_allocation(store, get_study(store, name), a["amounts"], a["reasoning"], mixture)

                def done(mv) -> None:
                    self.app.notify(f"saved as mixture {mv.label} (our proposal)", title="Studies")
                    self.app.data_changed("mixtures")  # type: ignore[attr-defined]

                self.run_engine(work, done, group="s-action")

            self.app.push_screen(AllocationDialog(name, proposal, taken), save)

        self.run_engine(load, show, group="s-action")

    def action_export(self) -> None:
        """o: the study as a report (PNG and SVG figures, report.md and report.html) in a folder."""
        name, store = self._need_study(), self.store
        if name is None or store is None or self._busy():
            return

        def chosen(folder: str | None) -> None:
            if not folder:
                return

            def run(_progress, _token):
                from engine.studies.report import write_report

                return write_report(store, name, folder)

            def done(res: dict) -> None:
                self.panel.finish(f"report of {name}: {len(res['files'])} files in {res['folder']}")
                self.app.notify(f"report written: {res['markdown']}", title="Studies", timeout=8)

            self.panel.run(
                "report", run, done, text=f"report of {name}: drawing the figures…", label="report", group="s-job"
            )

        self.app.push_screen(
            InputDialog(
                f"Export study {name}",
                "folder (made if missing): report.md, report.html, figures",
                default_report_dir(store, name),
                ok="Export",
            ),
            chosen,
        )

    def palette_commands(self):
        for s, c in self.studies:
            yield (
                f"Studies: show {s.name}",
                f"{s.template} of {base_name(s)}: {c['cells']} cells, {c['evaluated']} evaluated",
                lambda n=s.name: self._pick(n),
            )

    def _pick(self, name: str) -> None:
        names = [s.name for s, _ in self.studies]
        if name in names:
            self.query_one("#s-list", DataTable).move_cursor(row=names.index(name))
