"""What a job works on, asked before it starts: the Browse filter (the default) or every training sample.

Every job started from a screen (scoring, heuristics, embedding, clustering, interpolation sets) works on the last
Browse filter (`app.current_filter`) unless the person switches to every training sample here. Each choice is said
in words with its count ("412 samples: pool gsm8k, domain math, not excluded; eval pools left out":
engine.data.scope.describe_scope), so what a job will touch is never a guess.

The jobs whose model can run on a Ray cluster (scoring, embedding: `places=True`) also ask where they run: here
(the default) or on Ray (an address, blank for $RAY_ADDRESS or a local Ray, and the number of actors). The choice
is remembered for the session (`app.job_place`); without Ray installed the dialog says how to install it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, RadioButton, RadioSet, Static

from screens.widgets import EngineCaller, FormDialog, dialog_buttons

BROWSE, ALL = "browse", "all"
LOCAL, RAY = "local", "ray"


def job_place(app: Any) -> dict:
    """Where the last job that asked ran: {"on": "local"|"ray", "address": str, "actors": str} (session only)."""
    return getattr(app, "job_place", None) or {"on": LOCAL, "address": "", "actors": ""}


def current_filter(app: Any) -> Any:
    """The app's last Browse filter (engine.data.query.Filter), None when Browse has not filtered yet."""
    return getattr(app, "current_filter", None)


def load_choices(store: Any, f: Any) -> list[tuple[str, Any, str]]:
    """(key, engine Scope, words) for the dialog: the Browse filter when it narrows anything, then every training
    sample (runs queries: call it from a worker)."""
    from engine.data.scope import scope_choices

    return scope_choices(store, f)


class ScopeDialog(FormDialog):
    """Confirm a job's scope. Choices are (key, Scope, words), the first picked; with `name` (label, placeholder,
    validate) the dialog also asks for a name. Dismisses with {"key", "scope", "words", "name"} or None."""

    DEFAULT_CSS = """
    ScopeDialog > Vertical { width: 84; }
    ScopeDialog #sd-note { color: $text-muted; margin-bottom: 1; }
    ScopeDialog RadioSet { width: 1fr; margin-bottom: 1; }
    ScopeDialog .row { height: 1; margin-bottom: 1; }
    ScopeDialog .row Label { width: 10; }
    ScopeDialog .row Input { width: 1fr; }
    ScopeDialog #sd-ray-note { color: $warning; margin-bottom: 1; }
    """

    def __init__(
        self,
        title: str,
        choices: Sequence[tuple[str, Any, str]],
        *,
        note: str = "",
        ok: str = "Start",
        name: tuple[str, str, Callable[[str], str | None]] | None = None,
        places: bool = False,
    ) -> None:
        super().__init__()
        self._title, self._choices, self._note, self._ok, self._name = title, list(choices), note, ok, name
        self._places = places

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self._title, classes="title")
            if self._note:
                yield Static(self._note, id="sd-note", markup=False)
            yield Label("works on:")
            with RadioSet(id="sd-scope"):
                for i, (key, _scope, words) in enumerate(self._choices):
                    prefix = "the Browse filter: " if key == BROWSE else ""
                    yield RadioButton(Text(prefix + words), value=i == 0, id=f"sd-{key}")
            if self._name is not None:
                with Horizontal(classes="row"):
                    yield Label(self._name[0])
                    yield Input(placeholder=self._name[1], id="sd-name", compact=True)
            if self._places:
                yield from self._compose_places()
            yield from dialog_buttons(self._ok)

    def _compose_places(self) -> ComposeResult:
        from engine.core.ray_jobs import ray_missing

        last = job_place(self.app)
        missing = ray_missing()
        yield Label("runs on:")
        with RadioSet(id="sd-on"):
            yield RadioButton("this machine", value=last["on"] != RAY, id="sd-on-local")
            yield RadioButton("Ray" + (" (not installed)" if missing else ""), value=last["on"] == RAY, id="sd-on-ray")
        if missing:
            yield Static(missing, id="sd-ray-note", markup=False)
        with Horizontal(classes="row"):
            yield Label("address")
            yield Input(last["address"], placeholder="blank: $RAY_ADDRESS, else a local Ray", id="sd-ray-address")
        with Horizontal(classes="row"):
            yield Label("actors")
            yield Input(last["actors"], placeholder="blank: one per GPU, else one per CPU", id="sd-ray-actors")

    def on_mount(self) -> None:
        if self._name is not None:
            self.query_one("#sd-name", Input).focus()
        else:
            self.query_one("#ok", Button).focus()

    def choose(self, key: str) -> None:
        """Pick the choice `key` ("browse" or "all")."""
        self.query_one(f"#sd-{key}", RadioButton).value = True

    def picked(self) -> tuple[str, Any, str]:
        i = self.query_one("#sd-scope", RadioSet).pressed_index
        return self._choices[i if 0 <= i < len(self._choices) else 0]

    def place_on(self, on: str) -> None:
        """Pick where the job runs: "local" or "ray"."""
        self.query_one(f"#sd-on-{on}", RadioButton).value = True

    def _place(self) -> tuple[str, Any] | str:
        """("local", None) or ("ray", RaySetup), or an error message."""
        if not self._places or self.query_one("#sd-on", RadioSet).pressed_index != 1:
            return LOCAL, None
        from engine.core.ray_jobs import RaySetup, ray_missing

        missing = ray_missing()
        if missing:
            return missing + "; or run it on this machine"
        address = self.query_one("#sd-ray-address", Input).value.strip()
        raw = self.query_one("#sd-ray-actors", Input).value.strip()
        actors = None
        if raw:
            try:
                actors = int(raw)
            except ValueError:
                actors = 0
            if actors < 1:
                return f"actors: {raw!r} is not a whole number of at least 1 (blank: one per GPU, else per CPU)"
        self.app.job_place = {"on": RAY, "address": address, "actors": raw}  # type: ignore[attr-defined]
        return RAY, RaySetup(address=address or None, actors=actors)

    def _submit(self) -> None:
        key, scope, words = self.picked()
        name = ""
        if self._name is not None:
            name = self.query_one("#sd-name", Input).value.strip()
            err = self._name[2](name)
            if err:
                self.query_one("#error", Static).update(err)
                return
        place = self._place()
        if isinstance(place, str):
            self.query_one("#error", Static).update(place)
            return
        on, ray = place
        if self._places and on == LOCAL:
            self.app.job_place = job_place(self.app) | {"on": LOCAL}  # type: ignore[attr-defined]
        self.dismiss({"key": key, "scope": scope, "words": words, "name": name, "on": on, "ray": ray})


def ask_scope(
    screen: EngineCaller,
    title: str,
    then: Callable[[dict], None],
    *,
    note: str = "",
    ok: str = "Start",
    name: tuple[str, str, Callable[[str], str | None]] | None = None,
    places: bool = False,
) -> None:
    """Count the choices in a worker, then show the dialog; `then(result)` runs when the person confirms (its
    "on" and "ray": where the job runs, asked when `places`)."""
    store, f = screen.store, current_filter(screen.app)  # type: ignore[attr-defined]

    def show(choices: list) -> None:
        def done(res: dict | None) -> None:
            if res:
                then(res)

        screen.app.push_screen(ScopeDialog(title, choices, note=note, ok=ok, name=name, places=places), done)  # type: ignore[attr-defined]

    screen.run_engine(lambda: load_choices(store, f), show, group="scope-choices", exclusive=True)
