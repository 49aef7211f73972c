"""The stages dialog of the Mixtures area (multi-stage recipes, DMT), with the stage-line parser."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, Static

from screens.widgets import EngineCaller, FormDialog

STAGE_ROWS = 4  # stage lines in the stages dialog (more when a loaded recipe has more stages)
GENERAL = "general"  # DMT's general domain (stage 2)


def parse_fraction(text: str) -> float:
    """A fraction typed as 0.25, 1/4 or 25%; MixtureError naming the text when it is not a number."""
    from engine.mixtures import parse_fraction as parse

    return parse(text)


def format_stage(stage: Any) -> str:
    """One stage as a dialog line (engine.mixtures.format_stage: the stage syntax lives there)."""
    from engine.mixtures import format_stage as fmt

    return fmt(stage)


def parse_stages(lines: list[str]) -> list[Any]:
    """Stages from dialog lines (engine.mixtures.parse_stages: the stage syntax lives there)."""
    from engine.mixtures import parse_stages as parse

    return parse(lines)


class StagesDialog(EngineCaller, FormDialog):
    """Edit a recipe's training stages, one line each: `NAME = dom, dom | replay dom=fraction, ...`. DMT fills
    stage 1 with every non-general domain that has a share and stage 2 with general plus k of each of them;
    No stages clears them. OK checks the stages through the engine (`check`: the recipe is validated on the
    UI thread, then resolved in a worker) and dismisses with the stages ([] for none), or shows the error."""

    DEFAULT_CSS = """
    StagesDialog > Vertical { width: 96; }
    StagesDialog .st-row { height: 1; margin-bottom: 1; }
    StagesDialog .st-row Label { width: 9; }
    StagesDialog .st-row Input { width: 1fr; }
    StagesDialog #st-k { width: 12; }
    StagesDialog #st-dmt-row Button { margin-left: 2; min-width: 8; height: 1; border: none; }
    StagesDialog #st-info { color: $text-muted; }
    """

    def __init__(
        self, stages: list[Any] | None, shares: dict[str, float], check: Callable[[list[Any]], Callable[[], Any]]
    ) -> None:
        super().__init__()
        self._lines = [format_stage(s) for s in stages or []]
        self._shares = dict(shares)
        self._check = check
        self._rows = max(STAGE_ROWS, len(self._lines) + 1)
        self.busy = False

    def compose(self) -> ComposeResult:
        from engine.mixtures import DMT_K

        with Vertical():
            yield Label("Training stages", classes="title")
            yield Static(
                "One line per stage, in training order: NAME = dom, dom | replay dom=fraction, ... "
                "(a fraction is 0.25, 1/4 or 25%; * replays every earlier domain). Every domain with a "
                "share must be in one stage. Replays are drawn from the earlier stages' items, on top "
                "of the budget. Empty lines are ignored; no lines at all means a single stage.",
                id="st-note",
            )
            for i in range(self._rows):
                with Horizontal(classes="st-row"):
                    yield Label(f"stage {i + 1}")
                    yield Input(
                        value=self._lines[i] if i < len(self._lines) else "",
                        compact=True,
                        placeholder="NAME = dom, dom | replay dom=fraction",
                        id=f"st-{i}",
                    )
            with Horizontal(classes="st-row", id="st-dmt-row"):
                yield Label("DMT k")
                yield Input(value=f"1/{round(1 / DMT_K)}", compact=True, id="st-k")
                yield Button("DMT", id="dmt")
                yield Static(
                    "  enter or DMT: stage 1 = the non-general domains with a share, stage 2 = general + k of each",
                    id="st-info",
                )
            yield Static("", id="error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("No stages", id="none")
                yield Button("OK", id="ok", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#st-0", Input).focus()

    def lines(self) -> list[str]:
        return [self.query_one(f"#st-{i}", Input).value for i in range(self._rows)]

    def fill_dmt(self) -> None:
        """Fill the lines with DMT's two stages for the typed k (an error shows inline)."""
        from engine.mixtures import MixtureError, dmt_stages

        err = self.query_one("#error", Static)
        try:
            k = parse_fraction(self.query_one("#st-k", Input).value)
            if not 0 < k <= 1:
                raise MixtureError(f"DMT k must be a fraction in (0, 1], not {k:.6g}")
        except MixtureError as e:
            err.update(f"DMT k: {e}")
            return
        spec = [d for d, p in self._shares.items() if p > 0 and d != GENERAL]
        if not spec:
            err.update("DMT needs at least one domain other than general with a share (give one a share first)")
            return
        stages = dmt_stages(spec, [GENERAL], k)
        for i in range(self._rows):
            self.query_one(f"#st-{i}", Input).value = format_stage(stages[i]) if i < len(stages) else ""
        err.update("")
        self.query_one("#st-0", Input).focus()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        event.prevent_default()  # FormDialog's handler would submit on the k field too
        if event.input.id == "st-k":
            self.fill_dmt()
        else:
            self._submit()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        event.stop()
        event.prevent_default()
        if event.button.id == "ok":
            self._submit()
        elif event.button.id == "dmt":
            self.fill_dmt()
        elif event.button.id == "none":
            self.dismiss([])
        else:
            self.dismiss(None)

    def _submit(self) -> None:
        from engine.mixtures import MixtureError

        err = self.query_one("#error", Static)
        if self.busy:
            return
        try:
            stages = parse_stages(self.lines())
            job = self._check(stages)
        except (MixtureError, ValueError) as e:
            err.update(str(e))
            return
        self.busy = True
        err.update("checking…")
        self.run_engine(job, lambda _res: self.dismiss(stages), self._failed, group="st-check")

    def _failed(self, error: BaseException) -> None:
        self.busy = False
        self.query_one("#error", Static).update(
            str(error) if isinstance(error, ValueError) else f"{type(error).__name__}: {error}"
        )
