"""Shared pieces of the screens: the base screen, the mode bar, small modal dialogs, worker plumbing (the job
panel is in screens.job_panel).

Workers never touch widgets: `run_engine` runs an engine call in a thread worker and posts a `Deliver`
message back to the node, whose handler runs the callback on the UI thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widget import Widget
from textual.widgets import Button, DataTable, Footer, Header, Input, Label, OptionList, Select, Static
from textual.widgets.option_list import Option
from textual.worker import Worker, get_current_worker

from workbench.actions import bindings_for

# Domains offered in selects. The engine's list (engine.data.formats.DOMAINS) is the same; kept here so that the
# screens do not import the engine at module level (first paint).
DEFAULT_DOMAINS = ["general", "math", "code", "tool_use"]


class Deliver(Message, bubble=False):
    """A worker's result (or error), to run `fn(*args)` on the UI thread of the receiving node."""

    def __init__(self, fn: Callable[..., Any], *args: Any) -> None:
        super().__init__()
        self.fn = fn
        self.args = args


_threads_lock = threading.Lock()
_threads_running = 0


def running_engine_threads() -> int:
    """How many engine jobs are running in threads right now (the app waits for them before closing the store)."""
    return _threads_running


@contextmanager
def engine_thread() -> Iterator[None]:
    """Count the enclosed engine call in `running_engine_threads` (worker threads wrap their engine calls)."""
    global _threads_running
    with _threads_lock:
        _threads_running += 1
    try:
        yield
    finally:
        with _threads_lock:
            _threads_running -= 1


class EngineCaller:
    """Mixin for DOM nodes that run engine calls in thread workers."""

    def deliver(self, fn: Callable[..., Any], *args: Any) -> None:
        """Thread-safe: run fn(*args) on the UI thread (posts a message; never blocks the worker)."""
        self.post_message(Deliver(fn, *args))  # type: ignore[attr-defined]

    def on_deliver(self, message: Deliver) -> None:
        message.stop()
        try:
            message.fn(*message.args)
        except Exception as e:  # noqa: BLE001 - a failing result handler (an OSError, say) is read, never a crash
            self.engine_error(e)

    def run_engine(
        self,
        fn: Callable[[], Any],
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        *,
        group: str = "engine",
        exclusive: bool = False,
        description: str = "",
    ) -> Worker:
        """Run `fn()` in a thread worker; deliver its result to `on_done` (or its error to `on_error`).

        With exclusive=True a newer call in the same group supersedes an older one: the older one's result
        is dropped (the thread itself runs to its end; DuckDB queries cannot be interrupted mid-way).
        """

        def job() -> None:
            worker = get_current_worker()
            with engine_thread():
                try:
                    result = fn()
                except Exception as e:  # noqa: BLE001 - everything goes to the UI, nothing is lost
                    if not worker.is_cancelled:
                        self.deliver(on_error or self.engine_error, e)
                    return
                if not worker.is_cancelled and on_done is not None:
                    self.deliver(on_done, result)

        return self.run_worker(  # type: ignore[attr-defined]
            job,
            thread=True,
            group=group,
            exclusive=exclusive,
            exit_on_error=False,
            description=description or group,
        )

    def engine_error(self, error: BaseException) -> None:
        """Default error display: a notification with the full message."""
        self.app.notify(
            f"{type(error).__name__}: {error}",
            title="Error",
            severity="error",  # type: ignore
            timeout=10,
        )


# Names for the mode bar when the full ones do not fit beside the store status.
SHORT_MODE_NAMES = {"interpolation": "Interp", "clusters": "Clust", "mixtures": "Mix", "results": "Res"}


class ModeBar(Static):
    """One line under the header: the areas with their keys, and the store status on the right."""

    DEFAULT_CSS = """
    ModeBar { height: 1; background: $panel; color: $text-muted; padding: 0 1; }
    """

    def __init__(self, mode: str, **kw) -> None:
        super().__init__(**kw)
        self.mode = mode

    def on_mount(self) -> None:
        self.app.status_signal.subscribe(self, self._status)  # type: ignore[attr-defined]
        self._status(self.app.store_status)  # type: ignore[attr-defined]

    def _status(self, status: str) -> None:
        from workbench.actions import MODES

        width = max(self.size.width, 80)
        # Widest form that leaves room for the status: padded labels, then tight ones, then short names.
        forms = [
            lambda i, m: f" {i} {m.title()} ",
            lambda i, m: f" {i} {m.title()}",
            lambda i, m: f" {i} {SHORT_MODE_NAMES.get(m, m.title())}",
        ]
        for form in forms:
            t = Text(no_wrap=True, overflow="ellipsis")
            for i, m in enumerate(MODES, 1):
                label = form(i % 10, m)  # the tenth area's key is 0
                if m == self.mode:
                    t.append(label, style="bold reverse")
                else:
                    t.append(label)
            if t.cell_len + len(status) + 4 <= width:
                break
        pad = width - 2 - t.cell_len - len(status)
        t.append(" " * max(pad, 2))
        t.append(status, style="italic")
        self.update(t)

    def on_resize(self) -> None:
        self._status(self.app.store_status)  # type: ignore[attr-defined]


class WorkbenchScreen(EngineCaller, Screen):
    """Base of the mode screens: header, mode bar, footer; `CONTEXT` names its registry context.

    A subclass declared with `mode="NAME"` gets NAME as its CONTEXT and MODE, that context's BINDINGS and,
    unless it sets its own, its docstring as HELP."""

    CONTEXT = "global"
    MODE = ""

    def __init_subclass__(cls, mode: str = "", **kwargs: Any) -> None:
        if mode:
            cls.CONTEXT = cls.MODE = mode
            cls.BINDINGS = bindings_for(mode)
            if "HELP" not in cls.__dict__:
                cls.HELP = cls.__doc__
        super().__init_subclass__(**kwargs)

    def compose_header(self) -> ComposeResult:
        yield Header()
        yield ModeBar(self.MODE, id="modebar")

    def compose_footer(self) -> ComposeResult:
        yield Footer()

    @property
    def store(self):
        return self.app.store  # type: ignore[attr-defined]

    def on_mount(self) -> None:
        self.app.data_signal.subscribe(self, self.on_data_changed)  # type: ignore[attr-defined]
        if self.store is not None:
            self.on_data_changed("store")
        elif getattr(self.app, "store_error", None):
            self.on_data_changed("error")

    def on_data_changed(self, what: str) -> None:
        """The store was opened ("store") or changed ("pools", "samples"); reload what is shown."""

    def load_from_store(self, what: str, fn: Callable[[Any], Any], done: Callable[[Any], None], group: str) -> None:
        """Unless `what` is "error" or no store is open: run `fn(store)` in an engine thread (a newer load in
        `group` supersedes it) and hand its result to `done`."""
        if what == "error" or self.store is None:
            return
        store = self.store
        self.run_engine(lambda: fn(store), done, group=group, exclusive=True)


# -- small dialogs -----------------------------------------------------------------------------------------


def choice(options: list[tuple[str, Any]], value: Any, id: str) -> Select:  # noqa: A002 - Textual's name
    """A compact Select that always holds one of `options`."""
    return Select(options, value=value, allow_blank=False, id=id, compact=True)


def dialog_buttons(ok_label: str) -> ComposeResult:
    """A dialog's error line and its Cancel / `ok_label` (id `ok`) buttons."""
    yield Static("", id="error", classes="error")
    with Horizontal(classes="buttons"):
        yield Button("Cancel", id="cancel")
        yield Button(ok_label, id="ok", variant="primary")


class ProcessToken:
    """A cancel token for a job running in a child process: the app's exit (which cancels every token in
    `app.cancel_tokens`) terminates the process, as it cancels thread jobs."""

    def __init__(self, proc) -> None:
        self.proc = proc

    def cancel(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()


class Dialog(ModalScreen):
    """Base of the small modal dialogs: escape cancels."""

    CONTEXT = "dialog"
    BINDINGS = bindings_for("dialog")
    DEFAULT_CSS = """
    Dialog { align: center middle; }
    Dialog > Vertical {
        width: 72; height: auto; max-height: 90%; border: thick $primary; background: $surface;
        padding: 1 2;
    }
    Dialog .title { text-style: bold; margin-bottom: 1; }
    Dialog .buttons { height: auto; margin-top: 1; align-horizontal: right; }
    Dialog .buttons Button { margin-left: 2; }
    Dialog .error { color: $error; }
    Dialog Input > .input--placeholder { text-style: italic; }
    """

    def action_cancel(self) -> None:
        self.dismiss(None)


class FormDialog(Dialog):
    """A dialog with inputs: enter in an input or the "ok" button calls `_submit()` (validate, then dismiss with
    the value or show an error); any other button dismisses with None."""

    def _submit(self) -> None:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._submit()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "ok":
            self._submit()
        else:
            self.dismiss(None)


class ConfirmDialog(Dialog):
    """Yes/no question. Dismisses with True (confirm) or False/None."""

    def __init__(
        self,
        title: str,
        message: str,
        confirm: str = "OK",
        *,
        danger: bool = False,
        extra: tuple[str, str] | None = None,
    ) -> None:
        super().__init__()
        self._title = title
        self._message = message
        self._confirm = confirm
        self._danger = danger
        self._extra = extra  # (label, result) for a second choice, e.g. ("Include", "include")

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self._title, classes="title")
            yield Static(self._message, id="message")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                if self._extra:
                    yield Button(self._extra[0], id="extra", variant="primary")
                yield Button(self._confirm, id="confirm", variant="error" if self._danger else "primary")

    def on_mount(self) -> None:
        self.query_one("#cancel" if self._danger else "#confirm", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "confirm":
            self.dismiss(True)
        elif event.button.id == "extra" and self._extra:
            self.dismiss(self._extra[1])
        else:
            self.dismiss(None)


class InputDialog(FormDialog):
    """Ask for one string (optionally with a Select of choices and a free-text input for a custom value)."""

    def __init__(
        self,
        title: str,
        prompt: str,
        value: str = "",
        *,
        choices: Sequence[str] | None = None,
        placeholder: str = "",
        note: str = "",
        validate: Callable[[str], str | None] | None = None,
        ok: str = "OK",
    ) -> None:
        super().__init__()
        self._title = title
        self._prompt = prompt
        self._value = value
        self._choices = list(choices) if choices else None
        self._placeholder = placeholder
        self._note = note
        self._validate = validate
        self._ok = ok

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self._title, classes="title")
            if self._note:
                yield Static(self._note, id="note")
            yield Label(self._prompt)
            if self._choices:
                opts = [(c, c) for c in self._choices]
                initial = self._value if self._value in self._choices else Select.NULL
                yield Select(opts, value=initial, prompt="choose…", id="choice", allow_blank=True)
                yield Label("or type another:")
                yield Input(
                    value="" if self._value in self._choices else self._value, placeholder=self._placeholder, id="value"
                )
            else:
                yield Input(value=self._value, placeholder=self._placeholder, id="value")
            yield from dialog_buttons(self._ok)

    def on_mount(self) -> None:
        if self._choices:
            self.query_one("#choice", Select).focus()
        else:
            self.query_one("#value", Input).focus()

    def _current(self) -> str:
        typed = self.query_one("#value", Input).value.strip()
        if typed or not self._choices:
            return typed
        v = self.query_one("#choice", Select).value
        return "" if v is Select.NULL else str(v)

    def _submit(self) -> None:
        value = self._current()
        err = "a value is required" if not value else (self._validate(value) if self._validate else None)
        if err:
            self.query_one("#error", Static).update(err)
            return
        self.dismiss(value)


class FieldsDialog(FormDialog):
    """Several labelled one-line fields (one value each, never two typed into one field); dismisses with
    {key: text} once `validate(values)` returns None (else its message is shown and the form stays open)."""

    DEFAULT_CSS = """
    FieldsDialog .row { height: 1; margin-top: 1; }
    FieldsDialog .row Label { width: 16; }
    FieldsDialog .row Input { width: 1fr; }
    """

    def __init__(
        self,
        title: str,
        fields: Sequence[tuple[str, str, str, str]],
        *,
        note: str = "",
        validate: Callable[[dict[str, str]], str | None] | None = None,
        ok: str = "OK",
    ) -> None:
        super().__init__()
        self._title, self._fields, self._note, self._validate, self._ok = title, list(fields), note, validate, ok

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self._title, classes="title")
            if self._note:
                yield Static(self._note, id="note")
            for key, label, value, placeholder in self._fields:  # (key, label, value, placeholder)
                with Horizontal(classes="row"):
                    yield Label(label)
                    yield Input(value=value, placeholder=placeholder, id=f"fd-{key}", compact=True)
            yield from dialog_buttons(self._ok)

    def on_mount(self) -> None:
        self.query_one(f"#fd-{self._fields[0][0]}", Input).focus()

    def values(self) -> dict[str, str]:
        return {key: self.query_one(f"#fd-{key}", Input).value.strip() for key, *_ in self._fields}

    def _submit(self) -> None:
        v = self.values()
        err = self._validate(v) if self._validate else None
        if err:
            self.query_one("#error", Static).update(err)
            return
        self.dismiss(v)


class ChoiceDialog(Dialog):
    """Pick one of a list (OptionList); dismisses with the chosen id."""

    DEFAULT_CSS = """
    ChoiceDialog OptionList { height: auto; max-height: 20; }
    """

    def __init__(self, title: str, choices: Sequence[tuple[str, str]], current: str | None = None) -> None:
        super().__init__()
        self._title = title
        self._choices = list(choices)  # (id, label)
        self._current = current

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self._title, classes="title")
            yield OptionList(*[Option(label, id=cid) for cid, label in self._choices], id="choices")

    def on_mount(self) -> None:
        ol = self.query_one(OptionList)
        ol.focus()
        ids = [c for c, _ in self._choices]
        if self._current in ids:
            ol.highlighted = ids.index(self._current)

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)


class NavTable(DataTable):
    """A DataTable moved with the sample table's keys (j / k, g / G, home / end go to the first / last row);
    a key the screen binds to one of its own actions keeps doing that."""

    CONTEXT = "datatable"
    BINDINGS = bindings_for("datatable")

    def on_mount(self) -> None:
        ours = {k for b in self.BINDINGS for k in b.key.split(",")}  # only our moves; DataTable's own stay
        for key in set(self.screen._bindings.key_to_bindings) & ours:
            self._bindings.key_to_bindings.pop(key, None)


def describe_node(node: Widget | Screen | None) -> str:
    """A short human name for a widget ("Input #text", "SampleTable")."""
    if node is None:
        return "screen"
    name = type(node).__name__
    return f"{name} #{node.id}" if node.id else name
