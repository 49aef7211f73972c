"""A study as a report to share outside the terminal: PNG and SVG figures (matplotlib) and a Markdown page (and
the same page as HTML) with the tables: the study's settings, the plan, every cell with its state and scores, and
the template's reading (growth points and fits with their errors, budgets against random and the base model,
quantiles, ratios, protocols with Conflict Rate, the cross-ability matrix).

`build(result, plan)` is pure (the page's blocks and the figures to draw, from `read_study`'s result and
`plan(...).to_dict()`), so the tables can be checked from hand-made rows; `write_report(store, name, out)` reads
the study, draws and writes the files.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.studies.reading import score_table
from engine.studies.spec import StudyError

if TYPE_CHECKING:
    from engine.core.store import Store

FIG_FORMATS = ("png", "svg")
DPI = 110
COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]


# -- formatting ---------------------------------------------------------------------------------------------------


def num(v: Any, digits: int = 4) -> str:
    """A number as the tables write it ("-" for none)."""
    if v is None:
        return "-"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        return f"{v:.{digits}g}" if abs(v) >= 1e4 or (v != 0 and abs(v) < 1e-3) else f"{v:.{digits}f}"
    return str(v)


def stat(s: dict | None) -> str:
    """mean ± sd (n) of a reading's stats, "-" without a mean."""
    if not s or s.get("mean") is None:
        return "-"
    out = num(s["mean"])
    if s.get("sd") is not None:
        out += f" ± {s['sd']:.2g}"
    return out


def fit_text(f: dict | None) -> str:
    """A fitted curve with each parameter's standard error, e.g. `0.1 ± 0.02 + 0.05 ± 0.004 · ln x`."""
    if not f:
        return "-"
    p, e = f["params"], f.get("stderr") or {}

    def pm(k: str) -> str:
        return f"{p[k]:.4g}" + (f" ± {e[k]:.2g}" if e.get(k) is not None else "")

    if f["kind"] == "loglinear":
        return f"{pm('a')} + {pm('b')} · ln x"
    return f"{pm('c')} + {pm('a')} · x^-({pm('alpha')})"


def _fmt_s(s: float | None) -> str:
    if s is None:
        return "-"
    s = int(round(s))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


# -- the page -----------------------------------------------------------------------------------------------------


@dataclass
class Block:
    """One part of the page: kind "h1" | "h2" | "h3" | "p" | "list" | "table" | "figure"."""

    kind: str
    text: str = ""
    items: list = field(default_factory=list)  # list: lines; table: rows (lists of cells)
    headers: list = field(default_factory=list)  # table
    figure: str = ""  # figure: the figure's name (its files are NAME.png, NAME.svg)


@dataclass
class Figure:
    """A figure to draw: its name (file stem), kind (the template's reading it draws) and the data it needs."""

    name: str
    kind: str
    title: str
    data: Any


@dataclass
class Report:
    study: str
    blocks: list[Block]
    figures: list[Figure]


def _settings_rows(study: dict) -> list[list[str]]:
    rows = [["template", study["template"]]]
    base = study["base"]
    if base.get("mixture"):
        per = ", ".join(f"{d} {n:,}" for d, n in (base.get("per_domain") or {}).items())
        rows.append(["base", f"mixture {base['mixture']} ({base.get('budget', 0):,} {base.get('unit', '')}; {per})"])
    elif base.get("selection"):
        rows.append(["base", f"targeted selection {base['selection']} ({base.get('n', 0):,} samples)"])
    elif base.get("selections"):
        rows.append(["base", f"distance quantiles {base['selections']}-q0 .. -q{base.get('n_quantiles', 1) - 1}"])
    if base.get("query"):
        rows.append(["query set", str(base["query"])])
    for axis, values in study["axes"].items():
        rows.append([f"axis: {axis}", ", ".join(num(v) if isinstance(v, float) else str(v) for v in values)])
    s = study["settings"]
    if study["axes"].get("model"):
        sizes = s.get("model_sizes") or {}
        rows.append(["base models", "; ".join(f"{m} ({_size_text(sizes.get(m))})" for m in study["axes"]["model"])])
    else:
        rows.append(["base model", str(s.get("base_model") or "the default (workbench train's)")])
    for key in ("protocol", "order", "domains", "total", "general", "replay"):
        if s.get(key) not in (None, [], ""):
            v = s[key]
            rows.append([key, ", ".join(map(str, v)) if isinstance(v, list) else str(v)])
    for key in ("lora", "train"):
        if s.get(key):
            rows.append([key, ", ".join(f"{k} {v}" for k, v in s[key].items())])
    ev = study["eval"]
    rows.append(["eval sets", ", ".join(ev.get("sets") or []) or "none yet"])
    if ev.get("max_items"):
        rows.append(["items per eval set", str(ev["max_items"])])
    return rows


def _plan_blocks(plan: dict | None, error: str | None) -> list[Block]:
    out = [Block("h2", "Plan")]
    if plan is None:
        out.append(Block("p", f"No plan: {error}"))
        return out
    rows = [
        [
            c["key"],
            c["state"],
            num(c["run_id"]) if c["run_id"] is not None else "-",
            num(c["n_items"]),
            num(c["n_tokens"]),
            ", ".join(f"{d} {n}" for d, n in (c["per_domain"] or {}).items()) or "-",
            _fmt_s(c["estimate_s"]) if c["arm"] != "base" else "-",
        ]
        for c in plan["cells"]
    ]
    total = f"; about {_fmt_s(plan['estimate_s'])} of training left" if plan.get("estimate_s") is not None else ""
    out.append(
        Block("p", f"{plan['n_runs']} training run(s) in the grid and the base model; {plan['n_new']} to queue{total}.")
    )
    out.append(Block("table", headers=["cell", "state", "run", "items", "tokens", "per domain", "time"], items=rows))
    if plan.get("notes"):
        out.append(Block("list", items=list(plan["notes"])))
    return out


def _cells_block(cells: list[dict]) -> list[Block]:
    table = score_table(cells)
    doms = [k for k in (table[0] if table else {}) if k not in ("cell", "arm", "state", "run", "items")]
    rows = [
        [r["cell"], r["arm"], r["state"] or "-", num(r["run"]) if r["run"] else "-", num(r["items"])]
        + [num(r[d]) for d in doms]
        for r in table
    ]
    metrics = {}
    for c in cells:
        for d, s in (c.get("scores") or {}).items():
            metrics.setdefault(d, s.get("metric"))
    note = (
        "Scores per eval domain: "
        + ", ".join(f"{d} ({metrics.get(d) or 'accuracy'})" for d in doms)
        + "; accuracy is higher-better, nll lower-better."
        if doms
        else "No cell is evaluated yet: `workbench study eval NAME` (or `e` in the Studies area)."
    )
    return [
        Block("h2", "Cells and scores"),
        Block("p", note),
        Block("table", headers=["cell", "arm", "state", "run", "items", *doms], items=rows),
    ]


def _growth(reading: dict) -> tuple[list[Block], list[Figure]]:
    g = reading.get("growth") or {}
    out = [Block("h2", "Growth curves per domain")]
    if not g:
        return out + [Block("p", "No scores yet.")], []
    out.append(
        Block(
            "p",
            "Score against volume (log x) per domain, the spread across seeds, a log-linear fit y = a + b·ln x (b is "
            "the growth pace; per doubling b·ln 2) and a saturating power law y = c + a·x^(-alpha), each with its "
            "error (parameters ± standard error, RMSE, R²). The base model is volume 0, not in the fits.",
        )
    )
    out.append(Block("figure", "growth curves", figure="growth"))
    pace_rows = []
    for dom, d in g.items():
        pace = d.get("pace")
        pace_rows.append(
            [
                dom,
                d["metric"],
                num(pace["per_doubling"]) if pace else "-",
                num(pace["stderr"] * math.log(2)) if pace and pace.get("stderr") is not None else "-",
                num(d.get("base")),
            ]
        )
    out.append(Block("h3", "Growth pace"))
    out.append(Block("table", headers=["domain", "metric", "per doubling", "± (se)", "base model"], items=pace_rows))
    for dom, d in g.items():
        out.append(Block("h3", f"{dom} ({d['metric']}; x = {d['x']})"))
        out.append(
            Block(
                "table",
                headers=["fraction", "x", "score", "seeds"],
                items=[[num(p["fraction"]), num(round(p["x"])), stat(p), str(p["n"])] for p in d["points"]],
            )
        )
        fits = []
        for label, f in (("log-linear", d.get("loglinear")), ("power law", d.get("power"))):
            if f:
                fits.append([label, fit_text(f), num(f["rmse"]), num(f.get("r2")), str(f["n"]), f.get("note") or ""])
            else:
                need = 2 if label == "log-linear" else 3
                fits.append([label, f"- (needs {need} volumes)", "-", "-", "-", ""])
        out.append(Block("table", headers=["fit", "curve", "RMSE", "R²", "points", "note"], items=fits))
    figures = [Figure("growth", "growth", "score vs volume per domain", g)]
    series = reading.get("series") or []
    if len(series) > 1:
        out[1:1] = [Block("p", f"The curves and tables of this section are those of {_series_label(series[0])}.")]
        blocks, fig = _growth_series(reading)
        out += blocks
        figures.append(fig)
    return out, figures


def _series_label(s: dict) -> str:
    parts = [
        f"model {s['model_label']}" if s.get("model_label") else "",
        f"{s['provenance']} data" if s.get("provenance") else "",
    ]
    return ", ".join(p for p in parts if p) or "the study"


def _size_text(n: Any) -> str:
    if not n:
        return "unknown"
    for unit, k in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= k:
            return f"{n / k:.3g}{unit}"
    return str(n)


def _growth_series(reading: dict) -> tuple[list[Block], Figure]:
    """A growth study split by base model and/or provenance: every series' pace, its curves beside the others',
    the pace against model size and the provenances compared."""
    series = reading["series"]
    out = [
        Block("h2", "Growth per series (base model, data provenance)"),
        Block(
            "p",
            "Each series is the growth grid trained from one base model on the base mixture's data of one provenance "
            "(drawn from pools of that provenance only), with its own base-model score. Pace: the log-linear slope "
            "per doubling of the domain's data.",
        ),
        Block("figure", "growth per series", figure="growth-series"),
        Block(
            "table",
            headers=["domain", "model", "parameters", "provenance", "per doubling", "± (se)"],
            items=[
                [
                    d,
                    p["model"] or "-",
                    _size_text(s["params"]) if s["model"] else "-",
                    p["provenance"] or "-",
                    num(p["pace"]),
                    num(p["stderr"]),
                ]
                for d, ps in (reading.get("paces") or {}).items()
                for p, s in zip(ps, series)
            ],
        ),
    ]
    if reading.get("model_size"):
        out.append(Block("h3", "Growth pace against model size"))
        out.append(
            Block(
                "p",
                "The change of the pace per doubling with model size: the least-squares slope against log10 of the "
                "parameters (per 10x parameters) when every model's size is known, else against the models' order "
                "as given (per step up). Ours: DoIT reports the pace per size, not a slope.",
            )
        )
        out.append(
            Block(
                "table",
                headers=["domain", "provenance", "pace by model", "slope", "basis", "note"],
                items=[
                    [
                        m["domain"],
                        m["provenance"] or "-",
                        "; ".join(f"{x['model']} ({_size_text(x['params'])}): {num(x['pace'])}" for x in m["by_model"]),
                        num(m["slope"]),
                        m["basis"],
                        m["note"],
                    ]
                    for m in reading["model_size"]
                ],
            )
        )
    if reading.get("provenance"):
        out.append(Block("h3", "Human vs synthetic data"))
        out.append(
            Block(
                "p",
                "Per base model and domain: each provenance's growth pace and its score at its largest volume "
                "(items of the domain). DoIT compares human-curated with synthetic data per ability; here each "
                "curve is drawn from the base mixture's pools of that provenance, at fractions of its own volume.",
            )
        )
        out.append(
            Block(
                "table",
                headers=["model", "domain", "metric", "pace per provenance", "largest volume"],
                items=[
                    [
                        c["model"] or "-",
                        c["domain"],
                        c["metric"],
                        "; ".join(f"{pv}: {num(v)}" for pv, v in c["paces"].items()),
                        "; ".join(
                            f"{pv}: {num(t['mean'])} at {num(round(t['x']))}" if t else f"{pv}: -"
                            for pv, t in c["largest"].items()
                        ),
                    ]
                    for c in reading["provenance"]
                ],
            )
        )
    data = {"series": [{"label": _series_label(s), "growth": s["growth"]} for s in series]}
    return out, Figure("growth-series", "growth_series", "score vs volume per domain, per series", data)


def _budgets(reading: dict) -> tuple[list[Block], list[Figure]]:
    b = reading.get("budgets") or {}
    out = [Block("h2", "Targeted vs random vs the base model, per budget")]
    if not b:
        return out + [Block("p", "No scores yet.")], []
    out.append(Block("figure", "budget curves", figure="budgets"))
    for dom, d in b.items():
        out.append(Block("h3", f"{dom} ({d['metric']}); base model {num(d['base'])}"))
        out.append(
            Block(
                "table",
                headers=["budget", "targeted", "random", "targeted - random", "targeted - base"],
                items=[
                    [
                        num(x["budget"]),
                        stat(x["targeted"]),
                        stat(x["random"]),
                        num(x["targeted_minus_random"]),
                        num(x["targeted_minus_base"]),
                    ]
                    for x in d["budgets"]
                ],
            )
        )
    return out, [Figure("budgets", "budgets", "score per budget", b)]


def _quantiles(reading: dict) -> tuple[list[Block], list[Figure]]:
    q = reading.get("quantiles") or {}
    out = [Block("h2", "Score vs distance quantile")]
    if not q:
        return out + [Block("p", "No scores yet.")], []
    out.append(Block("figure", "score vs quantile distance", figure="quantiles"))
    for dom, d in q.items():
        rho = d.get("spearman_chamfer")
        out.append(
            Block(
                "h3",
                f"{dom} ({d['metric']}); random {stat(d['random'])}; base model {num(d['base'])}"
                + (f"; Spearman(Chamfer, score) {rho:+.3f}" if rho is not None else ""),
            )
        )
        out.append(
            Block(
                "table",
                headers=["quantile", "Chamfer", "OT", "score"],
                items=[[str(r["quantile"]), num(r["chamfer"]), num(r["ot"]), stat(r)] for r in d["quantiles"]],
            )
        )
    return out, [Figure("quantiles", "quantiles", "score vs distance quantile", q)]


def _ratio(reading: dict) -> tuple[list[Block], list[Figure]]:
    r = reading.get("ratio") or {}
    out = [Block("h2", "Score across the ratio grid")]
    if not r:
        return out + [Block("p", "No scores yet.")], []
    out.append(Block("figure", "score per domain across the ratio grid", figure="ratio"))
    ratios = sorted({x["ratio"] for d in r.values() for x in d["ratios"]})
    share = next((d["share_of"] for d in r.values() if d.get("share_of")), "the first domain")
    rows = []
    for dom, d in r.items():
        by = {x["ratio"]: x for x in d["ratios"]}
        rows.append([dom, *[stat(by.get(k)) for k in ratios]])
    out.append(Block("table", headers=["domain", *[f"{share} {num(k)}" for k in ratios]], items=rows))
    out.append(
        Block(
            "table",
            headers=["domain", "metric", "peaks at", "line slope", "R²", "base model"],
            items=[
                [
                    dom,
                    d["metric"],
                    num(d["peak_ratio"]),
                    num((d.get("line") or {}).get("slope")),
                    num((d.get("line") or {}).get("r2")),
                    num(d["base"]),
                ]
                for dom, d in r.items()
            ],
        )
    )
    return out, [Figure("ratio", "ratio", f"score vs share of {share}", r)]


def _protocols(reading: dict) -> tuple[list[Block], list[Figure]]:
    p = reading.get("protocols") or {}
    out = [Block("h2", "Protocols: per-domain scores and Conflict Rate")]
    doms = p.get("domains") or {}
    if not doms:
        return out + [Block("p", "No scores yet.")], []
    protocols = list(dict.fromkeys(k for d in doms.values() for k in d["protocols"]))
    rows = []
    for proto in protocols:
        row = [proto]
        for d in doms.values():
            v = d["protocols"].get(proto)
            row.append("-" if not v else f"{stat(v)} ({num(v['minus_base'])})")
        row.append(stat((p.get("conflict") or {}).get(proto)))
        rows.append(row)
    rows.append(["base model", *[num(d["base"]) for d in doms.values()], "-"])
    out.append(
        Block(
            "p",
            "Each cell: the score (mean ± sd over seeds) and, in brackets, its change from the base model. Conflict "
            "Rate against the base model is ours (docs/evaluation.md).",
        )
    )
    out.append(Block("table", headers=["protocol", *doms, "Conflict Rate"], items=rows))
    out.append(Block("figure", "scores per protocol", figure="protocols"))
    return out, [Figure("protocols", "protocols", "scores per protocol and Conflict Rate", p)]


def _cross(reading: dict) -> tuple[list[Block], list[Figure]]:
    x = reading.get("cross") or {}
    out = [Block("h2", "Cross-ability matrix")]
    if not x or not x.get("evaluated") or not x.get("trained"):
        return out + [Block("p", "No scores yet.")], []
    out.append(
        Block(
            "p",
            "Each domain trained alone (row) against each eval domain (column): the score's change from the base "
            "model (mean over seeds). The diagonal is a domain's gain from its own data.",
        )
    )
    rows = [[t, *[num(x["matrix"][t][d]["minus_base"]) for d in x["evaluated"]]] for t in x["trained"]]
    rows.append(["base model score", *[num(x["base"].get(d)) for d in x["evaluated"]]])
    out.append(Block("table", headers=["trained on", *x["evaluated"]], items=rows))
    if x.get("mean_transfer") is not None:
        out.append(Block("p", f"Mean change of the other domains (better = positive): {x['mean_transfer']:+.4f}."))
    out.append(Block("figure", "cross-ability matrix", figure="cross"))
    return out, [Figure("cross", "cross", "change from the base model", x)]


READERS = {
    "growth": _growth,
    "targeted": _budgets,
    "quantiles": _quantiles,
    "ratio": _ratio,
    "protocols": _protocols,
    "cross": _cross,
}


def build(result: dict, plan: dict | None = None, plan_error: str | None = None) -> Report:
    """The page and its figures from `read_study(...)` and `plan(...).to_dict()` (pure)."""
    study = result["study"]
    cells = result["cells"]
    states: dict[str, int] = {}
    for c in cells:
        states[c["state"]] = states.get(c["state"], 0) + 1
    blocks = [
        Block("h1", f"Study {study['name']}"),
        Block(
            "p",
            f"{study['template']} study, {len(cells)} cells: "
            + ", ".join(f"{n} {s}" for s, n in sorted(states.items()))
            + (f". Made {str(study['created_at'])[:19]}." if study.get("created_at") else ".")
            + (f" Note: {study['note']}" if study.get("note") else ""),
        ),
        Block("h2", "Settings"),
        Block("table", headers=["setting", "value"], items=_settings_rows(study)),
    ]
    reading_blocks, figures = READERS[study["template"]](result["reading"])
    blocks += reading_blocks
    blocks += _cells_block(cells)
    blocks += _plan_blocks(plan, plan_error)
    return Report(study["name"], blocks, figures)


# -- Markdown and HTML --------------------------------------------------------------------------------------------


def _md_cell(text: Any) -> str:
    return " ".join(str(text).split()).replace("|", "\\|") or " "


def to_markdown(report: Report, figure_files: dict[str, str]) -> str:
    """The page as Markdown; a figure links its PNG (figure_files: name -> file name), or says it was not drawn."""
    out: list[str] = []
    for b in report.blocks:
        if b.kind in ("h1", "h2", "h3"):
            out.append("#" * int(b.kind[1]) + " " + b.text)
        elif b.kind == "p":
            out.append(b.text)
        elif b.kind == "list":
            out.append("\n".join(f"- {x}" for x in b.items))
        elif b.kind == "table":
            lines = ["| " + " | ".join(_md_cell(h) for h in b.headers) + " |"]
            lines.append("|" + "|".join("---" for _ in b.headers) + "|")
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in b.items]
            out.append("\n".join(lines))
        elif b.kind == "figure":
            f = figure_files.get(b.figure)
            if f:
                svg = f.rsplit(".", 1)[0] + ".svg"
                out.append(f"![{b.text}]({f})\n\n({b.text}: [SVG]({svg}))")
            else:
                out.append(f"({b.text}: not drawn)")
    return "\n\n".join(out) + "\n"


HTML_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 70em; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.2em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; }
th { background: #f2f2f2; }
img { max-width: 100%; }
"""


def to_html(report: Report, figure_files: dict[str, str]) -> str:
    """The page as one HTML file; figures as their SVG files (beside it)."""
    e = html.escape
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Study {e(report.study)}</title><style>{HTML_STYLE}</style></head><body>",
    ]
    for b in report.blocks:
        if b.kind in ("h1", "h2", "h3"):
            out.append(f"<{b.kind}>{e(b.text)}</{b.kind}>")
        elif b.kind == "p":
            out.append(f"<p>{e(b.text)}</p>")
        elif b.kind == "list":
            out.append("<ul>" + "".join(f"<li>{e(str(x))}</li>" for x in b.items) + "</ul>")
        elif b.kind == "table":
            head = "".join(f"<th>{e(str(h))}</th>" for h in b.headers)
            body = "".join("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in row) + "</tr>" for row in b.items)
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif b.kind == "figure":
            f = figure_files.get(b.figure)
            if f:
                svg = f.rsplit(".", 1)[0] + ".svg"
                out.append(
                    f'<figure><img src="{e(svg)}" alt="{e(b.text)}"><figcaption>{e(b.text)}</figcaption></figure>'
                )
            else:
                out.append(f"<p>({e(b.text)}: not drawn)</p>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


# -- writing ------------------------------------------------------------------------------------------------------


def write_report(store: Store, name: str, out: str | Path, *, html_page: bool = True) -> dict:
    """Write study `name` as a report into folder `out` (made when missing; files of the same names replaced):
    report.md, report.html (unless html_page is False) and each figure as NAME.png and NAME.svg. Returns
    {"study", "folder", "files", "figures", "markdown", "html"}."""
    from engine.studies.figures import draw
    from engine.studies.lifecycle import plan
    from engine.studies.outcomes import read_study

    folder = Path(out).expanduser()
    if folder.exists() and not folder.is_dir():
        raise StudyError(f"report folder {str(folder)!r} exists and is not a folder")
    result = read_study(store, name)
    try:
        plan_d, plan_err = plan(store, name).to_dict(), None
    except StudyError as e:  # e.g. a selection the study was based on is gone: the report says so
        plan_d, plan_err = None, str(e)
    report = build(result, plan_d, plan_err)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StudyError(f"cannot make the report folder {str(folder)!r}: {e.strerror or e}") from None
    files: list[Path] = []
    figure_files: dict[str, str] = {}
    try:
        for f in report.figures:
            paths = draw(f, folder)
            files += paths
            figure_files[f.name] = paths[0].name
        md = folder / "report.md"
        md.write_text(to_markdown(report, figure_files), encoding="utf-8")
        files.append(md)
        page = None
        if html_page:
            page = folder / "report.html"
            page.write_text(to_html(report, figure_files), encoding="utf-8")
            files.append(page)
    except OSError as e:
        raise StudyError(f"cannot write the report into {str(folder)!r}: {e.strerror or e}") from None
    return {
        "study": report.study,
        "folder": str(folder),
        "files": [str(p) for p in files],
        "figures": list(figure_files),
        "markdown": str(md),
        "html": None if page is None else str(page),
    }
