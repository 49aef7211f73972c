"""The figures of a study report, drawn with matplotlib (headless, Agg): one function per figure kind (DRAW), and
`draw`, which saves a figure as PNG and SVG without dates so the same study gives the same bytes. Split out of
engine/studies/report.py, which builds the report's blocks and figures and writes its files."""

from __future__ import annotations

import math
from pathlib import Path

from engine.studies.report import COLORS, DPI, FIG_FORMATS, Figure


def _axes_grid(n: int, title: str):
    from matplotlib.figure import Figure as MplFigure

    cols = min(3, max(1, n))
    rows = math.ceil(n / cols)
    fig = MplFigure(figsize=(4.6 * cols, 3.6 * rows), dpi=DPI, layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel().tolist()
    for ax in axes[n:]:
        ax.set_visible(False)
    fig.suptitle(title)
    return fig, axes[:n]


def _base_line(ax, base: float | None) -> None:
    if base is not None:
        ax.axhline(base, color="grey", linestyle=":", linewidth=1.2, label=f"base model {base:.3g}")


def _draw_growth(g: dict, title: str):
    import numpy as np

    from engine.studies.fits import Fit

    fig, axes = _axes_grid(len(g), title)
    for ax, (dom, d) in zip(axes, g.items()):
        pts = d["points"]
        xs = [p["x"] for p in pts if p["mean"] is not None]
        ys = [p["mean"] for p in pts if p["mean"] is not None]
        sd = [p["sd"] or 0.0 for p in pts if p["mean"] is not None]
        ax.errorbar(xs, ys, yerr=sd, fmt="o", color=COLORS[0], capsize=3, label="score (mean ± sd)")
        if xs:
            grid = np.geomspace(min(xs), max(xs), 60)
            for f, style, color in ((d.get("loglinear"), "--", COLORS[1]), (d.get("power"), "-.", COLORS[2])):
                if f:
                    fit = Fit(**f)
                    name = "log-linear" if fit.kind == "loglinear" else "power law"
                    ax.plot(grid, fit.predict(grid), style, color=color, label=f"{name} (RMSE {fit.rmse:.2g})")
        _base_line(ax, d.get("base"))
        ax.set_xscale("log")
        if xs:  # ticks at the volumes trained (plain numbers, no minor labels crowding them)
            from matplotlib.ticker import NullFormatter

            ax.set_xticks(sorted(set(xs)), [f"{v:,.0f}" for v in sorted(set(xs))])
            ax.xaxis.set_minor_formatter(NullFormatter())
        pace = d.get("pace")
        ax.set_title(f"{dom}" + (f": pace {pace['per_doubling']:+.3g} per doubling" if pace else ""), fontsize=10)
        ax.set_xlabel("items of this domain" if d["x"] == "items of this domain" else "items of the mixture")
        ax.set_ylabel(d["metric"])
        ax.legend(fontsize=7)
    return fig


def _draw_growth_series(data: dict, title: str):
    import numpy as np

    from engine.studies.fits import Fit

    doms = list(dict.fromkeys(d for s in data["series"] for d in s["growth"]))
    fig, axes = _axes_grid(len(doms), title)
    for ax, dom in zip(axes, doms):
        metric = "score"
        for i, s in enumerate(data["series"]):
            d = s["growth"].get(dom)
            if not d:
                continue
            metric = d["metric"]
            color = COLORS[i % len(COLORS)]
            pts = [p for p in d["points"] if p["mean"] is not None]
            xs, ys = [p["x"] for p in pts], [p["mean"] for p in pts]
            ax.errorbar(xs, ys, yerr=[p["sd"] or 0.0 for p in pts], fmt="o", color=color, capsize=3, label=s["label"])
            if xs and d.get("loglinear"):
                grid = np.geomspace(min(xs), max(xs), 60)
                ax.plot(grid, Fit(**d["loglinear"]).predict(grid), "--", color=color)
        ax.set_xscale("log")
        shown = sorted({p["x"] for s in data["series"] for p in (s["growth"].get(dom) or {}).get("points", [])})
        if shown:  # ticks at the volumes trained, as in the growth figure
            from matplotlib.ticker import NullFormatter

            ax.set_xticks(shown, [f"{v:,.0f}" for v in shown])
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_title(dom, fontsize=10)
        ax.set_xlabel("items (of the domain, else of the mixture)")
        ax.set_ylabel(metric)
        ax.legend(fontsize=7)
    return fig


def _draw_budgets(b: dict, title: str):
    fig, axes = _axes_grid(len(b), title)
    for ax, (dom, d) in zip(axes, b.items()):
        for arm, color in (("targeted", COLORS[0]), ("random", COLORS[1])):
            pts = [(x["budget"], x[arm]) for x in d["budgets"] if x[arm] and x[arm].get("mean") is not None]
            if pts:
                ax.errorbar(
                    [p[0] for p in pts],
                    [p[1]["mean"] for p in pts],
                    yerr=[p[1].get("sd") or 0.0 for p in pts],
                    fmt="o-",
                    color=color,
                    capsize=3,
                    label=arm,
                )
        _base_line(ax, d.get("base"))
        ax.set_title(dom, fontsize=10)
        ax.set_xlabel("budget (samples)")
        ax.set_ylabel(d["metric"])
        ax.legend(fontsize=7)
    return fig


def _draw_quantiles(q: dict, title: str):
    fig, axes = _axes_grid(len(q), title)
    for ax, (dom, d) in zip(axes, q.items()):
        rows = [r for r in d["quantiles"] if r.get("mean") is not None]
        use_dist = rows and all(r.get("chamfer") is not None for r in rows)
        xs = [r["chamfer"] if use_dist else r["quantile"] for r in rows]
        ax.errorbar(xs, [r["mean"] for r in rows], yerr=[r.get("sd") or 0.0 for r in rows], fmt="o-", capsize=3)
        for x, r in zip(xs, rows):
            ax.annotate(f"q{r['quantile']}", (x, r["mean"]), textcoords="offset points", xytext=(3, 4), fontsize=7)
        rnd = (d.get("random") or {}).get("mean")
        if rnd is not None:
            ax.axhline(rnd, color=COLORS[1], linestyle="--", linewidth=1.2, label=f"random {rnd:.3g}")
        _base_line(ax, d.get("base"))
        ax.set_title(dom, fontsize=10)
        ax.set_xlabel("Chamfer distance to the query set" if use_dist else "quantile (0 = nearest)")
        ax.set_ylabel(d["metric"])
        ax.legend(fontsize=7)
    return fig


def _draw_ratio(r: dict, title: str):
    fig, axes = _axes_grid(len(r), title)
    for ax, (dom, d) in zip(axes, r.items()):
        pts = [x for x in d["ratios"] if x.get("mean") is not None]
        ax.errorbar(
            [x["ratio"] for x in pts],
            [x["mean"] for x in pts],
            yerr=[x.get("sd") or 0.0 for x in pts],
            fmt="o-",
            capsize=3,
            color=COLORS[0],
        )
        if d.get("peak_ratio") is not None:
            ax.axvline(d["peak_ratio"], color=COLORS[2], linestyle="--", linewidth=1, label=f"peak {d['peak_ratio']:g}")
        _base_line(ax, d.get("base"))
        ax.set_title(dom, fontsize=10)
        ax.set_xlabel(f"share of {d.get('share_of') or 'the first domain'}")
        ax.set_ylabel(d["metric"])
        ax.legend(fontsize=7)
    return fig


def _draw_protocols(p: dict, title: str):
    import numpy as np
    from matplotlib.figure import Figure as MplFigure

    doms = list(p["domains"])
    protocols = list(dict.fromkeys(k for d in p["domains"].values() for k in d["protocols"]))
    conflict = p.get("conflict") or {}
    ncols = 2 if conflict else 1
    fig = MplFigure(figsize=(5.2 * ncols, 3.8), dpi=DPI, layout="constrained")
    axes = fig.subplots(1, ncols, squeeze=False).ravel()
    ax = axes[0]
    width = 0.8 / max(len(protocols), 1)
    x = np.arange(len(doms))
    for i, proto in enumerate(protocols):
        vals = [(p["domains"][d]["protocols"].get(proto) or {}).get("mean") for d in doms]
        ax.bar(x + i * width, [v if v is not None else 0 for v in vals], width, label=proto, color=COLORS[i % 8])
    for j, d in enumerate(doms):
        base = p["domains"][d]["base"]
        if base is not None:
            ax.hlines(base, j - width / 2, j + width * (len(protocols) - 0.5), colors="grey", linestyles=":")
    ax.set_xticks(x + width * (len(protocols) - 1) / 2, doms)
    ax.set_ylabel("score (dotted: base model)")
    ax.set_title("per-domain score", fontsize=10)
    ax.legend(fontsize=7)
    if conflict:
        ax2 = axes[1]
        names = list(conflict)
        ax2.bar(
            names, [conflict[n].get("mean") or 0 for n in names], color=[COLORS[protocols.index(n) % 8] for n in names]
        )
        ax2.set_title("Conflict Rate vs the base model (ours)", fontsize=10)
        ax2.set_ylabel("Conflict Rate")
    fig.suptitle(title)
    return fig


def _draw_cross(x: dict, title: str):
    import numpy as np
    from matplotlib.figure import Figure as MplFigure

    rows, cols = x["trained"], x["evaluated"]
    m = np.array(
        [
            [np.nan if x["matrix"][t][d]["minus_base"] is None else x["matrix"][t][d]["minus_base"] for d in cols]
            for t in rows
        ],
        dtype=float,
    )
    # a loss (nll) falls when it gets better: its sign is flipped so that green is better everywhere
    sign = np.array([1.0 if x["metric"].get(d) != "nll" else -1.0 for d in cols])
    shown = m * sign
    lim = float(np.nanmax(np.abs(shown))) if np.isfinite(shown).any() else 1.0
    fig = MplFigure(figsize=(1.4 * len(cols) + 2.5, 0.9 * len(rows) + 1.8), dpi=DPI, layout="constrained")
    ax = fig.subplots()
    im = ax.imshow(shown, cmap="RdYlGn", vmin=-lim or -1, vmax=lim or 1, aspect="auto")
    ax.set_xticks(range(len(cols)), cols)
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xlabel("eval domain")
    ax.set_ylabel("trained on")
    for i in range(len(rows)):
        for j in range(len(cols)):
            if np.isfinite(m[i, j]):
                ax.text(j, i, f"{m[i, j]:+.3f}", ha="center", va="center", fontsize=8)
    fig.colorbar(im, ax=ax, label="change from the base model (better = green)")
    fig.suptitle(title)
    return fig


DRAW = {
    "growth": _draw_growth,
    "growth_series": _draw_growth_series,
    "budgets": _draw_budgets,
    "quantiles": _draw_quantiles,
    "ratio": _draw_ratio,
    "protocols": _draw_protocols,
    "cross": _draw_cross,
}


def draw(fig_spec: Figure, folder: Path) -> list[Path]:
    """Draw one figure and save it as PNG and SVG in `folder` (no dates in the files: the same study gives the same
    bytes)."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    with matplotlib.rc_context({"svg.hashsalt": "workbench", "svg.fonttype": "none"}):
        fig = DRAW[fig_spec.kind](fig_spec.data, fig_spec.title)
        FigureCanvasAgg(fig)
        paths = []
        for ext in FIG_FORMATS:
            path = folder / f"{fig_spec.name}.{ext}"
            meta = {"Date": None} if ext == "svg" else {"Software": None}
            fig.savefig(path, format=ext, metadata=meta)
            paths.append(path)
    return paths
