"""Placeholder areas: Scores, Clusters, Mixtures, Runs, Results (what will come, what to use meanwhile)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Center, Vertical
from textual.widgets import Markdown

from screens.widgets import WorkbenchScreen

# What the CLI offers meanwhile, per area (commands of workbench/cli.py; None: nothing yet).
MEANWHILE: dict[str, str | None] = {
    "scores": "`workbench score` computes scores (IFD / perplexity with a proxy LM, Cherry IFD, heuristics), "
              "`workbench scores` lists metrics or summarises one per domain, `workbench select` saves a "
              "SuperFiltering selection. Scores already show as columns in Browse and work in its filter "
              "(`score.ifd < 0.9`).",
    "clusters": None,  # a real screen now (screens/clusters.py)
    "mixtures": "`workbench export` writes the filtered samples as JSONL/Parquet (messages, alpaca or "
                "sharegpt style) with a LLaMA-Factory dataset_info.json.",
    "runs": None,
    "results": None,
}

PLANS: dict[str, tuple[str, str]] = {
    "scores": (
        "Scores",
        "Per-sample quality scores (length and heuristic checks, IFD / perplexity with a small model, "
        "reward-model scores) computed as cancellable jobs, stored in long format with their definition, "
        "and shown here as histograms with range selection that feeds the Browse filter.",
    ),
    "clusters": (
        "Clusters",
        "Embeddings of instructions or responses, HDBSCAN clusters and a 2-D map in the terminal; pick a "
        "cluster to browse it, tag it or drop its outliers.",
    ),
    "mixtures": (
        "Mixtures",
        "Versioned recipes that take samples from pools, domains, tags, score ranges and clusters with "
        "weights, with a content hash so every run knows exactly what it was trained on.",
    ),
    "runs": (
        "Runs",
        "LoRA fine-tuning runs on a mixture version: queued, running (loss curve, ETA), done or failed, "
        "each in its own run folder.",
    ),
    "results": (
        "Results",
        "Evaluations per run and per domain, side by side, with the conflict rate between domains and the "
        "lineage from every number back to the samples it came from.",
    ),
}


class PlaceholderScreen(WorkbenchScreen):
    """An area that is not built yet: what it will do, and what to use in the meantime."""

    CONTEXT = "placeholder"
    HELP = """
    This area is not built yet. The text says what it will do.

    Use the number keys 1-7 to switch areas, ctrl+p for the command palette.
    """

    def __init__(self, area: str) -> None:
        super().__init__()
        self.area = area
        self.MODE = area

    def compose(self) -> ComposeResult:
        title, plan = PLANS[self.area]
        meanwhile = MEANWHILE[self.area] or "nothing in this version yet, in the app or the command line."
        yield from self.compose_header()
        with Center(id="placeholder"):
            with Vertical(id="placeholder-box"):
                yield Markdown(
                    f"## {title} — coming\n\n{plan}\n\n"
                    f"**Meanwhile:** {meanwhile}\n\n"
                    "`workbench --help` lists every command; what they write lands in the same store.\n\n"
                    "Keys: `1` Pools · `2` Browse · `ctrl+p` palette · `F1` help · `q` quit.",
                    id="placeholder-text",
                )
        yield from self.compose_footer()
