"""Placeholder areas: Scores, Clusters, Mixtures, Runs, Results (what will come, what to use meanwhile)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Center, Vertical
from textual.widgets import Markdown

from screens.widgets import WorkbenchScreen

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
        yield from self.compose_header()
        with Center(id="placeholder"):
            with Vertical(id="placeholder-box"):
                yield Markdown(
                    f"## {title} — coming\n\n{plan}\n\n"
                    "**Meanwhile:** the data for this area is made by the command line. Run "
                    "`workbench --help` to see the commands available in this version; "
                    "everything they write lands in the same store and shows up here once this screen exists.\n\n"
                    "Keys: `1` Pools · `2` Browse · `ctrl+p` palette · `F1` help · `q` quit.",
                    id="placeholder-text",
                )
        yield from self.compose_footer()
