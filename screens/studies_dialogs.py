"""The Studies area's dialogs: the new-study form, extend (more axis values, more eval sets) and the proposed
allocation of a growth study."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Input, Label, Select, SelectionList, Static

from screens.widgets import ConfirmDialog, EngineCaller, FormDialog, dialog_buttons

TEMPLATE_CHOICES = [
    ("growth: each domain at log-spaced volumes (DoIT growth curves)", "growth"),
    ("targeted: a targeted selection at budgets vs random vs the base model", "targeted"),
    ("quantiles: one run per distance quantile (NAME-q0 ..)", "quantiles"),
    ("ratio: two domains' shares at a fixed total (code-math)", "ratio"),
    ("protocols: multi-task vs sequential vs multi-stage, Conflict Rate", "protocols"),
    ("cross: each domain trained alone (cross-ability matrix)", "cross"),
]
# what the base of each template is, in the form's words, and where its choices come from
BASE_KIND = {
    "targeted": ("targeted", "a targeted selection (Targeted area, n)"),
    "quantiles": ("quantiles", "a distance-quantile experiment (Targeted area, n with quantiles)"),
    "growth": ("mixtures", "a saved mixture version (Mixtures area)"),
    "ratio": ("mixtures", "a saved mixture version (Mixtures area)"),
    "protocols": ("mixtures", "a saved mixture version (Mixtures area)"),
    "cross": ("mixtures", "a saved mixture version (Mixtures area)"),
}
# the template's axis (besides seeds): its engine name and the form's placeholder
AXIS = {
    "targeted": ("budget", "budgets in samples, e.g. 50,100 (blank: k/8, k/4, k/2, k)"),
    "quantiles": ("quantile", "quantiles to train, e.g. 0,4,9 (blank: every one)"),
    "growth": ("fraction", "fractions of the volume, e.g. 1/16,1/4,1 (blank: 5 log-spaced, 4x apart)"),
    "ratio": ("ratio", "shares of the first domain, e.g. 0,0.5,1 (blank: 0, 0.25 .. 1)"),
    "protocols": ("protocol", "multi_task,sequential,multi_stage (blank: all three)"),
    "cross": ("domain", "domains trained alone, e.g. math,code (blank: every domain)"),
}
DOMAINS_PLACEHOLDER = {
    "ratio": "the two domains, e.g. code,math (blank: code,math or the first two)",
    "protocols": "the general domain(s) trained last (blank: general)",
}
TARGETS = [("q_proj,v_proj", "q_proj,v_proj"), ("all-linear", "all-linear")]

# alt+KEY reaches each field (shown beside its label); the Tab order is the same whatever the template
FIELD_KEYS = {
    "name": "n",
    "template": "t",
    "base": "b",
    "values": "v",
    "seeds": "s",
    "domains": "d",
    "total": "o",
    "model": "m",
    "r": "r",
    "alpha": "a",
    "targets": "g",
    "steps": "x",
    "epochs": "e",
    "lr": "l",
    "maxlen": "k",
    "batch": "h",
    "sets": "i",
    "items": "p",
    "provs": "u",
}


def names(text: str) -> list[str]:
    return [x.strip() for x in str(text or "").split(",") if x.strip()]


def parse_axis(axis: str, text: str) -> list | None:
    """The values typed for an axis (None when blank: the template's default); ValueError naming the bad one."""
    from engine.mixtures import MixtureError, parse_fraction

    parts = names(text)
    if not parts:
        return None
    out: list = []
    for p in parts:
        if axis in ("budget", "quantile", "seed"):
            try:
                out.append(int(p))
            except ValueError:
                raise ValueError(f"{axis}s are whole numbers, comma separated (got {p!r})") from None
        elif axis in ("fraction", "ratio"):
            try:
                out.append(parse_fraction(p))
            except MixtureError:
                raise ValueError(f"{axis}s are numbers such as 0.25, 1/4 or 25% (got {p!r})") from None
        else:
            out.append(p)
    return out


def plan_summary(name: str, plan: dict | None, error: str | None = None, *, saved: bool = True) -> str:
    """The launch confirmation's text: new runs, the estimated time and the first cells."""
    if plan is None:
        return f"study {name}: no plan ({error}); launching will say the same"
    new = [c for c in plan["cells"] if c["state"] in ("new", "failed", "cancelled") and c["arm"] != "base"]
    if plan.get("estimate_s") is not None:
        s = int(round(plan["estimate_s"]))
        when = f"about {s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"about {s // 60}m{s % 60:02d}s"
        est = f"{when} of training (from {len(plan['rate_runs'])} finished run(s) here; evaluation not included)"
    else:
        est = "no time estimate yet (no finished run of this base model in this store)"
    lines = [
        f"{plan['n_new']} new run(s) to queue of the {plan['n_runs']} in the grid, and the base model",
        est,
        "",
    ]
    for c in new[:8]:
        lines.append(f"  {c['key']} · {c['n_items']:,} items")
    if len(new) > 8:
        lines.append(f"  … and {len(new) - 8} more")
    if saved:
        lines += ["", "The study is saved either way: Cancel keeps it unlaunched (l launches it later)."]
    return "\n".join(lines)


class StudyDialog(EngineCaller, FormDialog):
    """The new-study form. `choices`: {"targeted": [names], "quantiles": [names], "mixtures": [labels], "sets":
    [(name, n)], "lora": {defaults}, "train": {defaults}, "default_model": str, "taken": [study names]};
    `defaults`: {"template", "base", "name"} to start from (the Targeted area's t). OK checks the fields, then
    `create(spec)` runs in a worker (the engine's own checks: an error is shown here and the form stays open);
    dismisses with what it returned."""

    HELP = """
    ### New study
    A study is a grid of training runs read back as curves (docs/studies.md). Every field has a key:
    **alt+letter** as shown beside its label; **tab** / **shift+tab** walk the fields in the same order whatever
    the template (fields the template does not use are dimmed and ignored).

    - **name**: the study's name.
    - **template**: growth (volume sweep, growth curves and pace), targeted (a targeted selection at budgets vs
      a random selection of the same size vs the base model), quantiles (one run per distance quantile), ratio
      (two domains' shares), protocols (multi-task / sequential / multi-stage, Conflict Rate), cross (each
      domain alone: the cross-ability matrix).
    - **base**: what the grid derives from: a targeted selection, a quantile experiment's name, or a mixture
      version, from the store's lists.
    - **values**: the template's axis, comma separated (blank: the template's default grid); **seeds**: one run
      per seed and value.
    - **provenances** (growth): one curve per provenance of the training data, e.g. human,synthetic, each drawn
      from the base mixture's pools of that provenance only (Pools p labels them); blank: all the data.
    - **domains** (ratio: the two domains; protocols: the general ones trained last) and **total** (ratio: items
      per cell).
    - **base model**, **LoRA** and **training** settings: what every cell's run uses (prefilled with the
      defaults); blank max steps = by epochs. Growth: several base models, comma separated, make the grid once
      per model, and the growth pace is read against model size.
    - **eval sets**: space ticks or unticks a set (every one is ticked to start with); **items per set**: blank =
      every item.

    **enter** or **Plan** saves the study and shows its plan (new runs, estimated time) to confirm before
    anything is queued. **escape** closes the form; if you changed anything it asks first.
    """
    DEFAULT_CSS = """
    StudyDialog > Vertical { width: 112; padding: 0 2; }
    StudyDialog .title { margin-bottom: 0; }
    StudyDialog #sd-body { height: auto; max-height: 28; }
    StudyDialog .row { height: 1; margin-top: 0; }
    StudyDialog .gap { margin-top: 1; }
    StudyDialog .head { text-style: bold; color: $text-muted; height: 1; margin-top: 1; }
    StudyDialog .row Label { width: 19; padding-left: 1; }
    StudyDialog .row Input { width: 1fr; }
    StudyDialog .row Select { width: 1fr; }
    StudyDialog SelectionList { height: auto; max-height: 6; margin-left: 1; }
    StudyDialog .info { color: $text-muted; height: auto; padding-left: 1; }
    StudyDialog #error { height: auto; margin-top: 1; }
    StudyDialog Input.unused { color: $text-disabled; }
    """

    def __init__(self, choices: dict, create: Callable[[dict], Any], defaults: dict | None = None) -> None:
        super().__init__()
        self.choices = choices
        self.create = create
        self.d = {"template": "growth", "base": None, "name": ""} | {k: v for k, v in (defaults or {}).items() if v}
        self._busy = False
        self._shown_template = self.d["template"]

    def _bases(self, template: str) -> list[tuple[str, str]]:
        return [(b, b) for b in self.choices.get(BASE_KIND[template][0]) or []]

    def compose(self) -> ComposeResult:
        lo, tr = self.choices["lora"], self.choices["train"]
        tm = lo["target_modules"]
        tm_text = tm if isinstance(tm, str) else ",".join(tm)
        template = self.d["template"]
        bases = self._bases(template)
        base = self.d["base"] if self.d["base"] in [v for _, v in bases] else (bases[-1][1] if bases else None)

        def row(*pairs, gap: bool = False):
            with Horizontal(classes="row gap" if gap else "row"):
                for label, widget in pairs:
                    key = FIELD_KEYS.get((widget.id or "")[3:])
                    yield Label(f"{label} [dim]alt+{key}[/]" if key else label)
                    yield widget

        def inp(key: str, value: Any, placeholder: str = "") -> Input:
            return Input(
                value="" if value is None else str(value),
                placeholder=placeholder,
                id=f"sd-{key}",
                compact=True,
                select_on_focus=False,
            )

        with Vertical():
            yield Label("New study", classes="title")
            with VerticalScroll(id="sd-body"):
                yield from row(("name", inp("name", self.d["name"], "required: the study's name")), gap=True)
                yield from row(
                    (
                        "template",
                        Select(TEMPLATE_CHOICES, value=template, allow_blank=False, id="sd-template", compact=True),
                    )
                )
                yield from row(
                    (
                        "base",
                        Select(bases, value=base if base is not None else Select.NULL, id="sd-base", compact=True),
                    )
                )
                yield Static("", id="sd-info", classes="info")
                yield from row(
                    ("values", inp("values", "", AXIS[template][1])),
                    ("provenances", inp("provs", "", "growth: e.g. human,synthetic")),
                    gap=True,
                )
                yield from row(
                    ("seeds", inp("seeds", "0", "e.g. 0,1,2")),
                    ("domains", inp("domains", "", "")),
                    ("total", inp("total", "", "ratio: items per cell")),
                )
                yield Static("Runs", classes="head")
                yield from row(
                    (
                        "base model",
                        inp("model", "", f"blank = {self.choices['default_model']}; growth: several, comma separated"),
                    )
                )
                yield from row(
                    ("LoRA r", inp("r", lo["r"])),
                    ("alpha", inp("alpha", lo["alpha"])),
                    (
                        "targets",
                        Select(
                            TARGETS,
                            value=tm_text if tm_text in ("q_proj,v_proj", "all-linear") else "q_proj,v_proj",
                            allow_blank=False,
                            id="sd-targets",
                            compact=True,
                        ),
                    ),
                )
                yield from row(
                    ("max steps", inp("steps", tr["max_steps"], "blank: epochs")),
                    ("epochs", inp("epochs", tr["epochs"])),
                    ("lr", inp("lr", tr["lr"])),
                )
                yield from row(
                    ("max_len", inp("maxlen", tr["max_len"])), ("batch size", inp("batch", tr["batch_size"]))
                )
                yield Static("Evaluation of finished cells", classes="head")
                yield Label(f" eval sets [dim]alt+{FIELD_KEYS['sets']}[/] (space ticks / unticks)", classes="head")
                yield SelectionList[str](
                    *[(f"{n} · {k:,} items", n, True) for n, k in self.choices["sets"]], id="sd-sets"
                )
                yield from row(("items per set", inp("items", "", "blank = every item")), gap=True)
            yield from dialog_buttons("Plan")

    def on_mount(self) -> None:
        self._sync()
        self.query_one("#sd-name", Input).focus()
        self._initial = self._snapshot()

    def on_key(self, event) -> None:
        """alt+letter focuses the field labelled with it."""
        if event.key.startswith("alt+"):
            field = {v: k for k, v in FIELD_KEYS.items()}.get(event.key[4:])
            if field:
                event.stop()
                self.query_one(f"#sd-{field}").focus()

    def _snapshot(self) -> tuple:
        return tuple((w.id, getattr(w, "value", None)) for w in self.query("Input, Select") if w.id)

    def action_cancel(self) -> None:
        """Escape: close at once when nothing changed, else ask (a stray escape must not lose the form)."""
        if self._snapshot() == getattr(self, "_initial", None):
            self.dismiss(None)
            return

        def answered(discard) -> None:
            if discard:
                self.dismiss(None)

        self.app.push_screen(
            ConfirmDialog("Discard this study?", "The fields you filled in are lost.", "Discard", danger=True),
            answered,
        )

    def template(self) -> str:
        return str(self.query_one("#sd-template", Select).value)

    @on(Select.Changed, "#sd-template")
    def _template_changed(self, _event: Select.Changed) -> None:
        t = self.template()
        base = self.query_one("#sd-base", Select)
        bases = self._bases(t)
        if t != self._shown_template:  # (Select.Changed also comes once on mount)
            self._shown_template = t
            base.set_options(bases)
            if bases:
                base.value = bases[-1][1]
        self.query_one("#sd-values", Input).placeholder = AXIS[t][1]
        self._sync()

    @on(Select.Changed, "#sd-base")
    def _base_changed(self, _event: Select.Changed) -> None:
        self._sync()

    def _sync(self) -> None:
        t = self.template()
        dom = self.query_one("#sd-domains", Input)
        dom.placeholder = DOMAINS_PLACEHOLDER.get(t, "(not used by this template)")
        dom.set_class(t not in DOMAINS_PLACEHOLDER, "unused")
        self.query_one("#sd-total", Input).set_class(t != "ratio", "unused")
        self.query_one("#sd-provs", Input).set_class(t != "growth", "unused")
        kind, words = BASE_KIND[t]
        n = len(self.choices.get(kind) or [])
        info = f"base: {words}; {n} in this store" if n else f"base: {words}; none in this store yet"
        self.query_one("#sd-info", Static).update(Text(info))

    def values(self) -> dict:
        """The spec from the form; ValueError naming the bad field."""

        def text(key: str) -> str:
            return self.query_one(f"#sd-{key}", Input).value.strip()

        def num(key: str, label: str, cast, *, empty=False):
            s = text(key)
            if not s and empty:
                return None
            try:
                v = cast(s)
            except ValueError:
                kind = "a whole number" if cast is int else "a number"
                raise ValueError(f"{label} must be {kind} (got {s!r})") from None
            return v

        name = text("name")
        if not name:
            raise ValueError("write a name for the study")
        if name in self.choices.get("taken", []):
            raise ValueError(f"a study named {name!r} exists; choose another name (x extends it)")
        t = self.template()
        base = self.query_one("#sd-base", Select).value
        if base is Select.NULL or base is None:
            raise ValueError(f"pick a base: {BASE_KIND[t][1]}; none is offered when the store has none")
        axes = {}
        main = parse_axis(AXIS[t][0], text("values"))
        if main is not None:
            axes[AXIS[t][0]] = main
        seeds = parse_axis("seed", text("seeds"))
        if seeds is not None:
            axes["seed"] = seeds
        if t == "growth" and names(text("provs")):
            axes["provenance"] = names(text("provs"))
        options: dict = {}
        if t == "ratio":
            if names(text("domains")):
                options["domains"] = names(text("domains"))
            options["total"] = num("total", "total", int, empty=True)
        if t == "protocols" and names(text("domains")):
            options["general"] = names(text("domains"))
        lora = {
            "r": num("r", "LoRA r", int),
            "alpha": num("alpha", "LoRA alpha", int),
            "target_modules": str(self.query_one("#sd-targets", Select).value),
        }
        if lora["target_modules"] != "all-linear":
            lora["target_modules"] = names(lora["target_modules"])
        train = {
            "max_steps": num("steps", "max steps", int, empty=True),
            "epochs": num("epochs", "epochs", float),
            "lr": num("lr", "learning rate", float),
            "max_len": num("maxlen", "max_len", int),
            "batch_size": num("batch", "batch size", int),
        }
        sets = list(self.query_one("#sd-sets", SelectionList).selected)
        ev: dict = {"sets": sets}
        items = num("items", "items per set", int, empty=True)
        if items is not None:
            ev["max_items"] = items
        run = {"lora": lora, "train": train}
        if t == "growth" and len(names(text("model"))) > 1:
            axes["model"] = names(text("model"))
        elif text("model"):
            run["base_model"] = text("model")
        return {
            "name": name,
            "template": t,
            "base": str(base),
            "axes": axes,
            "options": options,
            "run": run,
            "eval": ev,
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
        self._error("making the study and its plan…")
        self._busy = True
        self.query_one("#ok", Button).disabled = True

        def failed(error: BaseException) -> None:
            self._busy = False
            self.query_one("#ok", Button).disabled = False
            self._error(str(error))

        self.run_engine(lambda: self.create(spec), self.dismiss, failed, group="new-study")


class ExtendDialog(FormDialog):
    """Extend a study: more values of its axis, more seeds, more eval sets (the finished cells stay as they are;
    launching again queues only the new cells). Dismisses with {"axes": {...}, "sets": [...]} or None."""

    HELP = """
    ### Extend a study
    Add values of the study's axis (a volume, a budget, a ratio ...) and seeds, comma separated, and tick eval
    sets to add. Cells already in the grid keep their runs and evaluations; **l** then queues only the new
    cells, and **e** evaluates the finished cells on the new eval sets.
    """
    DEFAULT_CSS = """
    ExtendDialog > Vertical { width: 90; }
    ExtendDialog .row { height: 1; margin-top: 1; }
    ExtendDialog .row Label { width: 16; }
    ExtendDialog .row Input { width: 1fr; }
    ExtendDialog SelectionList { height: auto; max-height: 8; margin-top: 1; }
    """

    def __init__(self, study: dict, sets: list[tuple[str, int]]) -> None:
        super().__init__()
        self.study = study
        self.axis = AXIS[study["template"]][0]
        have = set(study["eval"].get("sets") or [])
        self.sets = [(n, k) for n, k in sets if n not in have]

    def compose(self) -> ComposeResult:
        axes = self.study["axes"]
        with Vertical():
            yield Label(f"Extend study {self.study['name']}", classes="title")
            yield Static(
                Text(
                    f"{self.axis}: {', '.join(map(str, axes.get(self.axis, [])))} · seeds: "
                    f"{', '.join(map(str, axes.get('seed', [])))} · eval sets: "
                    f"{', '.join(self.study['eval'].get('sets') or []) or 'none'}"
                )
            )
            with Horizontal(classes="row"):
                yield Label(f"add {self.axis}s")
                yield Input(placeholder="comma separated", id="ex-values", compact=True)
            with Horizontal(classes="row"):
                yield Label("add seeds")
                yield Input(placeholder="e.g. 1,2", id="ex-seeds", compact=True)
            if self.sets:
                yield Static("add eval sets (space ticks):", classes="row")
                yield SelectionList[str](*[(f"{n} · {k:,} items", n, False) for n, k in self.sets], id="ex-sets")
            yield from dialog_buttons("Extend")

    def on_mount(self) -> None:
        self.query_one("#ex-values", Input).focus()

    def _submit(self) -> None:
        try:
            axes = {}
            vals = parse_axis(self.axis, self.query_one("#ex-values", Input).value)
            if vals:
                axes[self.axis] = vals
            seeds = parse_axis("seed", self.query_one("#ex-seeds", Input).value)
            if seeds:
                axes["seed"] = seeds
        except ValueError as e:
            self.query_one("#error", Static).update(str(e))
            return
        sets = list(self.query_one("#ex-sets", SelectionList).selected) if self.sets else []
        if not axes and not sets:
            self.query_one("#error", Static).update("nothing to add: write values or seeds, or tick an eval set")
            return
        self.dismiss({"axes": axes, "sets": sets})


class AllocationDialog(FormDialog):
    """A growth study's proposed allocation (ours: marginal gains over the fitted curves), with its reasoning;
    Save keeps it as a new version of the mixture named below. Dismisses with that name or None."""

    HELP = """
    ### Proposed allocation (ours)
    The budget split across the domains so that the weighted sum of their fitted scores is largest, by marginal
    gains (docs/studies.md): each domain's curve is the better of its two fits. The reasoning says why each
    domain gets what it gets. **Save as mixture** keeps the split as a new version of the mixture named in the
    field (its note says it is our proposal, with the reasoning); **escape** closes without saving.
    `workbench study allocate NAME --budget N --weight math=2` sets another budget or weights.
    """
    DEFAULT_CSS = """
    AllocationDialog > Vertical { width: 100; }
    AllocationDialog #al-body { height: auto; max-height: 22; }
    AllocationDialog .row { height: 1; margin-top: 1; }
    AllocationDialog .row Label { width: 20; }
    AllocationDialog .row Input { width: 1fr; }
    """

    def __init__(self, study: str, proposal: dict, taken: set[str]) -> None:
        super().__init__()
        self.study = study
        self.proposal = proposal
        self.taken = set(taken)

    def compose(self) -> ComposeResult:
        a = self.proposal["allocation"]
        t = Text()
        t.append(f"split of {a['budget']:,} items across the domains\n\n", style="bold")
        for d, n in a["amounts"].items():
            curve = self.proposal["curves"].get(d, "none: the base share")
            pred = a["predicted"].get(d)
            pred_s = "" if pred is None else f" · predicted {pred:.4g}"
            t.append(f"  {d:<12} {n:>8,}  {n / max(a['budget'], 1):>6.1%}  curve {curve}{pred_s}\n")
        t.append("\nreasoning\n", style="bold")
        for line in a["reasoning"]:
            t.append(f"  · {line}\n")
        with Vertical():
            yield Label(f"Proposed allocation of study {self.study} (ours)", classes="title")
            with VerticalScroll(id="al-body"):
                yield Static(t, id="al-text")
            with Horizontal(classes="row"):
                yield Label("save as mixture")
                yield Input(value=f"{self.study}-proposed", id="al-name", compact=True)
            yield from dialog_buttons("Save as mixture")

    def on_mount(self) -> None:
        self.query_one("#al-name", Input).focus()

    def _submit(self) -> None:
        name = self.query_one("#al-name", Input).value.strip()
        if not name:
            self.query_one("#error", Static).update("write the mixture's name (a new version if it exists)")
            return
        self.dismiss(name)
