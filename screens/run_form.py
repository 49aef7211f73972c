"""The new-run form of the Runs area: mixture version, protocol, base model, LoRA and training settings."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from screens.widgets import EngineCaller, FormDialog, dialog_buttons

# -- the new-run form --------------------------------------------------------------------------------------

TARGETS = [("q_proj,v_proj", "q_proj,v_proj"), ("all-linear", "all-linear"), ("custom (type below)", "custom")]
PROTOCOL_CHOICES = [
    ("multi_task (all domains at once)", "multi_task"),
    ("sequential (one domain after another)", "sequential"),
    ("multi_stage (the version's stages)", "multi_stage"),
]


class NewRunDialog(EngineCaller, FormDialog):
    """The new-run form: a saved mixture version, protocol (with order / stages), base model, LoRA and training
    settings, prefilled with the engine's defaults. OK validates (numbers, order against the version's domains,
    then the engine's own settings checks) and calls `create(spec)` in a worker; an error from it (an unknown
    base model, say) is shown in the form, which stays open. Dismisses with the created run (or None).

    versions: [{"id", "label", "n_items", "domains": [..], "stages": [(name, [domains]), ..] or None}];
    lora / train: the default settings as dicts (asdict of LoraSettings() / TrainSettings());
    packing: the packing choices; spec given to create: {"mixture_id", "protocol", "order", "base_model",
    "name", "lora": {..}, "train": {..}}."""

    DEFAULT_CSS = """
    NewRunDialog > Vertical { width: 104; }
    NewRunDialog > Vertical { padding: 0 2; }
    NewRunDialog .title { margin-bottom: 0; }
    NewRunDialog #nr-body { height: auto; max-height: 24; }
    NewRunDialog .row { height: 1; margin-top: 1; }
    NewRunDialog .head { text-style: bold; color: $text-muted; height: 1; margin-top: 1; }
    NewRunDialog .row Label { width: 14; padding-left: 1; }
    NewRunDialog .row Input { width: 1fr; }
    NewRunDialog .row Select { width: 1fr; }
    NewRunDialog .row Checkbox { width: 1fr; }
    NewRunDialog .info { color: $text-muted; height: auto; padding-left: 1; }
    NewRunDialog #error { height: auto; margin-top: 1; }
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
                    yield Label(label)
                    yield widget

        def inp(key: str, value: Any, placeholder: str = "") -> Input:
            return Input(
                value="" if value is None else str(value), placeholder=placeholder, id=f"nr-{key}", compact=True
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
                        "",
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

    @on(Select.Changed)
    def _changed(self, event: Select.Changed) -> None:
        self._sync()

    def _version(self) -> dict:
        return self.versions[self.query_one("#nr-version", Select).value]

    def _sync(self) -> None:
        """Show the version's domains and stages; enable the order / custom inputs only where they count."""
        v = self._version()
        proto = self.query_one("#nr-protocol", Select).value
        self.query_one("#nr-order", Input).disabled = proto != "sequential"
        self.query_one("#nr-modules", Input).disabled = self.query_one("#nr-targets", Select).value != "custom"
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
        self._busy = True
        self._error("")
        self.query_one("#ok", Button).disabled = True

        def failed(error: BaseException) -> None:
            self._busy = False
            self.query_one("#ok", Button).disabled = False
            self._error(str(error))

        self.run_engine(lambda: self.create(spec), self.dismiss, failed, group="new-run")
