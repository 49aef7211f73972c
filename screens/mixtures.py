"""The Mixtures area: build a mixture recipe by hand, see live available / requested / drawn counts per
domain with short-domain warnings, the drawn set's quality and diversity, a preview, and save versions,
diff them and export them."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.timer import Timer
from textual.widgets import DataTable, Input, Label, Select, Static

from screens.mixtures_dialogs import (  # noqa: F401 - re-exported
    StagesDialog,
    format_stage,
    parse_fraction,
    parse_stages,
)
from screens.mixtures_versions import SavedVersionsMixin
from screens.widgets import ChoiceDialog, InputDialog, NavTable, WorkbenchScreen, choice
from workbench.actions import bindings_for

DEBOUNCE_S = 0.3
NUDGE = 1.0  # percentage points per +/-
PREVIEW_N = 50
KIND_CHOICES = [
    ("domain", "domain: every train-pool sample of a domain"),
    ("pool", "pool: one train pool"),
    ("cluster", "cluster: CLUSTERING:k of a saved clustering"),
    ("selection", "selection: a saved selection"),
    ("interpolation", "interpolation: the kept pairs of an interpolation set (mixup items)"),
]


def _n(v: Any) -> str:
    return "-" if v is None else f"{v:,}"


def _pct(v: float) -> str:
    return f"{v:.4g}"


class MixturesScreen(SavedVersionsMixin, WorkbenchScreen):
    """Mixtures: the left list holds saved mixtures and their versions (enter or l loads one into the
    editor). The editor has the recipe's name, budget (a number, or `max`: the largest budget no domain is
    short of), unit (samples or tokens), seed, sampling with or without replacement and the short policy
    (error / take_all / upsample when a domain has fewer items than requested). Components (a pools,
    domains, clusters, selections or interpolation sets, each with an optional filter): `a` adds, `f` sets
    the filter, `x` removes. The domain table shows each domain's share, available samples and tokens,
    requested, drawn and a note when short; `+`/`-` nudge the highlighted share by one point, `e` types it.
    Counts, warnings, quality (mean score per metric over the drawn samples) and diversity (of the newest
    clustering) are recomputed as you type. `ctrl+s` saves a version (a new one only when the recipe or
    the resolved items changed; without a name it asks for one: type it, enter saves), `d` diffs the
    highlighted version with the previous one, `o` exports it.
    `s` edits the training stages (multi-stage training): one line per stage `NAME = dom, dom | replay
    dom=fraction`, a DMT button (stage 1 the non-general domains with a share, stage 2 general plus k of
    each, default k 1/256) and No stages; the domain table then shows each domain's stage and replayed
    items, the summary each stage's items, the preview each item's stage. The resolution rules are ours;
    docs/mixtures.md explains them."""

    CONTEXT = "mixtures"
    MODE = "mixtures"
    BINDINGS = bindings_for("mixtures")
    HELP = __doc__
    DEFAULT_CSS = """
    #m-controls { height: 1; padding: 0 1; margin: 1 0 0 0; }
    #m-controls Label { padding: 0 1; }
    #m-controls #m-name { width: 20; }
    #m-controls #m-budget { width: 10; }
    #m-controls #m-seed { width: 7; }
    #m-controls Select { width: 14; }
    #m-main { height: 1fr; }
    #m-left { width: 32; height: 1fr; }
    #m-saved { height: 1fr; }
    #m-components { height: 10; border-top: solid $panel; }
    #m-center { width: 1fr; height: 1fr; }
    #m-domains { height: 1fr; }
    #m-sharebar { height: 1; padding: 0 1; }
    #m-sharebar #m-share { width: 10; }
    #m-sharebar Label { padding: 0 1; }
    #m-bottom { height: 13; border-top: solid $panel; }
    #m-summary { width: 1fr; height: 1fr; padding: 0 1; overflow-y: auto; }
    #m-preview { width: 1fr; height: 1fr; }
    #m-status { height: 1; padding: 0 1; color: $text-muted; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.components: list[Any] = []  # engine.mixtures.Component
        self.shares: dict[str, float] = {}  # domain -> percent
        self.stages: list[Any] | None = None  # engine.mixtures.Stage list (s edits it), None: one stage
        self.derived: dict | None = None
        self.resolution: Any = None  # last engine.mixtures.Resolution
        self.error: str | None = None
        self.saved: list[Any] = []  # MixtureVersion, every version
        self.highlighted_domain: str | None = None
        self._timer: Timer | None = None
        self._initialised = False
        self.generation = 0  # bumps on every recompute request; stale results are dropped
        self._cands: tuple[str, Any] | None = None  # (components JSON, engine.mixtures.candidates(...))

    # -- layout ------------------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield from self.compose_header()
        with Horizontal(id="m-controls"):
            yield Label("name")
            yield Input(placeholder="mixture name", id="m-name", compact=True)
            yield Label("budget")
            yield Input(value="max", id="m-budget", compact=True)
            yield choice([("samples", "samples"), ("tokens", "tokens")], "samples", "m-unit")
            yield Label("seed")
            yield Input(value="0", id="m-seed", compact=True, type="integer")
            yield choice([("without repl.", "without"), ("with repl.", "with")], "without", "m-repl")
            yield Label("short")
            yield choice([(p, p) for p in ("take_all", "upsample", "error")], "take_all", "m-short")
        with Horizontal(id="m-main"):
            with Vertical(id="m-left"):
                yield NavTable(id="m-saved", cursor_type="row", zebra_stripes=True)
                yield NavTable(id="m-components", cursor_type="row")
            with Vertical(id="m-center"):
                yield NavTable(id="m-domains", cursor_type="row", zebra_stripes=True)
                with Horizontal(id="m-sharebar"):
                    yield Label("share % of", id="m-share-label")
                    yield Input(placeholder="%", id="m-share", compact=True)
                    yield Static("", id="m-sum")
                with Horizontal(id="m-bottom"):
                    yield Static("", id="m-summary")
                    yield NavTable(id="m-preview", cursor_type="row")
        yield Static("", id="m-status")
        yield from self.compose_footer()

    def on_mount(self) -> None:
        super().on_mount()
        s = self.query_one("#m-saved", DataTable)
        for key, label, w in (("name", "saved mixture", 16), ("v", "v", 3), ("items", "items", 6)):
            s.add_column(label, key=key, width=w)
        c = self.query_one("#m-components", DataTable)
        for key, w in (("component", 12), ("kind", 6), ("ref", 10), ("filter", 16), ("domain", 8)):
            c.add_column(key, key=key, width=w)
        d = self.query_one("#m-domains", DataTable)
        for key, label, w in (
            ("domain", "domain", 9),
            ("share", "share%", 6),
            ("stage", "stage", 13),
            ("available", "avail", 6),
            ("avail_tokens", "avail tok", 9),
            ("requested", "request", 9),
            ("drawn", "drawn", 6),
            ("drawn_tokens", "drawn tok", 9),
            ("replayed", "replay", 6),
            ("note", "note", 20),
        ):
            d.add_column(label, key=key, width=w)
        p = self.query_one("#m-preview", DataTable)
        for key, w in (("stage", 9), ("pos", 4), ("domain", 9), ("id", 5), ("tok", 4), ("text", 30)):
            p.add_column(key, key=key, width=w)
        d.focus()

    # -- store -------------------------------------------------------------------------------------------
    def on_data_changed(self, what: str) -> None:
        if what == "error" or self.store is None:
            return
        store = self.store
        if what != "mixtures":
            self._cands = None  # the data changed: candidates are fetched again
        if not self._initialised:
            self._initialised = True

            def domains():
                from engine.mixtures import store_domains

                return store_domains(store)

            self.run_engine(domains, self._default_recipe, group="m-init")
        else:
            self.recompute(now=True)
        self.load_saved()

    def _default_recipe(self, doms: dict[str, dict]) -> None:
        """A first recipe: one domain component per drawable domain, equal shares, the largest budget."""
        from engine.mixtures import Component

        if not self.components:
            self.components = [Component(f"domain:{d}", "domain", d) for d in doms]
            self.shares = {d: round(100 / len(doms), 2) for d in doms} if doms else {}
            self._show_components()
        self.recompute(now=True)

    def load_saved(self) -> None:
        store = self.store
        if store is None:
            return

        def load():
            from engine.mixtures import list_versions

            return list_versions(store)

        self.run_engine(load, self._saved_loaded, group="m-saved", exclusive=True)

    def _saved_loaded(self, versions: list[Any]) -> None:
        self.saved = list(versions)
        t = self.query_one("#m-saved", DataTable)
        row = t.cursor_row
        t.clear()
        for v in self.saved:
            t.add_row(v.name, str(v.version), f"{v.n_items:,}", key=str(v.id))
        if self.saved:
            t.move_cursor(row=min(max(row, 0), len(self.saved) - 1))

    # -- recipe from the editor --------------------------------------------------------------------------
    def _value(self, wid: str) -> str:
        return self.query_one(wid, Input).value.strip()

    def current_recipe(self, stages: Any = ...):
        """The editor's Recipe (MixtureError / ValueError with a message when a field is wrong); `stages`
        replaces the editor's stages (None: a single stage)."""
        from engine.mixtures import MixtureError, Recipe

        b = self._value("#m-budget").lower().replace(",", "").replace("_", "")
        if b in ("", "max"):
            budget = None
        elif b.isdigit():
            budget = int(b)
        else:
            raise MixtureError(f"budget: a whole number or 'max', not {b!r}")
        seed_text = self._value("#m-seed") or "0"
        if not seed_text.isdigit():
            raise MixtureError(f"seed: a whole number >= 0, not {seed_text!r}")
        unit = str(self.query_one("#m-unit", Select).value)
        short = str(self.query_one("#m-short", Select).value)
        repl = self.query_one("#m-repl", Select).value == "with"
        props = {d: p / 100 for d, p in self.shares.items() if p > 0}
        stages = self.stages if stages is ... else stages
        return Recipe.from_dict(
            {
                "components": [vars(c) for c in self.components],
                "proportions": props,
                "unit": unit,
                "budget": budget,
                "replacement": repl,
                "seed": int(seed_text),
                "short": short,
                "stages": None if stages is None else [vars(s) for s in stages],
                "derived": self.derived,
            }
        )

    def recompute(self, now: bool = False) -> None:
        """Resolve the editor's recipe in a worker (debounced unless `now`)."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        if now:
            self._recompute()
        else:
            self._timer = self.set_timer(DEBOUNCE_S, self._recompute)

    def _recompute(self) -> None:
        self._timer = None
        store = self.store
        if store is None:
            return
        self.generation += 1
        gen = self.generation
        try:
            recipe = self.current_recipe()
        except ValueError as e:
            self._show_error(str(e))
            return

        key = json.dumps([vars(c) for c in recipe.components], sort_keys=True)
        cached = self._cands if self._cands is not None and self._cands[0] == key else None

        def run():
            from engine.mixtures import candidates, diversity_summary, preview, quality_summary, resolve, sample_ids_of

            cands = cached[1] if cached is not None else (None if recipe.derived else candidates(store, recipe))
            if cached is None and cands is not None:
                self._cands = (key, cands)  # the candidates depend on the components and the data only
            res = resolve(store, recipe, cands=cands)
            ids = sample_ids_of(res.items)
            try:
                div = diversity_summary(store, ids)
            except Exception as e:  # noqa: BLE001 - diversity is a summary; its failure must not hide the counts
                div = {"error": str(e)}
            per_stage: dict[tuple[int, bool], int] = {}
            for i in res.items:
                k = (i.stage, i.component.startswith("replay:"))
                per_stage[k] = per_stage.get(k, 0) + 1
            return res, quality_summary(store, ids), div, preview(store, res.items, PREVIEW_N), per_stage

        self._status("resolving…")
        self.run_engine(
            run, lambda out: self._resolved(gen, out), lambda e: self._failed(gen, e), group="m-resolve", exclusive=True
        )

    def _failed(self, gen: int, error: BaseException) -> None:
        if gen != self.generation:
            return
        if isinstance(error, ValueError):
            self._show_error(str(error))
        else:
            self.engine_error(error)

    def _show_error(self, text: str) -> None:
        self.error = text
        self.query_one("#m-summary", Static).update(Text(f"cannot resolve: {text}", style="bold red"))
        self._status("the recipe does not resolve: fix the highlighted problem")

    def _resolved(self, gen: int, out: tuple) -> None:
        if gen != self.generation:
            return
        res, quality, div, head, per_stage = out
        self.resolution, self.error = res, None
        self._show_domains()
        self._show_summary(quality, div, per_stage)
        names = [s.name for s in res.recipe.stages or []] or ["all"]
        p = self.query_one("#m-preview", DataTable)
        p.clear()
        for r in head:
            replayed = str(r["component"]).startswith("replay:")
            p.add_row(
                f"{r['stage'] + 1} {names[r['stage']]}",
                str(r["position"]),
                Text(f"{r['domain']} ↺" if replayed else r["domain"], style="cyan" if replayed else ""),
                str(r["id"]),
                str(r["n_tokens"]),
                r["text"][:80],
                key=f"{r['stage']}-{r['position']}",
            )
        self._status(
            f"{res.n_items:,} items · {res.n_tokens:,} tokens · hash {res.content_hash[:12]}"
            + (f" · {len(res.warnings)} warning(s)" if res.warnings else "")
        )

    # -- views -------------------------------------------------------------------------------------------
    def _show_components(self) -> None:
        t = self.query_one("#m-components", DataTable)
        row = t.cursor_row
        t.clear()
        for c in self.components:
            t.add_row(c.name, c.kind, c.ref, c.filter or "", c.domain or "", key=c.name)
        if self.components:
            t.move_cursor(row=min(max(row, 0), len(self.components) - 1))

    def _domain_list(self) -> list[str]:
        """Domains shown: those with candidates or a share, in name order (rows never move while typing)."""
        doms = set(self.resolution.per_domain) if self.resolution is not None else set()
        return sorted(doms | set(self.shares))

    def _show_domains(self) -> None:
        t = self.query_one("#m-domains", DataTable)
        keep = self._highlighted()
        res = self.resolution
        t.clear()
        tok = res is not None and res.unit == "tokens"
        stage_of = {d: f"{i + 1} {s.name}" for i, s in enumerate(self.stages or []) for d in s.domains}
        for d in self._domain_list():
            c = res.per_domain.get(d) if res is not None else None
            share = Text(_pct(self.shares.get(d, 0.0)))
            if c is None:
                t.add_row(d, share, stage_of.get(d, ""), "", "", "", "", "", "", "", key=d)
                continue
            note = Text(c.note, style="bold yellow" if c.short else "")
            t.add_row(
                d,
                share,
                stage_of.get(d, ""),
                _n(c.available),
                _n(c.available_tokens),
                f"{c.requested:,}{' tok' if tok else ''}",
                _n(c.drawn),
                _n(c.drawn_tokens),
                _n(c.replayed) if c.replayed else "",
                note,
                key=d,
            )
        doms = self._domain_list()
        if keep in doms:
            t.move_cursor(row=doms.index(keep))
        total = sum(self.shares.values())
        self.query_one("#m-sum", Static).update(
            Text(
                f"shares sum to {total:.4g}%" + ("" if math.isclose(total, 100, abs_tol=1e-6) else " (normalised)"),
                style="" if math.isclose(total, 100, abs_tol=1e-6) else "yellow",
            )
        )
        self._share_label()

    def _show_summary(self, quality: dict, div: dict | None, per_stage: dict[tuple[int, bool], int]) -> None:
        res = self.resolution
        t = Text()
        t.append(f"{res.n_items:,} items · {res.n_tokens:,} tokens\n", style="bold")
        t.append(
            f"budget {res.budget:,} {res.unit}"
            + (" (max: no domain short)" if res.recipe.budget is None else "")
            + f" · seed {res.recipe.seed}\n"
        )
        if res.recipe.stages:
            for si, s in enumerate(res.recipe.stages):
                rep = ", ".join(f"{d} {f:.4g}" for d, f in s.replay.items())
                drawn, replayed = per_stage.get((si, False), 0), per_stage.get((si, True), 0)
                t.append(
                    f"stage {si + 1} {s.name}: {', '.join(s.domains) or '-'}"
                    + (f" · replay {rep}" if rep else "")
                    + f" · {drawn + replayed:,} items"
                    + (f" ({replayed:,} replayed)" if replayed else "")
                    + "\n"
                )
        for w in res.warnings:
            t.append(f"⚠ {w}\n", style="yellow")
        if quality:
            t.append("quality (mean over drawn samples)\n", style="bold")
            for m, q in quality.items():
                if q["mean"] is not None:
                    t.append(f"  {m}: {q['mean']:.4g} (n={q['n']:,})\n")
        if div and "error" not in div:
            t.append(f"diversity ({div['clustering']})\n", style="bold")
            en = div.get("entropy_norm")
            mcd = div.get("mean_cosine_distance")
            t.append(
                f"  coverage {div['coverage']:.0%} of {div['n_clusters']} clusters · entropy "
                f"{div['entropy']:.3f}"
                + (f" ({en:.2f} of max)" if en is not None else "")
                + (f" · mean cos dist {mcd:.3f}" if mcd is not None else "")
                + "\n"
            )
        elif div and "error" in div:
            t.append(f"diversity: {div['error']}\n", style="dim")
        else:
            t.append("diversity: no clustering yet (Clusters area)\n", style="dim")
        self.query_one("#m-summary", Static).update(t)

    def _share_label(self) -> None:
        d = self._highlighted()
        self.query_one("#m-share-label", Label).update(f"share % of {d or '-'}")

    def _status(self, text: str) -> None:
        self.query_one("#m-status", Static).update(Text(text))

    def _highlighted(self) -> str | None:
        t = self.query_one("#m-domains", DataTable)
        if not t.row_count:
            return None
        try:
            return str(t.coordinate_to_cell_key((t.cursor_row, 0)).row_key.value)
        except Exception:  # noqa: BLE001 - no valid cursor
            return None

    # -- events ------------------------------------------------------------------------------------------
    @on(Input.Changed, "#m-name")
    def _name_changed(self, _e: Input.Changed) -> None:
        pass  # the name only matters when saving

    @on(Input.Submitted, "#m-name")
    def _name_submitted(self, _e: Input.Submitted) -> None:
        self.action_save()  # ctrl+s asks for a name first: enter after typing it saves

    @on(Input.Changed, "#m-budget, #m-seed")
    def _field_changed(self, _e: Input.Changed) -> None:
        self.recompute()

    @on(Select.Changed, "#m-unit, #m-repl, #m-short")
    def _select_changed(self, _e: Select.Changed) -> None:
        self.recompute()

    @on(Input.Changed, "#m-share")
    def _share_typed(self, e: Input.Changed) -> None:
        d = self.highlighted_domain or self._highlighted()
        if d is None:
            return
        text = e.value.strip().rstrip("%")
        try:
            v = float(text)
        except ValueError:
            return
        if v < 0 or not math.isfinite(v):
            return
        self.shares[d] = v
        self.recompute()

    @on(Input.Submitted, "#m-share")
    def _share_done(self, _e: Input.Submitted) -> None:
        self.query_one("#m-domains", DataTable).focus()

    @on(DataTable.RowHighlighted, "#m-domains")
    def _domain_row(self, e: DataTable.RowHighlighted) -> None:
        d = str(e.row_key.value) if e.row_key is not None else None
        if d != self.highlighted_domain:
            self.highlighted_domain = d
            self._share_label()
            inp = self.query_one("#m-share", Input)
            if not inp.has_focus and d is not None:
                with self.prevent(Input.Changed):
                    inp.value = _pct(self.shares.get(d, 0.0))

    @on(DataTable.RowSelected, "#m-saved")
    def _saved_selected(self, _e: DataTable.RowSelected) -> None:
        self.action_load()

    # -- actions -----------------------------------------------------------------------------------------
    def action_nudge(self, direction: int) -> None:
        d = self._highlighted()
        if d is None:
            return
        self.shares[d] = max(0.0, round(self.shares.get(d, 0.0) + direction * NUDGE, 6))
        with self.prevent(Input.Changed):
            self.query_one("#m-share", Input).value = _pct(self.shares[d])
        self._show_domains()
        self.recompute()

    def action_edit_share(self) -> None:
        d = self._highlighted()
        if d is None:
            self.app.notify("no domain to edit: add a component first (a)", severity="warning")
            return
        inp = self.query_one("#m-share", Input)
        with self.prevent(Input.Changed):
            inp.value = _pct(self.shares.get(d, 0.0))
        inp.focus()

    def action_focus_table(self) -> None:
        self.query_one("#m-domains", DataTable).focus()

    def action_add_component(self) -> None:
        def kind_chosen(kind: str | None) -> None:
            if kind:
                self._pick_ref(kind)

        self.app.push_screen(ChoiceDialog("Add a component: kind", KIND_CHOICES), kind_chosen)

    def _pick_ref(self, kind: str) -> None:
        store = self.store

        def choices():
            if kind == "domain":
                from engine.mixtures import store_domains

                return list(store_domains(store))
            if kind == "pool":
                from engine.data.pools import list_pools
                from engine.evaluation.evaluate import eval_pools

                evals = {p["name"] for p in eval_pools(store)}
                return [p.name for p in list_pools(store) if p.name not in evals]
            if kind == "cluster":
                from engine.geometry.clusters import list_clusterings

                out = []
                for c in list_clusterings(store):
                    out += [f"{c.name}:{k}" for k in range(c.n_clusters)]
                return out
            if kind == "selection":
                from engine.quality.selection import list_selections

                return [s.name for s in list_selections(store)]
            from engine.synthesis.interpolation import list_sets

            return [s.name for s in list_sets(store)]

        self.run_engine(choices, lambda refs: self._ask_ref(kind, refs), group="m-choices")

    def _ask_ref(self, kind: str, refs: list[str]) -> None:
        from engine.mixtures import Component

        def done(ref: str | None) -> None:
            if not ref:
                return
            name = f"{kind}:{ref}"
            k = 2
            while any(c.name == name for c in self.components):
                name = f"{kind}:{ref}#{k}"
                k += 1
            self.components.append(Component(name, kind, ref))
            if kind == "domain" and ref not in self.shares:
                self.shares[ref] = 0.0
            self._show_components()
            self.recompute(now=True)

        note = "interpolation items count toward domain 'mixup' (give it a share); " if kind == "interpolation" else ""
        self.app.push_screen(
            InputDialog(
                f"Add a {kind} component",
                "ref:",
                choices=refs or None,
                note=note + "f on the component sets a filter (e.g. score.ifd < 0.9)",
                ok="Add",
            ),
            done,
        )

    def _component_row(self) -> int | None:
        t = self.query_one("#m-components", DataTable)
        if not self.components or t.cursor_row < 0:
            return None
        return min(t.cursor_row, len(self.components) - 1)

    def action_remove_component(self) -> None:
        i = self._component_row()
        if i is None:
            return
        c = self.components.pop(i)
        self._show_components()
        self._status(f"removed component {c.name}")
        self.recompute(now=True)

    def action_component_filter(self) -> None:
        i = self._component_row()
        if i is None:
            self.app.notify("no component: a adds one", severity="warning")
            return
        c = self.components[i]

        def done(text: str | None) -> None:
            if text is None:
                return
            c.filter = None if text.strip() in ("", "-") else text.strip()
            self._show_components()
            self.recompute(now=True)

        self.app.push_screen(
            InputDialog(
                f"Filter of {c.name}",
                "filter expression (- for none):",
                c.filter or "-",
                note="the filter language of Browse: score.ifd < 0.9, tag = 'x', n_tokens > 50 and domain = 'math'",
                ok="Set",
            ),
            done,
        )

    def action_stages(self) -> None:
        if self.derived is not None:
            self.app.notify(
                "a domain-subset version resolves to its parent's items: it has no stages of its own",
                severity="warning",
            )
            return
        doms = self._domain_list()
        self.app.push_screen(
            StagesDialog(self.stages, {d: self.shares.get(d, 0.0) for d in doms}, self._stage_check), self._stages_done
        )

    def _stage_check(self, stages: list[Any]) -> Callable[[], Any]:
        """UI thread: the editor's recipe with `stages` ([]: none); raises MixtureError for an unknown domain
        or what Recipe.validate finds, else returns the worker job that resolves it (resolve's errors)."""
        from engine.mixtures import ALL_DOMAINS, MixtureError

        known = set(self._domain_list())
        for s in stages:
            for d in [*s.domains, *(k for k in s.replay if k != ALL_DOMAINS)]:
                if d not in known:
                    raise MixtureError(f"stage {s.name!r}: unknown domain {d!r}; known: {', '.join(sorted(known))}")
        recipe = self.current_recipe(stages=stages or None)
        store = self.store
        key = json.dumps([vars(c) for c in recipe.components], sort_keys=True)
        cached = self._cands if self._cands is not None and self._cands[0] == key else None

        def job():
            from engine.mixtures import candidates, resolve

            return resolve(store, recipe, cands=cached[1] if cached is not None else candidates(store, recipe))

        return job

    def _stages_done(self, stages: list[Any] | None) -> None:
        if stages is None:
            return
        self.stages = list(stages) or None
        self._show_domains()
        self._status("stages: " + (" → ".join(s.name for s in stages) if stages else "none (a single stage)"))
        self.recompute(now=True)

    def action_new(self) -> None:
        self.components, self.shares, self.stages, self.derived = [], {}, None, None
        with self.prevent(Input.Changed):
            self.query_one("#m-name", Input).value = ""
        self._initialised = False
        self.on_data_changed("store")

    def action_refresh(self) -> None:
        self._cands = None
        self.recompute(now=True)
        self.load_saved()

    def palette_commands(self):
        for v in self.saved:
            yield (f"Mixtures: load {v.label}", f"{v.n_items:,} items", lambda v=v: self._load_version(v))

    def _load_version(self, v) -> None:
        t = self.query_one("#m-saved", DataTable)
        for i, mv in enumerate(self.saved):
            if mv.id == v.id:
                t.move_cursor(row=i)
        self.action_load()
