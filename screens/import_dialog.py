"""Import dialog: pick a file, see the detected format and a preview, import with progress and cancel."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from rich.console import Group
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.timer import Timer
from textual.widgets import Button, Checkbox, Input, Label, ProgressBar, RichLog, Select, Static

from screens.widgets import DEFAULT_DOMAINS, EngineCaller
from workbench.actions import bindings_for

AUTO = "auto"
CUSTOM = "__custom__"
_SUFFIXES = (".gz", ".jsonl", ".json", ".parquet", ".csv", ".ndjson")


def pool_name_for(path: str) -> str:
    """Default pool name: the file name without its data suffixes (data.jsonl.gz -> data)."""
    name = Path(path).name
    changed = True
    while changed:
        changed = False
        for suf in _SUFFIXES:
            if name.lower().endswith(suf) and len(name) > len(suf):
                name = name[: -len(suf)]
                changed = True
    return name


def _clip(s: Any, n: int) -> str:
    s = "" if s is None else str(s)
    s = " ".join(s.split())
    return s if len(s) <= n else s[: n - 1] + "…"


def preview_renderable(records: list[Any], limit: int = 3) -> Group:
    """A compact view of the first normalised records: one line per message."""
    parts: list[Text] = []
    for i, rec in enumerate(records[:limit], 1):
        head = Text(f"record {i}", style="bold")
        if getattr(rec, "tools", None):
            head.append(f"  · {len(rec.tools)} tool(s)", style="dim")
        parts.append(head)
        if getattr(rec, "system", None):
            parts.append(Text.assemble(("  system: ", "italic"), _clip(rec.system, 90)))
        for m in rec.messages:
            if m.get("role") == "system":
                continue
            content = m.get("content") or ""
            if not content and m.get("tool_calls"):
                content = "tool call " + _clip(m.get("tool_calls"), 80)
            parts.append(Text.assemble((f"  {m.get('role', '?')}: ", "bold cyan"), _clip(content, 90)))
    return Group(*parts)


class ImportDialog(EngineCaller, ModalScreen):
    """Import a file into a pool.

    Type a path: the format is detected as you type (with the reason and a preview of the first
    normalised records). Override the format if the guess is wrong, pick a domain (the detected one is
    suggested until you pick one; or type a custom one), name the pool (defaults to the file name), and choose
    whether invalid records are skipped (quarantined to a report file) or fail the import (the default:
    nothing is imported, every problem is listed with its file, line and field). Tick "eval set" for
    evaluation data: the pool is then never trained on, clustered or drawn into mixtures, and Results
    evaluates runs on it. "Origin" labels where the data came from (the pool's provenance: human, synthetic,
    mixed; unknown leaves an existing pool's label as it is); a growth study can split by it.
    """

    CONTEXT = "import"
    BINDINGS = bindings_for("import")
    HELP = __doc__
    DEFAULT_CSS = """
    ImportDialog { align: center middle; }
    ImportDialog > Vertical {
        width: 100; max-width: 96%; height: auto; max-height: 96%;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    ImportDialog .title { text-style: bold; margin-bottom: 1; }
    ImportDialog .row { height: 1; margin-top: 1; }
    ImportDialog .row.-first { margin-top: 0; }
    ImportDialog .lbl { width: 9; color: $text-muted; }
    ImportDialog .lbl2 { width: auto; color: $text-muted; padding: 0 1 0 2; }
    ImportDialog #path { width: 1fr; }
    ImportDialog #path-status { height: 1; color: $text-muted; padding-left: 9; }
    ImportDialog #path-status.-bad { color: $error; }
    ImportDialog #detected { height: auto; padding-left: 9; }
    ImportDialog #detected.-bad { color: $error; }
    ImportDialog #preview-box { height: auto; max-height: 8; border: round $panel-lighten-2; margin-left: 9; }
    ImportDialog #format { width: 26; }
    ImportDialog #domain { width: 20; }
    ImportDialog #custom-domain { width: 1fr; margin-left: 1; }
    ImportDialog #pool { width: 1fr; }
    ImportDialog #provenance { width: 20; }
    ImportDialog #provenance-hint { width: 1fr; color: $text-muted; padding-left: 2; }
    ImportDialog #skip, ImportDialog #eval-set {
        border: none; height: 1; padding: 0; margin-left: 2; background: transparent;
    }
    ImportDialog #progress-row { height: 1; margin-top: 1; }
    ImportDialog #progress-text { padding-left: 2; width: 1fr; }
    ImportDialog #import-status { height: auto; margin-top: 1; }
    ImportDialog #import-status.-bad { color: $error; text-style: bold; }
    ImportDialog #errors { height: 8; border: round $error; display: none; }
    ImportDialog #errors.-show { display: block; }
    ImportDialog .buttons { height: auto; align-horizontal: right; margin-top: 1; }
    ImportDialog .buttons Button { margin-left: 2; }
    """

    def __init__(self, store: Any, *, existing: list[str] | None = None, path: str = "") -> None:
        super().__init__()
        self.store = store
        self.existing = set(existing or [])
        self._initial_path = path
        self.detection: Any = None
        self._auto_name = ""
        self._domain_touched = False  # the person picked a domain: suggestions no longer replace it
        self._domain_auto: Any = "general"  # the value the dialog itself put in the domain Select
        self._sniff_timer: Timer | None = None
        self._mapping_timer: Timer | None = None
        self.cancel_token: Any = None
        self.importing = False
        self.result: Any = None

    # -- layout -----------------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        try:
            from engine.data.formats import FORMATS

            formats = [f for f in FORMATS if f != "mapping"]
        except ImportError:  # engine not there: keep the dialog usable for the layout
            formats = ["alpaca", "sharegpt", "messages", "dolly", "prompt_completion", "qa", "problem_solution", "mbpp"]
        with Vertical():
            yield Label("Import a file into a pool", classes="title")
            with Horizontal(classes="row -first"):
                yield Label("File", classes="lbl")
                yield Input(
                    self._initial_path,
                    placeholder="path to a .jsonl / .json / .parquet / .csv (.gz ok) file or a folder",
                    compact=True,
                    id="path",
                )
            yield Static("", id="path-status")
            yield Static("", id="detected")
            with VerticalScroll(id="preview-box"):
                yield Static("", id="preview")
            with Horizontal(classes="row"):
                yield Label("Format", classes="lbl")
                yield Select(
                    [("auto-detect", AUTO)] + [(f, f) for f in formats] + [("column mapping…", "mapping")],
                    value=AUTO,
                    id="format",
                    allow_blank=False,
                    compact=True,
                )
                yield Label("Domain", classes="lbl2")
                yield Select(
                    [(d, d) for d in DEFAULT_DOMAINS] + [("custom…", CUSTOM)],
                    value="general",
                    id="domain",
                    allow_blank=False,
                    compact=True,
                )
                yield Input(placeholder="custom domain", id="custom-domain", disabled=True, compact=True)
            with Horizontal(classes="row", id="mapping-row"):
                yield Label("Columns", classes="lbl")
                yield Input(
                    placeholder="role=column, … e.g. instruction=question, output=answer, system=persona",
                    id="mapping",
                    compact=True,
                )
            with Horizontal(classes="row"):
                yield Label("Pool", classes="lbl")
                yield Input(placeholder="pool name (new, or an existing pool to append to)", id="pool", compact=True)
                yield Checkbox("skip invalid records", id="skip")
                yield Checkbox("eval set (never trained on)", id="eval-set")
            with Horizontal(classes="row"):
                yield Label("Origin", classes="lbl")
                yield Select(
                    [(v, v) for v in ("unknown", "human", "synthetic", "mixed")],
                    value="unknown",
                    id="provenance",
                    allow_blank=False,
                    compact=True,
                )
                yield Static("written by people (human), made by a model (synthetic), or both", id="provenance-hint")
            with Horizontal(id="progress-row"):
                yield ProgressBar(total=None, show_eta=False, id="progress")
                yield Static("", id="progress-text")
            yield Static("", id="import-status")
            yield RichLog(id="errors", wrap=True, markup=False, auto_scroll=False)
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Import", id="import", variant="primary", disabled=True)

    def on_mount(self) -> None:
        self.query_one("#preview-box").display = False
        self.query_one("#progress-row").display = False
        self.query_one("#mapping-row").display = False
        self.query_one("#path", Input).focus()
        if self._initial_path:
            self._path_changed(self._initial_path)

    # -- path and detection -----------------------------------------------------------------------------
    @on(Input.Changed, "#path")
    def _on_path(self, event: Input.Changed) -> None:
        event.stop()
        if self._sniff_timer is not None:
            self._sniff_timer.stop()
        self._sniff_timer = self.set_timer(0.25, lambda: self._path_changed(event.value))

    @on(Input.Submitted, "#path")
    def _on_path_submit(self, event: Input.Submitted) -> None:
        event.stop()
        if self._sniff_timer is not None:
            self._sniff_timer.stop()
        self._path_changed(event.value)
        self.query_one("#pool", Input).focus()

    def _path_value(self) -> str:
        return os.path.expanduser(self.query_one("#path", Input).value.strip())

    def _path_changed(self, raw: str) -> None:
        path = os.path.expanduser(raw.strip())
        status = self.query_one("#path-status", Static)
        self.detection = None
        self._update_import_button()
        if not path:
            status.update("")
            self._set_detected("", bad=False)
            return
        if not os.path.exists(path):
            status.update("✗ no such file")
            status.add_class("-bad")
            self._set_detected("", bad=False)
            return
        status.remove_class("-bad")
        if os.path.isdir(path):
            status.update("✓ folder: every supported file under it is imported (the format is detected on the first)")
        else:
            status.update(f"✓ {_human_size(os.path.getsize(path))}")
        # Default pool name follows the file until the user types one.
        pool = self.query_one("#pool", Input)
        if not pool.value or pool.value == self._auto_name:
            self._auto_name = pool_name_for(path)
            pool.value = self._auto_name
        self._sniff(path)

    def _forced_format(self) -> str | None:
        v = self.query_one("#format", Select).value
        return None if v in (AUTO, Select.NULL) else str(v)

    def _mapping(self) -> dict | None:
        """The column mapping typed in (format "column mapping…"); ValueError when malformed."""
        if self._forced_format() != "mapping":
            return None
        raw = self.query_one("#mapping", Input).value.strip()
        out = {}
        for part in filter(None, (p.strip() for p in raw.split(","))):
            role, eq, col = part.partition("=")
            if not eq or not role.strip() or not col.strip():
                raise ValueError(f"{part!r}: write role=column, e.g. instruction=question")
            out[role.strip()] = col.strip()
        if not out:
            raise ValueError("type the column mapping, e.g. instruction=question, output=answer")
        return out

    def _sniff(self, path: str) -> None:
        fmt = self._forced_format()
        try:
            mapping = self._mapping()
        except ValueError as e:
            self.detection = None
            self.query_one("#preview-box").display = False
            self._set_detected(str(e), bad=True)
            self._update_import_button()
            return
        self._set_detected("detecting…", bad=False)

        def run():
            from engine.data.ingest import sniff

            return sniff(path, format=fmt, mapping=mapping)

        self.run_engine(
            run, lambda d: self._sniffed(path, d), lambda e: self._sniff_failed(path, e), group="sniff", exclusive=True
        )

    def _sniffed(self, path: str, det: Any) -> None:
        if path != self._path_value():
            return
        self.detection = det
        forced = self._forced_format()
        how = "forced" if forced else "detected"
        self._set_detected(
            Text.assemble(
                (f"{how}: ", "bold"), (f"{det.format}", "bold green"), f" ({det.file_kind}) — ", str(det.reason)
            ),
            bad=False,
        )
        box = self.query_one("#preview-box")
        if det.preview:
            self.query_one("#preview", Static).update(preview_renderable(det.preview))
            box.display = True
        else:
            box.display = False
        if det.suggested_domain and not self._domain_touched:
            self._set_domain(det.suggested_domain)
        self._update_import_button()

    def _sniff_failed(self, path: str, error: BaseException) -> None:
        if path != self._path_value():
            return
        self.detection = None
        self.query_one("#preview-box").display = False
        self._set_detected(f"cannot read this file as instruction data: {error}", bad=True)
        self._update_import_button()

    def _set_detected(self, text: Any, *, bad: bool) -> None:
        w = self.query_one("#detected", Static)
        w.update(text)
        w.set_class(bad, "-bad")

    def _set_domain(self, domain: str) -> None:
        sel = self.query_one("#domain", Select)
        custom = self.query_one("#custom-domain", Input)
        self._domain_auto = domain if domain in DEFAULT_DOMAINS else CUSTOM
        if domain not in DEFAULT_DOMAINS:
            custom.value = domain
        custom.disabled = self._domain_auto != CUSTOM
        sel.value = self._domain_auto

    @on(Input.Changed, "#mapping")
    def _on_mapping(self, event: Input.Changed) -> None:
        event.stop()
        if self._mapping_timer is not None:
            self._mapping_timer.stop()
        path = self._path_value()
        if path and os.path.exists(path):
            self._mapping_timer = self.set_timer(0.3, lambda: self._sniff(path))

    @on(Select.Changed, "#format")
    def _on_format(self, event: Select.Changed) -> None:
        event.stop()
        self.query_one("#mapping-row").display = event.value == "mapping"
        if event.value == "mapping":
            self.query_one("#mapping", Input).focus()
        path = self._path_value()
        if path and os.path.exists(path):
            self._sniff(path)

    @on(Select.Changed, "#domain")
    def _on_domain(self, event: Select.Changed) -> None:
        event.stop()
        custom = self.query_one("#custom-domain", Input)
        custom.disabled = event.value != CUSTOM
        # A Select says Changed on mount and after the dialog's own suggestion too: only another value is the
        # person's choice (else the detected domain would never be applied).
        if event.value == self._domain_auto:
            return
        self._domain_touched = True
        if event.value == CUSTOM:
            custom.focus()

    def _domain(self) -> str | None:
        v = self.query_one("#domain", Select).value
        if v == CUSTOM:
            return self.query_one("#custom-domain", Input).value.strip() or None
        return None if v is Select.NULL else str(v)

    def _update_import_button(self) -> None:
        ok = self.detection is not None and not self.importing and bool(self.query_one("#pool", Input).value.strip())
        self.query_one("#import", Button).disabled = not ok

    @on(Input.Changed, "#pool")
    def _on_pool(self, event: Input.Changed) -> None:
        event.stop()
        self._update_import_button()
        if self.importing:
            return
        name = event.value.strip()
        if name in self.existing:
            self._set_status(f"Pool '{name}' exists: the records are added to it (duplicates are stored once).")
        else:
            self._set_status("")

    @on(Input.Submitted, "#pool")
    @on(Input.Submitted, "#custom-domain")
    def _on_submit_field(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_run_import()

    # -- import -----------------------------------------------------------------------------------------
    @on(Button.Pressed, "#import")
    def _press_import(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_run_import()

    @on(Button.Pressed, "#cancel")
    def _press_cancel(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_cancel()

    def action_run_import(self) -> None:
        if self.importing:
            return
        path = self._path_value()
        pool = self.query_one("#pool", Input).value.strip()
        if self.detection is None or not os.path.exists(path):
            self.notify("Pick a file whose format is detected first.", severity="warning")
            return
        if not pool:
            self.notify("Give the pool a name.", severity="warning")
            return
        domain = self._domain()
        if self.query_one("#domain", Select).value == CUSTOM and not domain:
            self.notify("Type the custom domain, or pick one.", severity="warning")
            return
        fmt = self._forced_format() or self.detection.format
        try:
            mapping = self._mapping()
        except ValueError as e:
            self.notify(str(e), severity="warning")
            return
        skip = self.query_one("#skip", Checkbox).value
        eval_set = self.query_one("#eval-set", Checkbox).value
        provenance = str(self.query_one("#provenance", Select).value)
        from engine.core.jobs import CancelToken

        token = CancelToken()
        self.cancel_token = token
        self.app.cancel_tokens.add(token)  # type: ignore[attr-defined]
        self.importing = True
        self._update_import_button()
        errors = self.query_one("#errors", RichLog)
        errors.clear()
        errors.remove_class("-show")
        self._set_status("")
        self.query_one("#progress-row").display = True
        bar = self.query_one("#progress", ProgressBar)
        bar.update(total=None, progress=0)
        self.query_one("#progress-text", Static).update("starting…")
        self.query_one("#cancel", Button).label = "Cancel import"
        store = self.store

        def run():
            from engine.data.ingest import import_file
            from engine.data.pools import PoolError, set_provenance, set_role

            res = import_file(
                store,
                path,
                pool=pool,
                domain=domain,
                format=fmt,
                mapping=mapping,
                skip_invalid=skip,
                progress=lambda p: self.deliver(self._on_progress, p),
                cancel=token,
            )
            role_error = None
            if provenance != "unknown":  # unknown: a new pool's default; an existing pool keeps its label
                set_provenance(store, pool, provenance)
            if eval_set:
                try:
                    set_role(store, pool, "eval")
                except PoolError as e:  # appended to a pool that saved mixtures drew from: imported, not marked
                    role_error = str(e)
            return res, role_error

        self.run_engine(run, self._import_done, self._import_failed, group="import")

    def _on_progress(self, p: Any) -> None:
        if not self.importing:
            return
        bar = self.query_one("#progress", ProgressBar)
        bar.update(total=p.total, progress=p.done)
        self.query_one("#progress-text", Static).update(p.line())

    def _finish(self) -> None:
        self.importing = False
        if self.cancel_token is not None:
            self.app.cancel_tokens.discard(self.cancel_token)  # type: ignore[attr-defined]
        self.query_one("#cancel", Button).label = "Close"
        self._update_import_button()

    def _import_done(self, done: tuple[Any, str | None]) -> None:
        res, role_error = done
        self._finish()
        self.result = res
        bar = self.query_one("#progress", ProgressBar)
        bar.update(total=max(res.n_records, 1), progress=max(res.n_records, 1))
        summary = (
            f"Imported {res.n_inserted:,} of {res.n_records:,} records as {res.format} into pool "
            f"'{self.query_one('#pool', Input).value.strip()}' in {res.seconds:.1f}s"
        )
        extras = []
        if res.n_duplicates:
            extras.append(f"{res.n_duplicates:,} duplicates stored once")
        if res.n_invalid:
            extras.append(f"{res.n_invalid:,} invalid records quarantined to {res.quarantine_path}")
        if extras:
            summary += " (" + "; ".join(extras) + ")"
        if self.query_one("#eval-set", Checkbox).value and role_error is None:
            summary += "; marked as an eval set"
        provenance = str(self.query_one("#provenance", Select).value)
        if provenance != "unknown":
            summary += f"; provenance {provenance}"
        self.app.notify(summary, title="Import done", timeout=8)
        if role_error is not None:
            self.app.notify(f"Not marked as an eval set: {role_error}", severity="warning", timeout=12)
        self.dismiss(res)

    def _set_status(self, text: Any, bad: bool = False) -> None:
        w = self.query_one("#import-status", Static)
        w.update(text)
        w.set_class(bad, "-bad")

    def _import_failed(self, error: BaseException) -> None:
        self._finish()
        from engine.core.jobs import Cancelled

        self.query_one("#progress-row").display = False
        if isinstance(error, Cancelled):
            self._set_status("Import cancelled: nothing was imported.")
            return
        self._set_status(
            "Import failed: nothing was imported. Every problem is listed below "
            "(or tick 'skip invalid records' to import the rest).",
            bad=True,
        )
        log = self.query_one("#errors", RichLog)
        log.add_class("-show")
        issues = getattr(error, "issues", None)
        n = getattr(error, "n_issues", None) or (len(issues) if issues else 0)
        if issues:
            log.write(Text(f"{n:,} problem{'s' if n != 1 else ''}:", style="bold"))
            for issue in issues:
                log.write(Text(str(issue)))
            if n > len(issues):
                log.write(
                    Text(
                        f"… and {n - len(issues):,} more of the same kinds (the engine keeps the "
                        f"first {len(issues):,})",
                        style="italic",
                    )
                )
        else:
            log.write(Text(f"{type(error).__name__}: {error}"))
        log.scroll_home(animate=False)

    def action_cancel(self) -> None:
        if self.importing and self.cancel_token is not None:
            self.cancel_token.cancel()
            self.query_one("#progress-text", Static).update("cancelling… (stops at the next chunk)")
            return
        self.dismiss(self.result)


def _human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1024
    return f"{n} B"
