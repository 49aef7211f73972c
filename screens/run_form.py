"""The new-run form of the Runs area: mixture version, protocol, base model, LoRA and training settings."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from screens.widgets import ConfirmDialog, EngineCaller, FormDialog, dialog_buttons

# -- the new-run form --------------------------------------------------------------------------------------

TARGETS = [("q_proj,v_proj", "q_proj,v_proj"), ("all-linear", "all-linear"), ("custom (type below)", "custom")]
PROTOCOL_CHOICES = [
    ("multi_task (all domains at once)", "multi_task"),
    ("sequential (one domain after another)", "sequential"),
    ("multi_stage (the version's stages)", "multi_stage"),
]


# alt+KEY reaches each field (shown beside its label); the Tab order is the same whatever the protocol
FIELD_KEYS = {
    "version": "m",
    "protocol": "p",
    "order": "o",
    "base": "b",
    "name": "n",
    "r": "r",
    "alpha": "a",
    "dropout": "d",
    "targets": "t",
    "modules": "u",
    "max_steps": "s",
    "epochs": "e",
    "lr": "l",
    "max_len": "x",
    "packing": "k",
    "conflict": "c",
    "ckpt": "g",
}


class NewRunDialog(EngineCaller, FormDialog):
    """The new-run form: a saved mixture version, protocol (with order / stages), base model, LoRA and training
    settings, prefilled with the engine's defaults. OK validates (numbers, order against the version's domains,
    then the engine's own settings checks) and calls `create(spec)` in a worker; an error from it (an unknown
    base model, say) is shown in the form, which stays open. Dismisses with the created run (or None).

    versions: [{"id", "label", "n_items", "domains": [..], "stages": [(name, [domains]), ..] or None}];
    lora / train: the default settings as dicts (asdict of LoraSettings() / TrainSettings());
    packing: the packing choices; spec given to create: {"mixture_id", "protocol", "order", "base_model",
    "name", "lora": {..}, "train": {..}}."""

    HELP = """
    ### New training run
    Pick a saved mixture version and a protocol, then the base model, LoRA and training settings (prefilled
    with the defaults). Every field has a key: **alt+letter** as shown beside its label (alt+e epochs,
    alt+l lr, ...); **tab** / **shift+tab** walk the fields in the same order whatever the protocol (order and
    custom modules are read only where they count). Typing in a field edits its text; nothing is selected on
    entry.

    **enter** or **Queue** checks every field, then shows a summary to confirm before the run is queued.
    **escape** closes the form; if you changed anything it asks first, so a stray escape loses nothing.
    """
    DEFAULT_CSS = """
    NewRunDialog > Vertical { width: 104; }
    NewRunDialog > Vertical { padding: 0 2; }
    NewRunDialog .title { margin-bottom: 0; }
    NewRunDialog #nr-body { height: auto; max-height: 24; }
    NewRunDialog .row { height: 1; margin-top: 1; }
    NewRunDialog .head { text-style: bold; color: $text-muted; height: 1; margin-top: 1; }
    NewRunDialog .row Label { width: 19; padding-left: 1; }
    NewRunDialog .row Input { width: 1fr; }
    NewRunDialog .row Select { width: 1fr; }
    NewRunDialog .row Checkbox { width: 1fr; }
    NewRunDialog .info { color: $text-muted; height: auto; padding-left: 1; }
    NewRunDialog #error { height: auto; margin-top: 1; }
    NewRunDialog Input.unused { color: $text-disabled; }
    """

    def __init__(
        self,
        versions: list[dict],
        lora: dict,
        train: dict,
        packing: Sequence[str],
        create: Callable[[dict], Any],
        default_model: str = "",
    ) -> None:
        super().__init__()
        if not versions:
            raise ValueError("no saved mixture versions to train")
        self.versions = {v["id"]: v for v in versions}
        self.lora, self.train = lora, train
        self.packing = list(packing)
        self.create = create
        self.default_model = default_model
        self._busy = False

    def compose(self) -> ComposeResult:
        lo, tr = self.lora, self.train
        tm = lo["target_modules"]
        tm_text = tm if isinstance(tm, str) else ",".join(tm)
        tm_choice = tm_text if tm_text in ("q_proj,v_proj", "all-linear") else "custom"
        latest = max(self.versions)

        def row(*pairs):
            with Horizontal(classes="row"):
                for label, widget in pairs:
                    key = FIELD_KEYS.get((widget.id or "")[3:])
                    yield Label(f"{label} [dim]alt+{key}[/]" if label and key else label)
                    yield widget

        def inp(key: str, value: Any, placeholder: str = "") -> Input:
            return Input(
                value="" if value is None else str(value),
                placeholder=placeholder,
                id=f"nr-{key}",
                compact=True,
                select_on_focus=False,
            )

        with Vertical():
            yield Label("New training run", classes="title")
            with VerticalScroll(id="nr-body"):
                yield from row(
                    (
                        "mixture",
                        Select(
                            [(f"{v['label']} · {v['n_items']:,} items", k) for k, v in self.versions.items()],
                            value=latest,
                            allow_blank=False,
                            id="nr-version",
                            compact=True,
                        ),
                    )
                )
                yield Static("", id="nr-info", classes="info")
                yield from row(
                    (
                        "protocol",
                        Select(PROTOCOL_CHOICES, value="multi_task", allow_blank=False, id="nr-protocol", compact=True),
                    ),
                    ("order", inp("order", "", "domains, comma-separated (sequential)")),
                )
                yield from row(
                    ("base model", inp("base", "", f"empty = {self.default_model}; folder or hub id")),
                    ("name", inp("name", "", "empty = MIXTURE@V-PROTOCOL")),
                )
                yield Static("LoRA", classes="head")
                yield from row(
                    ("r", inp("r", lo["r"])),
                    ("alpha", inp("alpha", lo["alpha"])),
                    ("dropout", inp("dropout", lo["dropout"])),
                )
                yield from row(
                    ("targets", Select(TARGETS, value=tm_choice, allow_blank=False, id="nr-targets", compact=True)),
                    (
                        "custom",
                        inp("modules", tm_text if tm_choice == "custom" else "", "module names, comma-separated"),
                    ),
                )
                yield Static("Training", classes="head")
                yield from row(
                    ("max steps", inp("max_steps", tr["max_steps"], "empty = by epochs")),
                    ("epochs", inp("epochs", tr["epochs"])),
                    ("lr", inp("lr", tr["lr"])),
                )
                yield from row(
                    ("max_len", inp("max_len", tr["max_len"])),
                    (
                        "packing",
                        Select(
                            [(p, p) for p in self.packing],
                            value=tr["packing"],
                            allow_blank=False,
                            id="nr-packing",
                            compact=True,
                        ),
                    ),
                    ("conflict every", inp("conflict", tr["grad_conflict_every"], "steps, 0 = never")),
                )
                yield from row(
                    (
                        "checkpoint",
                        Checkbox(
                            "gradient checkpointing (less memory, slower)",
                            value=bool(tr["gradient_checkpointing"]),
                            id="nr-ckpt",
                            compact=True,
                        ),
                    )
                )
            yield from dialog_buttons("Queue")

    def on_mount(self) -> None:
        self._sync()
        self.query_one("#nr-version", Select).focus()
        self._initial = self._snapshot()

    def on_key(self, event) -> None:
        """alt+letter focuses the field labelled with it."""
        if event.key.startswith("alt+"):
            field = {v: k for k, v in FIELD_KEYS.items()}.get(event.key[4:])
            if field:
                event.stop()
                self.query_one(f"#nr-{field}").focus()

    def _snapshot(self) -> tuple:
        return tuple((w.id, getattr(w, "value", None)) for w in self.query("Input, Select, Checkbox") if w.id)

    def action_cancel(self) -> None:
        """Escape: close at once when nothing changed, else ask (a stray escape must not lose the form)."""
        if self._snapshot() == getattr(self, "_initial", None):
            self.dismiss(None)
            return

        def answered(discard) -> None:
            if discard:
                self.dismiss(None)

        self.app.push_screen(
            ConfirmDialog("Discard this run?", "The settings you changed are lost.", "Discard", danger=True),
            answered,
        )

    @on(Select.Changed)
    def _changed(self, event: Select.Changed) -> None:
        self._sync()

    def _version(self) -> dict:
        return self.versions[self.query_one("#nr-version", Select).value]

    def _sync(self) -> None:
        """Show the version's domains and stages; enable the order / custom inputs only where they count."""
        v = self._version()
        proto = self.query_one("#nr-protocol", Select).value
        # never disabled (a disabled field drops out of the Tab order and shifts every later field): dimmed
        self.query_one("#nr-order", Input).set_class(proto != "sequential", "unused")
        self.query_one("#nr-modules", Input).set_class(
            self.query_one("#nr-targets", Select).value != "custom", "unused"
        )
        doms = ", ".join(v["domains"]) or "none"
        if v["stages"]:
            stages = "; ".join(f"{n}: {', '.join(d)}" for n, d in v["stages"])
            st = f"{len(v['stages'])} stage(s): {stages}"
        else:
            st = "no stages (multi_stage needs a version saved with stages)"
        hint = {
            "sequential": "sequential trains the domains in the order given (every domain must be named "
            "or comes after, in data order)",
            "multi_stage": "multi_stage trains stage after stage",
            "multi_task": "multi_task trains all domains at once",
        }[str(proto)]
        self.query_one("#nr-info", Static).update(f"domains: {doms} · {st}\n{hint}")

    def values(self) -> dict:
        """The run spec from the form; ValueError naming the bad field (the engine's checks included)."""
        from engine.training import LoraSettings, TrainingError, TrainSettings

        def text(key: str) -> str:
            return self.query_one(f"#nr-{key}", Input).value.strip()

        def num(key: str, label: str, cast, *, empty=False):
            s = text(key)
            if not s and empty:
                return None
            try:
                return cast(s)
            except ValueError:
                kind = "a whole number" if cast is int else "a number"
                raise ValueError(f"{label} must be {kind} (got {s!r})") from None

        v = self._version()
        proto = str(self.query_one("#nr-protocol", Select).value)
        order = None
        if proto == "sequential":
            order = [d.strip() for d in text("order").split(",") if d.strip()]
            if not order:
                raise ValueError(
                    f"sequential needs an order: the domains of {v['label']} comma-separated, "
                    f"e.g. {','.join(v['domains'])}"
                )
            unknown = [d for d in order if d not in v["domains"]]
            if unknown:
                raise ValueError(
                    f"order: unknown domain(s) {', '.join(unknown)} ({v['label']} has {', '.join(v['domains'])})"
                )
            if len(set(order)) != len(order):
                raise ValueError("order names a domain twice")
        if proto == "multi_stage" and not v["stages"]:
            raise ValueError(
                f"{v['label']} has no stages: multi_stage needs a version saved with stages "
                "(Mixtures screen, s; or workbench mix save --stage/--dmt); pick multi_task or sequential"
            )
        targets = str(self.query_one("#nr-targets", Select).value)
        if targets == "custom":
            targets = text("modules")
            if not targets:
                raise ValueError("custom targets: write module names, comma-separated (e.g. q_proj,k_proj,v_proj)")
        lora = {
            "r": num("r", "LoRA r", int),
            "alpha": num("alpha", "LoRA alpha", int),
            "dropout": num("dropout", "LoRA dropout", float),
            "target_modules": targets
            if targets == "all-linear"
            else [m.strip() for m in targets.split(",") if m.strip()],
        }
        train = {
            "max_steps": num("max_steps", "max steps", int, empty=True),
            "epochs": num("epochs", "epochs", float),
            "lr": num("lr", "learning rate", float),
            "max_len": num("max_len", "max_len", int),
            "packing": str(self.query_one("#nr-packing", Select).value),
            "grad_conflict_every": num("conflict", "conflict every", int),
            "gradient_checkpointing": self.query_one("#nr-ckpt", Checkbox).value,
        }
        try:
            LoraSettings(**lora).validate()
            TrainSettings(**(self.train | train)).validate()
        except TrainingError as e:
            raise ValueError(str(e)) from None
        return {
            "mixture_id": v["id"],
            "protocol": proto,
            "order": order,
            "base_model": text("base") or None,
            "name": text("name") or None,
            "lora": lora,
            "train": train,
        }

    def _error(self, msg: str) -> None:
        self.query_one("#error", Static).update(msg)

    def _submit(self) -> None:
        if self._busy:
            return
        try:
            spec = self.values()
        except ValueError as e:
            self._error(str(e))
            return
        self._error("")

        def confirmed(ok) -> None:
            if ok:
                self._queue(spec)

        self.app.push_screen(ConfirmDialog("Queue this run?", self.summary(spec), "Queue"), confirmed)

    def summary(self, spec: dict) -> str:
        """What will be queued, in one short paragraph (the confirmation's text)."""
        v = self.versions[spec["mixture_id"]]
        lo, tr = spec["lora"], spec["train"]
        tm = lo["target_modules"] if isinstance(lo["target_modules"], str) else ",".join(lo["target_modules"])
        proto = spec["protocol"] + (f" ({' → '.join(spec['order'])})" if spec["order"] else "")
        length = f"{tr['max_steps']} steps" if tr["max_steps"] else f"{tr['epochs']:g} epoch(s)"
        return (
            f"{v['label']} ({v['n_items']:,} items) · {proto}\n"
            f"base model: {spec['base_model'] or self.default_model} · name: {spec['name'] or '(default)'}\n"
            f"LoRA r {lo['r']}, alpha {lo['alpha']}, dropout {lo['dropout']:g}, targets {tm}\n"
            f"{length} · lr {tr['lr']:g} · max_len {tr['max_len']} · packing {tr['packing']}"
            + (f" · conflict every {tr['grad_conflict_every']} steps" if tr["grad_conflict_every"] else "")
            + (" · gradient checkpointing" if tr["gradient_checkpointing"] else "")
        )

    def _queue(self, spec: dict) -> None:
        self._busy = True
        self.query_one("#ok", Button).disabled = True

        def failed(error: BaseException) -> None:
            self._busy = False
            self.query_one("#ok", Button).disabled = False
            self._error(str(error))

        self.run_engine(lambda: self.create(spec), self.dismiss, failed, group="new-run")
