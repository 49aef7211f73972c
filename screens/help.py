"""F1 help: what the focused widget is for, the keys active there, and the global keys."""

from __future__ import annotations

import inspect
from textwrap import dedent

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widget import Widget
from textual.widgets import Label, Markdown, Static

from workbench import actions as registry
from workbench.actions import bindings_for, key_display


def help_text_for(node: Widget | Screen | None, screen: Screen | None) -> str:
    """The HELP text of the focused widget (or of its nearest ancestor with one), else a docstring."""
    chain: list = list(node.ancestors_with_self) if node is not None else []
    if screen is not None and screen not in chain:
        chain.append(screen)
    for n in chain:
        text = getattr(type(n), "HELP", None)
        if text:
            return dedent(text).strip()
    for n in chain:
        doc = inspect.getdoc(type(n))
        if doc and type(n).__module__.startswith("screens"):
            return doc
    return "No help for this widget."


def _heading(text: str) -> str:
    """The first line of a HELP text, without markdown heading marks or a trailing period."""
    first = dedent(text).strip().split("\n", 1)[0].lstrip("#").strip()
    return first.split(": ", 1)[0].rstrip(".") if len(first) > 60 else first.rstrip(".")


def help_title(node: Widget | None, screen: Screen) -> str:
    """Where F1 was pressed, in the user's words: the area, then the part of it (from the HELP texts), and
    for a text field what its placeholder asks for."""
    area = (getattr(screen, "MODE", "") or "").replace("_", " ").capitalize()
    screen_help = getattr(type(screen), "HELP", None)
    if not area and screen_help:
        area = _heading(screen_help)
    part = ""
    for n in list(node.ancestors_with_self) if node is not None else []:
        if n is screen:
            break
        text = getattr(type(n), "HELP", None)
        if text and text is not screen_help:
            part = _heading(text)
            break
    field = ""
    placeholder = getattr(node, "placeholder", None)
    if isinstance(placeholder, str) and placeholder.strip():
        field = f"the “{placeholder.strip()}” field"
    words = [w for w in (area, part if part.lower() != area.lower() else "", field) if w]
    return " · ".join(words) or "this screen"


def _key_rows(screen: Screen) -> tuple[list[tuple[str, str]], list[tuple[str, str]], list[tuple[str, str]]]:
    """Rows of (keys, description) live at the focus: registry actions of the focused widget's and the
    screen's contexts, the widget's own keys (Textual built-ins), and the global registry actions."""
    by_id = {a.id: a for a in registry.all_actions()}
    keys_of: dict[str, list[str]] = {}
    descr: dict[str, str] = {}
    kind: dict[str, str] = {}
    order: list[str] = []
    for key, active in screen.active_bindings.items():
        b: Binding = active.binding
        action = by_id.get(b.id or "")
        if action is not None:
            ident = action.id
            descr[ident] = action.description
            kind[ident] = "global" if action.context == registry.GLOBAL else "local"
        else:
            if not b.description or b.system:
                continue
            ident = f"{type(active.node).__name__}:{b.action}"
            descr[ident] = b.description
            kind[ident] = "widget"
        ks = keys_of.setdefault(ident, [])
        k = key_display(key)
        if k not in ks:
            ks.append(k)
        if ident not in order:
            order.append(ident)

    def keys(ident: str) -> str:
        action = by_id.get(ident)
        if action is not None:  # registry order ("q / ctrl+q"), only the keys live here
            live = keys_of[ident]
            ordered = [key_display(k) for k in action.keys if key_display(k) in live]
            return " / ".join(ordered + [k for k in live if k not in ordered])
        return " / ".join(keys_of[ident])

    def rows(k: str) -> list[tuple[str, str]]:
        return [(keys(i), descr[i]) for i in order if kind[i] == k]

    return rows("local"), rows("widget"), rows("global")


def _table(rows: list[tuple[str, str]]) -> Table:
    t = Table.grid(padding=(0, 2))
    t.add_column(style="bold", no_wrap=True)
    t.add_column()
    for k, d in rows:
        t.add_row(k, d)
    return t


class HelpScreen(ModalScreen[None]):
    """Help for the focused widget: its purpose, the keys active there and the global keys."""

    CONTEXT = "help"
    BINDINGS = bindings_for("help")
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Vertical {
        width: 90%; max-width: 110; height: 90%; border: thick $primary; background: $surface; padding: 0 1;
    }
    HelpScreen #help-title { text-style: bold; padding: 0 1; background: $primary-muted; width: 100%; }
    HelpScreen Markdown { margin: 0; padding: 0; }
    HelpScreen .section { text-style: bold; margin-top: 1; color: $accent; }
    HelpScreen #help-foot { color: $text-muted; margin-top: 1; }
    """

    def __init__(self, screen: Screen, focused: Widget | None) -> None:
        super().__init__()
        self._target_screen = screen
        self._focused = focused

    def compose(self) -> ComposeResult:
        local, widget, glob = _key_rows(self._target_screen)
        with Vertical():
            yield Label(f"Help — {help_title(self._focused, self._target_screen)}", id="help-title")
            with VerticalScroll(id="help-body"):
                yield Markdown(help_text_for(self._focused, self._target_screen), id="help-text")
                yield Static("Keys here", classes="section")
                yield Static(_table(local) if local else Text("(none beyond the global keys)"), id="keys-local")
                if widget:
                    yield Static("Keys of the widget itself", classes="section")
                    yield Static(_table(widget), id="keys-widget")
                yield Static("Global keys", classes="section")
                yield Static(
                    _table(glob) if glob else Text("(global keys are paused while a dialog is open)"), id="keys-global"
                )
                yield Static(
                    "Every action is also in the command palette (ctrl+p). Keys can be changed in "
                    f"{registry.default_keymap_path().name} under the config folder: see docs/screens.md.",
                    id="help-foot",
                )

    def on_mount(self) -> None:
        self.query_one("#help-body").focus()

    def action_close(self) -> None:
        self.dismiss(None)
