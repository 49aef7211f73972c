"""The export form of the Browse area: the current filter's samples to a JSONL/Parquet file for training tools."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Checkbox, Input, Label, Select, Static

from screens.widgets import FormDialog, dialog_buttons

STYLES = [
    ("messages (OpenAI chat)", "messages"),
    ("sharegpt (LLaMA-Factory)", "sharegpt"),
    ("alpaca (LLaMA-Factory)", "alpaca"),
]


class ExportDialog(FormDialog):
    """Export the samples matching the Browse filter (excluded ones left out). Dismisses with {"path", "style",
    "dataset_info" (a folder or None), "ranking"} or None."""

    HELP = """
    ### Export samples
    The samples matching the current filter (excluded ones are left out) to a file:

    - **file**: `.jsonl` or `.parquet` (from the suffix)
    - **style**: OpenAI messages, or LLaMA-Factory's ShareGPT or Alpaca (docs/formats.md says exactly what each
      writes and how LLaMA-Factory, HF datasets and polars read it)
    - **dataset_info folder**: also add an entry for the file to that folder's `dataset_info.json`, so
      LLaMA-Factory finds it by name (empty: no entry)
    - **ranking**: write preference pairs (chosen and rejected) as ranking data

    The same as `workbench export FILE --style ... --dataset-info ...` with the filter's options.
    """
    DEFAULT_CSS = """
    ExportDialog > Vertical { width: 88; }
    ExportDialog .row { height: 1; margin-top: 1; }
    ExportDialog .row Label { width: 20; }
    ExportDialog .row Input, ExportDialog .row Select { width: 1fr; }
    """

    def __init__(self, scope: str, default_path: str) -> None:
        super().__init__()
        self._scope, self._path = scope, default_path

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Export samples", classes="title")
            yield Static(f"{self._scope}; excluded samples are left out.", id="note")
            with Horizontal(classes="row"):
                yield Label("file")
                yield Input(self._path, placeholder="required: out/train.jsonl or .parquet", id="ex-path", compact=True)
            with Horizontal(classes="row"):
                yield Label("style")
                yield Select(STYLES, value="sharegpt", allow_blank=False, id="ex-style", compact=True)
            with Horizontal(classes="row"):
                yield Label("dataset_info folder")
                yield Input(placeholder="empty = no LLaMA-Factory entry", id="ex-info", compact=True)
            yield Checkbox("ranking data: preference pairs (chosen, rejected)", id="ex-ranking", compact=True)
            yield from dialog_buttons("Export")

    def on_mount(self) -> None:
        self.query_one("#ex-path", Input).focus()

    def _submit(self) -> None:
        path = self.query_one("#ex-path", Input).value.strip()
        if not path:
            self.query_one("#error", Static).update("write the file to export to")
            return
        info = self.query_one("#ex-info", Input).value.strip() or None
        self.dismiss(
            {
                "path": path,
                "style": str(self.query_one("#ex-style", Select).value),
                "dataset_info": info,
                "ranking": self.query_one("#ex-ranking", Checkbox).value,
            }
        )
