"""The evaluate form of the Results area (also opened from Runs): which run, which eval sets, how many items."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Label, Select, SelectionList, Static

from screens.widgets import FormDialog, dialog_buttons


class EvaluateDialog(FormDialog):
    """Evaluate a finished run: pick the run, tick the eval sets, cap the items per set and the tokens
    generated. The run is evaluated with its finished specialists, pair runs and the base model (jobs already
    done are skipped). Dismisses with {"run_id", "sets", "max_items", "max_new_tokens"} or None.

    runs: [(run_id, label)] of finished runs; sets: [(name, n_samples)]."""

    HELP = """
    ### Evaluate a run
    - **run**: any finished run (mixture runs also bring their finished specialists, pair runs and the base
      model, so the Conflict Rate can be read at once)
    - **eval sets**: space ticks or unticks the set under the cursor; every set is ticked to start with
    - **items per set**: empty = every item; a small number (e.g. 50) gives a first result in minutes on a CPU
    - **max new tokens**: the longest answer generated

    **enter** (or Evaluate) starts the job in this area's job panel; **c** cancels it there and the finished
    chunks are kept (**e** resumes).
    """
    DEFAULT_CSS = """
    EvaluateDialog > Vertical { width: 84; }
    EvaluateDialog .row { height: 1; margin-top: 1; }
    EvaluateDialog .row Label { width: 18; }
    EvaluateDialog .row Input, EvaluateDialog .row Select { width: 1fr; }
    EvaluateDialog SelectionList { height: auto; max-height: 10; margin-top: 1; }
    """

    def __init__(
        self,
        runs: list[tuple[int, str]],
        sets: list[tuple[str, int]],
        *,
        run_id: int | None = None,
        max_items: int | None = None,
        max_new_tokens: int = 256,
    ) -> None:
        super().__init__()
        if not runs:
            raise ValueError("no finished run to evaluate: train one in Runs (n) first")
        if not sets:
            raise ValueError(
                "no eval sets: mark a pool as one with e in Pools (1), or tick 'eval set' when importing it"
            )
        self._runs, self._sets = runs, sets
        ids = [r for r, _ in runs]
        self._run_id = run_id if run_id in ids else ids[-1]
        self._max_items, self._max_new = max_items, max_new_tokens

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Evaluate a run", classes="title")
            with Horizontal(classes="row"):
                yield Label("run")
                yield Select(
                    [(label, rid) for rid, label in self._runs],
                    value=self._run_id,
                    allow_blank=False,
                    id="ev-run",
                    compact=True,
                )
            yield Static("eval sets (space ticks / unticks):", classes="row")
            yield SelectionList[str](*[(f"{n} · {k:,} items", n, True) for n, k in self._sets], id="ev-sets")
            with Horizontal(classes="row"):
                yield Label("items per set")
                yield Input(
                    "" if self._max_items is None else str(self._max_items),
                    placeholder="empty = all",
                    id="ev-max",
                    compact=True,
                    select_on_focus=False,
                )
            with Horizontal(classes="row"):
                yield Label("max new tokens")
                yield Input(str(self._max_new), id="ev-tokens", compact=True, select_on_focus=False)
            yield from dialog_buttons("Evaluate")

    def on_mount(self) -> None:
        self.query_one("#ev-run", Select).focus()

    def values(self) -> dict:
        """The form's choices; ValueError naming the field."""
        sets = list(self.query_one("#ev-sets", SelectionList).selected)
        if not sets:
            raise ValueError("tick at least one eval set")
        text = self.query_one("#ev-max", Input).value.strip()
        try:
            max_items = int(text) if text else None
            if max_items is not None and max_items < 1:
                raise ValueError
        except ValueError:
            raise ValueError(f"items per set is a whole number >= 1, or empty for all (got {text!r})") from None
        tok = self.query_one("#ev-tokens", Input).value.strip()
        try:
            max_new = int(tok)
            if max_new < 1:
                raise ValueError
        except ValueError:
            raise ValueError(f"max new tokens is a whole number >= 1 (got {tok!r})") from None
        return {
            "run_id": int(self.query_one("#ev-run", Select).value),
            "sets": sets,
            "max_items": max_items,
            "max_new_tokens": max_new,
        }

    def _submit(self) -> None:
        try:
            v = self.values()
        except ValueError as e:
            self.query_one("#error", Static).update(str(e))
            return
        self.dismiss(v)
