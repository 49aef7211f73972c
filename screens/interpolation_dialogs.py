"""Dialogs of the Interpolation area: create a set, and the diversity step's settings."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Checkbox, Input, Label, RadioButton, RadioSet, Select, Static

from screens.widgets import FormDialog, dialog_buttons


class CreateSetDialog(FormDialog):
    """The fields of `create_set`; dismisses with a dict of them (or None). `choices` (screens.scope_dialog
    load_choices: the Browse filter, then every training sample) are the scopes the sources can be narrowed to;
    the first is picked."""

    DEFAULT_CSS = """
    CreateSetDialog > Vertical { width: 84; }
    CreateSetDialog #hint { color: $text-muted; margin-bottom: 1; }
    CreateSetDialog .row { height: 1; margin-bottom: 1; }
    CreateSetDialog .row Label { width: 14; }
    CreateSetDialog .row Input { width: 1fr; }
    CreateSetDialog .row Select { width: 1fr; }
    CreateSetDialog #f-scope { width: 1fr; margin-top: 1; }
    """

    def __init__(
        self,
        taken: set[str],
        hint: str = "",
        defaults: dict | None = None,
        choices: list[tuple[str, Any, str]] | None = None,
    ) -> None:
        super().__init__()
        self.taken = taken
        self.hint = hint
        self.choices = list(choices or [])
        self.d = {
            "name": "",
            "a": "",
            "b": "",
            "alpha": "0.5",
            "pairs": "100",
            "pairing": "random",
            "seed": "0",
            **(defaults or {}),
        }

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("New interpolation set (MDIT)", classes="title")
            if self.hint:
                yield Static(self.hint, id="hint")
            for key, label, ph in (
                ("name", "name", "required: a new set name"),
                ("a", "source A", "required: KIND:REF (domain:D, pool:NAME, ...)"),
                ("b", "source B", "required: KIND:REF (domain:D, pool:NAME, ...)"),
                ("alpha", "alpha", "required: a number > 0 (Beta(alpha, alpha))"),
                ("pairs", "pairs", "required: how many pairs"),
                ("seed", "seed", "empty = 0"),
            ):
                with Horizontal(classes="row"):
                    yield Label(label)
                    yield Input(value=self.d[key], placeholder=ph, id=f"f-{key}", compact=True)
            with Horizontal(classes="row"):
                yield Label("pairing")
                yield Select(
                    [
                        ("random (cross-task)", "random"),
                        ("index-aligned", "index"),
                        ("nearest neighbour across tasks", "nearest"),
                    ],
                    value=self.d["pairing"],
                    allow_blank=False,
                    id="f-pairing",
                    compact=True,
                )
            yield Checkbox("allow pairs within one task (domain)", id="f-same", compact=True)
            if self.choices:
                with RadioSet(id="f-scope"):
                    for i, (key, _scope, words) in enumerate(self.choices):
                        prefix = "sources within the Browse filter: " if key == "browse" else "sources within "
                        yield RadioButton(Text(prefix + words), value=i == 0, id=f"f-scope-{key}")
            yield from dialog_buttons("Create")

    def on_mount(self) -> None:
        self.query_one("#f-name", Input).focus()

    def _values(self) -> dict | str:
        v = {k: self.query_one(f"#f-{k}", Input).value.strip() for k in ("name", "a", "b", "alpha", "pairs", "seed")}
        if not v["name"]:
            return "write a name"
        if v["name"] in self.taken:
            return f"a set named {v['name']!r} exists; pick another name"
        for k in ("a", "b"):
            if ":" not in v[k]:
                return f"source {k.upper()} is KIND:REF, e.g. domain:math, pool:NAME, cluster:NAME:3, selection:NAME"
        try:
            alpha = float(v["alpha"])
            if not alpha > 0:
                raise ValueError
        except ValueError:
            return "alpha must be a number > 0"
        try:
            n, seed = int(v["pairs"]), int(v["seed"] or 0)
            if n < 1 or seed < 0:
                raise ValueError
        except ValueError:
            return "pairs must be a positive integer and seed a non-negative one"
        return {
            "name": v["name"],
            "a": v["a"],
            "b": v["b"],
            "alpha": alpha,
            "n_pairs": n,
            "seed": seed,
            "pairing": str(self.query_one("#f-pairing", Select).value),
            "allow_same_task": self.query_one("#f-same", Checkbox).value,
            "scope": self._scope()[0],
            "scope_words": self._scope()[1],
        }

    def _scope(self) -> tuple[Any, str]:
        """(the engine Scope picked, its words); (None, "") when the dialog offers none."""
        if not self.choices:
            return None, ""
        i = self.query_one("#f-scope", RadioSet).pressed_index
        _key, scope, words = self.choices[i if 0 <= i < len(self.choices) else 0]
        return scope, words

    def _submit(self) -> None:
        v = self._values()
        if isinstance(v, str):
            self.query_one("#error", Static).update(v)
            return
        self.dismiss(v)


class DiversityDialog(FormDialog):
    """Budget, k and features of the diversity step; dismisses with a dict (or None)."""

    DEFAULT_CSS = """
    DiversityDialog Input, DiversityDialog Select { margin-bottom: 1; }
    """

    def __init__(self, n_pairs: int, has_embeddings: bool, *, model: str | None = None) -> None:
        super().__init__()
        self.model = model
        self.n_pairs = n_pairs
        self.has_embeddings = has_embeddings

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Diversity step", classes="title")
            yield Static(
                "K-Means over the originals (both sources) and the mixes; per cluster keep the mixes "
                "nearest the centroid, quotas proportional to cluster size, up to the budget (ours: the "
                "paper only says 'dense, representative samples')."
            )
            yield Label(f"budget (mixes to keep, of {self.n_pairs}):")
            yield Input(value=str(max(1, self.n_pairs // 2)), id="f-budget", compact=True)
            yield Label("k (K-Means clusters; blank = round(sqrt(N/2))):")
            yield Input(value="", id="f-k", compact=True)
            yield Label("features:")
            opts = [("embedding layer of the model (child process)", "embedding_layer")]
            if self.has_embeddings:
                opts.insert(0, ("stored sentence embeddings", "sentence"))
            yield Select(opts, value=opts[0][1], allow_blank=False, id="f-features", compact=True)
            yield Label("model for the embedding layer (blank = the scorer default):")
            yield Input(
                value=self.model or "",
                placeholder="smollm2, a folder, a .gguf or a cached hub id",
                id="f-model",
                compact=True,
            )
            yield from dialog_buttons("Select")

    def on_mount(self) -> None:
        self.query_one("#f-budget", Input).focus()

    def _submit(self) -> None:
        try:
            budget = int(self.query_one("#f-budget", Input).value)
            kt = self.query_one("#f-k", Input).value.strip()
            k = int(kt) if kt else None
            if budget < 1 or (k is not None and k < 1):
                raise ValueError
        except ValueError:
            self.query_one("#error", Static).update("budget and k must be positive integers")
            return
        self.dismiss(
            {
                "budget": budget,
                "k": k,
                "features": str(self.query_one("#f-features", Select).value),
                "model": self.query_one("#f-model", Input).value.strip() or None,
            }
        )
