"""The one action registry of the app.

Every user-facing action is declared here once: an id, a default key, a description and the context it
lives in. The registry feeds the footer (Textual bindings, via `bindings_for`), the command palette
(`screens.palette.ActionsProvider`), the F1 help screen and the user keymap file
(`~/.config/workbench/keymap.toml`, see `load_keymap`).

Contexts: ``global`` (the app), a screen (``pools``, ``browse``, ``import``, ``help``, ``dialog``) or a
widget (``table``: the virtual sample table of Browse). A context's bindings are attached to the Textual
node that handles its actions, so the palette runs an action against that node.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from workbench.paths import config_dir

GLOBAL = "global"

# Contexts whose bindings are active inside another one (the Browse table sits in the Browse screen).
CONTEXT_PARENTS: dict[str, str] = {"table": "browse"}
# Modal screens: Textual stops the binding chain at a modal screen, so global keys are not live there and
# a modal context may reuse them (escape, f1).
MODAL_CONTEXTS = {"help", "import", "dialog"}


@dataclass(frozen=True)
class Action:
    """One user action.

    id: stable identifier used in the keymap file and as the Textual binding id ("pools.import").
    key: default key(s), Textual key names, comma separated for alternatives ("j,down").
    description: what the action does (palette, help).
    context: "global" or the screen/widget name whose bindings hold it.
    show: shown in the footer.
    action: the Textual action string run on the context's node (defaults to the part after the dot).
    label: short footer text (defaults to the description).
    """

    id: str
    key: str
    description: str
    context: str = GLOBAL
    show: bool = True
    action: str = ""
    label: str = ""

    @property
    def textual_action(self) -> str:
        return self.action or self.id.rsplit(".", 1)[-1]

    @property
    def footer_label(self) -> str:
        return self.label or self.description

    @property
    def keys(self) -> list[str]:
        """The individual keys, normalised to Textual key names ("/" -> "slash")."""
        return normalize_keys(self.key)


_MODES = [
    ("pools", "1", "Pools: the imported data sets"),
    ("browse", "2", "Browse: page through samples, filter, tag"),
    ("scores", "3", "Scores: quality metrics per domain, thresholds, scoring jobs"),
    ("clusters", "4", "Clusters: embeddings, HDBSCAN clusters, a 2-D map, diversity"),
    ("mixtures", "5", "Mixtures: domain mixture recipes, live counts, versions, diff, export"),
    ("runs", "6", "Runs: LoRA training runs, the queue, live loss curves per domain, cancel / resume"),
    ("results", "7", "Results: per-domain scores, Conflict Rate (ours), compare runs, conflicting items"),
    ("interpolation", "8", "Interpolation: MDIT task-interpolation sets, pair preview, coverage"),
    ("targeted", "9", "Targeted: pick the samples that serve a query set, with why each was picked"),
    ("studies", "0", "Studies: grids of runs (growth, ratio, protocols, targeted vs random), curves, fits, reports"),
]

MODES: list[str] = [m for m, _, _ in _MODES]

ACTIONS: list[Action] = [
    # -- global ---------------------------------------------------------------------------------------
    Action("app.help", "f1", "Help for the focused widget and the keys active there", label="Help", action="help"),
    Action(
        "app.palette",
        "ctrl+p",
        "Command palette: search and run any action",
        label="Palette",
        action="command_palette",
        show=False,
    ),  # the footer shows it on its right already
    Action("app.quit", "q,ctrl+q", "Quit Workbench", label="Quit", action="quit"),
    *[
        Action(
            f"app.mode_{mode}", key, f"Go to {desc}", show=False, action=f"switch_mode('{mode}')", label=mode.title()
        )
        for mode, key, desc in _MODES
    ],
    # -- pools screen ----------------------------------------------------------------------------------
    Action("pools.import", "i", "Import a data file into a pool", "pools", label="Import", action="import_file"),
    Action(
        "pools.open", "enter", "Browse the samples of the selected pool", "pools", label="Browse", action="open_pool"
    ),
    Action("pools.rename", "r", "Rename the selected pool", "pools", label="Rename", action="rename_pool"),
    Action(
        "pools.delete", "d", "Delete the selected pool and its samples", "pools", label="Delete", action="delete_pool"
    ),
    Action(
        "pools.domain", "D", "Set the domain of the selected pool", "pools", label="Domain", action="set_pool_domain"
    ),
    Action(
        "pools.role",
        "e",
        "Mark the selected pool as an eval set (never trained on), or back to training data",
        "pools",
        label="Eval set",
        action="toggle_eval",
    ),
    Action(
        "pools.provenance",
        "p",
        "Set where the selected pool's data came from: human, synthetic, mixed or unknown",
        "pools",
        label="Provenance",
        action="set_provenance",
    ),
    Action(
        "pools.refresh",
        "ctrl+r",
        "Reload the pool list from the store",
        "pools",
        show=False,
        label="Refresh",
        action="refresh",
    ),
    # -- browse screen ---------------------------------------------------------------------------------
    Action("browse.filter", "slash", "Focus the filter bar", "browse", label="Filter", action="focus_filter"),
    Action(
        "browse.table", "escape", "Back to the sample table", "browse", show=False, label="Table", action="focus_table"
    ),
    Action("browse.clear", "c", "Clear every filter", "browse", show=False, label="Clear", action="clear_filter"),
    Action("browse.sort", "s", "Pick the sort column", "browse", label="Sort", action="pick_sort"),
    Action(
        "browse.sort_next",
        "right_square_bracket",
        "Sort by the next column",
        "browse",
        show=False,
        label="Next sort",
        action="cycle_sort(1)",
    ),
    Action(
        "browse.sort_prev",
        "left_square_bracket",
        "Sort by the previous column",
        "browse",
        show=False,
        label="Prev sort",
        action="cycle_sort(-1)",
    ),
    Action(
        "browse.sort_desc",
        "S",
        "Toggle ascending/descending sort",
        "browse",
        show=False,
        label="Asc/desc",
        action="toggle_sort_desc",
    ),
    Action(
        "browse.tag", "t", "Tag (or untag) every sample matching the filter", "browse", label="Tag", action="bulk_tag"
    ),
    Action(
        "browse.exclude",
        "x",
        "Exclude or include every sample matching the filter",
        "browse",
        label="Excl/incl",
        action="bulk_exclude",
    ),
    Action(
        "browse.domain",
        "m",
        "Set the domain of every sample matching the filter",
        "browse",
        label="Domain",
        action="bulk_domain",
    ),
    Action(
        "browse.row_tag", "T", "Tag (or untag) the sample under the cursor", "browse", label="Tag row", action="row_tag"
    ),
    Action(
        "browse.row_exclude",
        "X",
        "Exclude or include the sample under the cursor",
        "browse",
        show=False,
        label="Excl row",
        action="row_exclude",
    ),
    Action(
        "browse.row_domain",
        "M",
        "Set the domain of the sample under the cursor",
        "browse",
        show=False,
        label="Domain row",
        action="row_domain",
    ),
    Action(
        "browse.undo",
        "u",
        "Undo the last bulk action (tag, exclude, set domain): its samples get back what they held",
        "browse",
        label="Undo",
        action="undo",
    ),
    Action(
        "browse.export",
        "o",
        "Export the samples matching the filter to JSONL/Parquet (messages, ShareGPT, Alpaca; LLaMA-Factory entry)",
        "browse",
        label="Export",
        action="export",
    ),
    Action(
        "browse.refresh",
        "ctrl+r",
        "Re-run the query (counts and rows)",
        "browse",
        show=False,
        label="Refresh",
        action="refresh",
    ),
    # -- the virtual sample table (Browse) --------------------------------------------------------------
    Action(
        "table.detail",
        "enter",
        "Show/hide the detail pane of the sample under the cursor",
        "table",
        label="Detail",
        action="toggle_detail",
    ),
    Action("table.down", "j,down", "Cursor down", "table", show=False, label="Down", action="cursor_down"),
    Action("table.up", "k,up", "Cursor up", "table", show=False, label="Up", action="cursor_up"),
    Action("table.top", "g,home", "First row", "table", show=False, label="Top", action="cursor_top"),
    Action("table.bottom", "G,end", "Last row", "table", show=False, label="Bottom", action="cursor_bottom"),
    Action(
        "table.page_down", "ctrl+d,pagedown", "Page down", "table", show=False, label="Page down", action="page_down"
    ),
    Action("table.page_up", "ctrl+u,pageup", "Page up", "table", show=False, label="Page up", action="page_up"),
    # -- every other table (pools, runs, results, mixtures, ...): the sample table's moves, where the screen
    # does not bind the key to one of its own actions (Clusters' k stays "new clustering")
    Action("datatable.down", "j", "Cursor down", "datatable", show=False, label="Down", action="cursor_down"),
    Action("datatable.up", "k", "Cursor up", "datatable", show=False, label="Up", action="cursor_up"),
    Action("datatable.top", "g,home", "First row", "datatable", show=False, label="Top", action="scroll_top"),
    Action("datatable.bottom", "G,end", "Last row", "datatable", show=False, label="Bottom", action="scroll_bottom"),
    # -- import dialog ---------------------------------------------------------------------------------
    Action("import.run", "ctrl+s", "Start the import", "import", label="Import", action="run_import"),
    Action(
        "import.cancel",
        "escape",
        "Cancel the running import, or close the dialog",
        "import",
        label="Cancel/close",
        action="cancel",
    ),
    # -- help screen and small dialogs -----------------------------------------------------------------
    Action(
        "import.help",
        "f1",
        "Help for the focused field of the import dialog",
        "import",
        label="Help",
        action="app.help",
    ),
    # -- scores screen ---------------------------------------------------------------------------------
    Action(
        "scores.score_ifd",
        "s",
        "Score IFD and perplexity with the proxy LM (child process; resumes)",
        "scores",
        label="Score IFD",
    ),
    Action(
        "scores.heuristics", "h", "Run the explicit heuristic filters on unscored samples", "scores", label="Heuristics"
    ),
    Action(
        "scores.cancel",
        "c",
        "Cancel the running scoring job (finished chunks are kept)",
        "scores",
        label="Cancel job",
        action="cancel_job",
    ),
    Action(
        "scores.keep",
        "b",
        "Browse what the keep-rule keeps in the highlighted domain",
        "scores",
        label="Browse kept",
        action="browse_keep",
    ),
    Action(
        "scores.lose",
        "l",
        "Browse what the keep-rule drops in the highlighted domain",
        "scores",
        label="Browse dropped",
        action="browse_lose",
    ),
    Action(
        "scores.select",
        "p",
        "Save a SuperFiltering selection (IFD < threshold, top rate per domain)",
        "scores",
        label="Select",
        action="superfilter",
    ),
    Action(
        "scores.up",
        "plus",
        "Raise the threshold by one step",
        "scores",
        show=False,
        label="Threshold +",
        action="nudge(1)",
    ),
    Action(
        "scores.down",
        "minus",
        "Lower the threshold by one step",
        "scores",
        show=False,
        label="Threshold -",
        action="nudge(-1)",
    ),
    Action(
        "scores.refresh",
        "ctrl+r",
        "Reload metrics and summaries",
        "scores",
        show=False,
        label="Reload",
        action="refresh",
    ),
    # -- clusters screen -------------------------------------------------------------------------------
    Action(
        "clusters.browse",
        "b,enter",
        "Browse the samples of the highlighted cluster (cluster.NAME = k)",
        "clusters",
        label="Browse",
        action="browse_cluster",
    ),
    Action(
        "clusters.embed",
        "e",
        "Embed the samples that have no embedding yet (cached per text; resumable)",
        "clusters",
        label="Embed",
    ),
    Action(
        "clusters.assign",
        "n",
        "Assign newly embedded samples to the existing clusters (no re-clustering)",
        "clusters",
        label="Assign",
        action="assign",
    ),
    Action(
        "clusters.new",
        "k",
        "Cluster the embeddings into a new named clustering (PCA + HDBSCAN)",
        "clusters",
        label="Cluster",
        action="new_clustering",
    ),
    Action(
        "clusters.colour", "d", "Colour the map by cluster or by domain", "clusters", label="Colour", action="colour"
    ),
    Action(
        "clusters.cancel",
        "c",
        "Cancel the running embedding job (finished chunks are kept)",
        "clusters",
        label="Cancel",
        action="cancel_job",
    ),
    Action(
        "clusters.refresh",
        "ctrl+r",
        "Reload the clusterings, the map and the diversity",
        "clusters",
        show=False,
        label="Reload",
        action="refresh",
    ),
    Action(
        "clusters.dedup",
        "u",
        "Keep one per duplicate group: exact, semantic or MinHash groups; the others "
        "are excluded (not deleted) and tagged duplicate",
        "clusters",
        label="Dedup",
        action="dedup",
    ),
    Action(
        "clusters.diversity",
        "v",
        "Diversity selection of the scope: k-center, facility location, SuperFiltering-D or N per cluster, saved "
        "by name",
        "clusters",
        label="Diverse",
        action="diversity",
    ),
    Action(
        "clusters.region",
        "r",
        "Select a region of the map (keys or typed ranges) and browse its samples",
        "clusters",
        label="Region",
        action="region",
    ),
    # the map-region editor (a modal over the Clusters screen; escape closes it, as in every dialog)
    Action(
        "clusters_region.left",
        "left",
        "Move the region left",
        "clusters_region",
        show=False,
        label="Move left",
        action="move(-1, 0)",
    ),
    Action(
        "clusters_region.right",
        "right",
        "Move the region right",
        "clusters_region",
        show=False,
        label="Move right",
        action="move(1, 0)",
    ),
    Action(
        "clusters_region.up",
        "up",
        "Move the region up",
        "clusters_region",
        show=False,
        label="Move up",
        action="move(0, 1)",
    ),
    Action(
        "clusters_region.down",
        "down",
        "Move the region down",
        "clusters_region",
        show=False,
        label="Move down",
        action="move(0, -1)",
    ),
    Action(
        "clusters_region.wider",
        "shift+right,greater_than_sign",
        "Make the region wider",
        "clusters_region",
        label="Wider",
        action="resize(1, 0)",
    ),
    Action(
        "clusters_region.narrower",
        "shift+left,less_than_sign",
        "Make the region narrower",
        "clusters_region",
        label="Narrower",
        action="resize(-1, 0)",
    ),
    Action(
        "clusters_region.taller",
        "shift+up,right_square_bracket",
        "Make the region taller",
        "clusters_region",
        label="Taller",
        action="resize(0, 1)",
    ),
    Action(
        "clusters_region.shorter",
        "shift+down,left_square_bracket",
        "Make the region shorter",
        "clusters_region",
        label="Shorter",
        action="resize(0, -1)",
    ),
    Action(
        "clusters_region.fit",
        "c",
        "Fit the region to the highlighted cluster",
        "clusters_region",
        label="Fit cluster",
        action="fit_cluster",
    ),
    Action(
        "clusters_region.all",
        "a",
        "Make the region the whole map",
        "clusters_region",
        label="Whole map",
        action="whole_map",
    ),
    Action(
        "clusters_region.type",
        "t",
        "Type the x and y ranges",
        "clusters_region",
        label="Type ranges",
        action="type_ranges",
    ),
    Action(
        "clusters_region.browse",
        "enter,b",
        "Browse the samples in the region (map.NAME.x / map.NAME.y filter)",
        "clusters_region",
        label="Browse region",
        action="browse_region",
    ),
    # -- mixtures screen --------------------------------------------------------------------------------
    Action(
        "mixtures.save",
        "ctrl+s",
        "Save the recipe as a version (a new one only when recipe or items changed)",
        "mixtures",
        label="Save version",
        action="save",
    ),
    Action(
        "mixtures.add",
        "a",
        "Add a component (pool, domain, cluster, selection, interpolation set)",
        "mixtures",
        label="Add comp.",
        action="add_component",
    ),
    Action(
        "mixtures.filter",
        "f",
        "Set the filter expression of the highlighted component",
        "mixtures",
        label="Filter",
        action="component_filter",
    ),
    Action(
        "mixtures.remove",
        "x",
        "Remove the highlighted component",
        "mixtures",
        label="Remove comp.",
        action="remove_component",
    ),
    Action(
        "mixtures.share",
        "e",
        "Type the share (%) of the highlighted domain",
        "mixtures",
        label="Share",
        action="edit_share",
    ),
    Action(
        "mixtures.up",
        "plus",
        "Raise the highlighted domain's share by one point",
        "mixtures",
        show=False,
        label="Share +",
        action="nudge(1)",
    ),
    Action(
        "mixtures.down",
        "minus",
        "Lower the highlighted domain's share by one point",
        "mixtures",
        show=False,
        label="Share -",
        action="nudge(-1)",
    ),
    Action(
        "mixtures.load",
        "l",
        "Load the highlighted saved version into the editor",
        "mixtures",
        label="Load",
        action="load",
    ),
    Action(
        "mixtures.diff",
        "d",
        "Diff the highlighted saved version with the previous one",
        "mixtures",
        label="Diff",
        action="diff",
    ),
    Action(
        "mixtures.export",
        "o",
        "Export the highlighted saved version (JSONL/Parquet + dataset_info)",
        "mixtures",
        label="Export",
        action="export",
    ),
    Action(
        "mixtures.stages",
        "s",
        "Edit the training stages (multi-stage, DMT replay) or clear them",
        "mixtures",
        label="Stages",
        action="stages",
    ),
    Action(
        "mixtures.new",
        "n",
        "Start a new recipe (every domain, equal shares)",
        "mixtures",
        show=False,
        label="New recipe",
        action="new",
    ),
    Action(
        "mixtures.table",
        "escape",
        "Back to the domain table",
        "mixtures",
        show=False,
        label="Domains",
        action="focus_table",
    ),
    Action(
        "mixtures.refresh",
        "ctrl+r",
        "Resolve again and reload the saved list",
        "mixtures",
        show=False,
        label="Reload",
        action="refresh",
    ),
    # -- runs screen ------------------------------------------------------------------------------------
    Action(
        "runs.cancel",
        "c",
        "Cancel the highlighted run (a running one stops after its step, with a checkpoint)",
        "runs",
        label="Cancel run",
        action="cancel_run",
    ),
    Action(
        "runs.resume",
        "r",
        "Resume the highlighted failed or cancelled run from its last checkpoint (queued)",
        "runs",
        label="Resume",
        action="resume_run",
    ),
    Action(
        "runs.new",
        "n",
        "Queue a new run: a form for the mixture version, protocol, base model, LoRA and training",
        "runs",
        label="New run",
        action="new_run",
    ),
    Action(
        "runs.evaluate",
        "e",
        "Evaluate the highlighted run: the Results area's form (eval sets, items per set); the job runs there",
        "runs",
        label="Evaluate",
        action="evaluate_run",
    ),
    Action(
        "runs.raise",
        "R",
        "RAISE: policy training (progress, cancel), reward curves, picks per step, deploy and the random baseline",
        "runs",
        label="RAISE",
        action="open_raise",
    ),
    Action(
        "runs.refresh",
        "ctrl+r",
        "Tick the queue and reload the runs now",
        "runs",
        show=False,
        label="Reload",
        action="refresh",
    ),
    # -- RAISE panel (from Runs: R) ----------------------------------------------------------------------
    Action(
        "raise.new", "n", "Train a RAISE policy (a form; a worker process)", "raise", label="Train", action="new_job"
    ),
    Action(
        "raise.cancel_job",
        "c",
        "Cancel the policy training at its next step (the same name resumes)",
        "raise",
        label="Cancel",
        action="cancel_job",
    ),
    Action(
        "raise.deploy", "d", "Deploy the trained policy: a run of its batches", "raise", label="Deploy", action="deploy"
    ),
    Action(
        "raise.deploy_random",
        "D",
        "Queue the random baseline at equal steps (same cluster quota)",
        "raise",
        label="Random baseline",
        action="deploy_random",
    ),
    Action(
        "raise.compare",
        "C",
        "Compare at equal steps: RAISE, random batches, IFD top-k, full data, the base model (runs, then evaluation)",
        "raise",
        label="Compare",
        action="compare",
    ),
    Action(
        "raise.browse",
        "b",
        "Browse the highlighted step's samples (enter on the steps table too)",
        "raise",
        label="Browse step",
        action="browse_step",
    ),
    Action("raise.refresh", "ctrl+r", "Reload the RAISE jobs", "raise", show=False, label="Reload", action="refresh"),
    # -- results screen ---------------------------------------------------------------------------------
    Action(
        "results.drill",
        "enter",
        "Show the conflicting items of the highlighted run and domain",
        "results",
        label="Conflicts",
        action="drill",
    ),
    Action(
        "results.mark",
        "space",
        "Mark/unmark the highlighted run for a side-by-side comparison",
        "results",
        label="Mark",
        action="mark",
    ),
    Action(
        "results.compare",
        "v",
        "Compare the two marked runs side by side (scores, conflicts, per-item agreement)",
        "results",
        label="Compare",
        action="compare",
    ),
    Action(
        "results.matrix",
        "m",
        "Domain-pair interference matrix of the highlighted run (our definition)",
        "results",
        label="Matrix",
        action="matrix",
    ),
    Action("results.sort", "s", "Sort by the next column", "results", label="Sort", action="sort"),
    Action(
        "results.sort_desc",
        "S",
        "Toggle ascending/descending sort",
        "results",
        show=False,
        label="Asc/desc",
        action="sort_desc",
    ),
    Action(
        "results.variant",
        "l",
        "Switch the Conflict Rate variant (accuracy / loss)",
        "results",
        label="Acc/loss",
        action="variant",
    ),
    Action(
        "results.tau",
        "t",
        "Set tau, the NLL margin of the loss variant",
        "results",
        show=False,
        label="Tau",
        action="tau",
    ),
    Action(
        "results.reference",
        "b",
        "Switch the Conflict Rate reference (specialist / base model)",
        "results",
        show=False,
        label="Reference",
        action="reference",
    ),
    Action(
        "results.evaluate",
        "e",
        "Evaluate a run (the highlighted one, or any finished run): pick the eval sets and the items per set; "
        "its specialists, finished pair runs and the base model come along (child process; resumes)",
        "results",
        label="Eval",
        action="evaluate",
    ),
    Action(
        "results.specialists",
        "p",
        "Create or reuse the single-domain specialists of the highlighted mixture run",
        "results",
        label="Specs",
        action="specialists",
    ),
    Action(
        "results.pairs",
        "a",
        "Create or reuse the two-domain pair runs of the highlighted mixture run (they fill "
        "the interference matrix's outcome cells once trained and evaluated)",
        "results",
        label="Pairs",
        action="pairs",
    ),
    Action(
        "results.cancel",
        "c",
        "Cancel the running evaluation (finished chunks are kept)",
        "results",
        label="Cancel",
        action="cancel_job",
    ),
    Action("results.refresh", "ctrl+r", "Reload the results", "results", show=False, label="Reload", action="refresh"),
    # -- interpolation screen ---------------------------------------------------------------------------
    Action(
        "interpolation.new",
        "n",
        "Create an interpolation set: two sources, alpha, pairs, pairing, seed",
        "interpolation",
        label="New set",
        action="new_set",
    ),
    Action(
        "interpolation.select",
        "s",
        "Diversity step: K-Means over originals + mixes, keep up to a budget",
        "interpolation",
        label="Diversity",
        action="select_diverse",
    ),
    Action(
        "interpolation.map",
        "m",
        "Pick the clustering whose map shows where the mixes fall (coverage)",
        "interpolation",
        label="Map",
        action="pick_map",
    ),
    Action(
        "interpolation.export",
        "o",
        "Export the pairs + lam as a table (no text form exists)",
        "interpolation",
        label="Export pairs",
        action="export_pairs",
    ),
    Action(
        "interpolation.delete",
        "d",
        "Delete the highlighted interpolation set",
        "interpolation",
        label="Delete",
        action="delete_set",
    ),
    Action(
        "interpolation.cancel",
        "c",
        "Cancel the running feature job",
        "interpolation",
        label="Cancel job",
        action="cancel_job",
    ),
    Action(
        "interpolation.refresh",
        "ctrl+r",
        "Reload sets, pairs, preview and coverage",
        "interpolation",
        show=False,
        label="Reload",
        action="refresh",
    ),
    # -- targeted screen --------------------------------------------------------------------------------
    Action(
        "targeted.new",
        "n",
        "New targeted selection: query set, representation, model, algorithm, budget, name, candidates",
        "targeted",
        label="New",
        action="new_target",
    ),
    Action(
        "targeted.browse",
        "b",
        "Browse the picks of the highlighted targeted selection (selection.NAME IS NOT NULL)",
        "targeted",
        label="Browse picks",
        action="browse_picks",
    ),
    Action("targeted.cancel", "c", "Cancel the running targeted job", "targeted", label="Cancel", action="cancel_job"),
    Action(
        "targeted.resume",
        "r",
        "Resume the cancelled (or failed) targeted job: cached vectors are reused, the algorithm reruns",
        "targeted",
        label="Resume",
        action="resume",
    ),
    Action(
        "targeted.study",
        "t",
        "Study the highlighted selection against random and the base model: the new-study form, prefilled",
        "targeted",
        label="Study",
        action="new_study",
    ),
    Action(
        "targeted.refresh",
        "ctrl+r",
        "Reload the targeted selections",
        "targeted",
        show=False,
        label="Reload",
        action="refresh",
    ),
    # -- studies screen ---------------------------------------------------------------------------------
    Action(
        "studies.new",
        "n",
        "New study: name, template, base, axes, run and eval settings",
        "studies",
        label="New",
        action="new_study",
    ),
    Action(
        "studies.launch",
        "l",
        "Launch the highlighted study: its plan to confirm, then the runs queued",
        "studies",
        label="Launch",
    ),
    Action(
        "studies.evaluate",
        "e",
        "Evaluate the finished cells of the highlighted study (c cancels)",
        "studies",
        label="Evaluate",
    ),
    Action(
        "studies.extend", "x", "Extend the highlighted study: axis values, seeds, eval sets", "studies", label="Extend"
    ),
    Action(
        "studies.allocate",
        "a",
        "A growth study's proposed allocation (ours), saved as a mixture version",
        "studies",
        label="Allocation",
    ),
    Action(
        "studies.export",
        "o",
        "Export the highlighted study as a report (figures, Markdown, HTML)",
        "studies",
        label="Report",
    ),
    Action(
        "studies.drill",
        "enter",
        "Open the highlighted cell: its evaluation in Results, else its run in Runs",
        "studies",
        show=False,
        label="Open",
    ),
    Action("studies.run", "v", "The highlighted cell's run in Runs", "studies", label="Run", action="open_run"),
    Action(
        "studies.cancel",
        "c",
        "Cancel the running evaluation of a study",
        "studies",
        show=False,
        label="Cancel",
        action="cancel_job",
    ),
    Action("studies.refresh", "ctrl+r", "Reload the studies", "studies", show=False, label="Reload", action="refresh"),
    Action("help.close", "escape,f1,q", "Close help", "help", label="Close", action="close"),
    Action(
        "dialog.cancel", "escape", "Close the dialog without doing anything", "dialog", label="Cancel", action="cancel"
    ),
    Action("dialog.help", "f1", "Help for the dialog and its focused field", "dialog", label="Help", action="app.help"),
]

_BY_ID: dict[str, Action] = {a.id: a for a in ACTIONS}

# Effective keys after the user keymap (id -> key string); filled by `apply_keymap`.
_overrides: dict[str, str] = {}


def normalize_keys(key: str) -> list[str]:
    """Textual key names of a comma-separated key string ("/" -> "slash", "j, down" -> [j, down])."""
    from textual.keys import _character_to_key

    out = []
    for k in key.split(","):
        k = k.strip()
        if not k:
            continue
        out.append(_character_to_key(k) if len(k) == 1 else k)
    return out


def get(action_id: str) -> Action:
    """The registered action (with the user's key when the keymap overrides it)."""
    a = _BY_ID[action_id]
    if action_id in _overrides:
        return replace(a, key=_overrides[action_id])
    return a


def all_actions() -> list[Action]:
    """Every action, with effective keys."""
    return [get(a.id) for a in ACTIONS]


def actions_for(context: str) -> list[Action]:
    """The actions of one context, with effective keys."""
    return [get(a.id) for a in ACTIONS if a.context == context]


def context_chain(context: str) -> list[str]:
    """The context, its parents, then "global" (not for modals): every context whose keys are live at once."""
    chain = [context]
    while chain[-1] in CONTEXT_PARENTS:
        chain.append(CONTEXT_PARENTS[chain[-1]])
    if GLOBAL not in chain and context not in MODAL_CONTEXTS:
        chain.append(GLOBAL)
    return chain


def active_together(a: str, b: str) -> bool:
    """Can the keys of contexts a and b be live at the same time?"""
    return a in context_chain(b) or b in context_chain(a)


def contexts() -> list[str]:
    seen: list[str] = []
    for a in ACTIONS:
        if a.context not in seen:
            seen.append(a.context)
    return seen


def bindings_for(context: str) -> list:
    """Textual `Binding`s for a context (default keys; the app's keymap applies user overrides by id)."""
    from textual.binding import Binding

    out = []
    for a in ACTIONS:
        if a.context != context:
            continue
        keys = a.keys
        # Several keys: the footer shows the first one ("q" rather than "ctrl+q").
        display = key_display(keys[0]) if len(keys) > 1 else None
        out.append(
            Binding(
                a.key,
                a.textual_action,
                a.footer_label,
                show=a.show,
                id=a.id,
                tooltip=a.description,
                key_display=display,
            )
        )
    return out


def key_display(key: str) -> str:
    """Human text for a key string ("ctrl+d,pagedown" -> "ctrl+d / pagedown")."""
    names = {
        "slash": "/",
        "left_square_bracket": "[",
        "right_square_bracket": "]",
        "question_mark": "?",
        "escape": "esc",
        "pagedown": "pgdn",
        "pageup": "pgup",
    }
    return " / ".join(names.get(k, k) for k in normalize_keys(key))


# -- keymap file -------------------------------------------------------------------------------------------


@dataclass
class KeymapResult:
    """What a keymap file asked for: the accepted overrides (id -> key) and warnings for the rest."""

    overrides: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    path: Path | None = None


def default_keymap_path() -> Path:
    return config_dir() / "keymap.toml"


def _flatten(table: Mapping, prefix: str = "") -> Iterable[tuple[str, object]]:
    # `pools.import = "x"` (dotted TOML key) is a nested table; `"pools.import" = "x"` is flat. Accept both.
    for k, v in table.items():
        name = f"{prefix}{k}"
        if isinstance(v, Mapping):
            yield from _flatten(v, name + ".")
        else:
            yield name, v


def check_keymap(overrides: Mapping[str, object], *, source: str = "keymap") -> KeymapResult:
    """Validate overrides against the registry: unknown ids, non-string keys and conflicts are warnings.

    A conflict is two actions bound to the same key where both can be active at once (`active_together`:
    the same context, a context and its parent, or one of them global). The override that causes the conflict is dropped (the default key stays).
    """
    res = KeymapResult()
    for action_id, key in overrides.items():
        if action_id not in _BY_ID:
            res.warnings.append(f"{source}: unknown action id {action_id!r} (ignored)")
            continue
        if not isinstance(key, str) or not normalize_keys(key):
            res.warnings.append(f'{source}: key for {action_id!r} must be a non-empty string like "ctrl+x"')
            continue
        res.overrides[action_id] = key

    # Resolve conflicts in registry order so the result does not depend on the file's order.
    def effective(aid: str) -> str:
        return res.overrides.get(aid, _BY_ID[aid].key)

    for aid in [a.id for a in ACTIONS if a.id in res.overrides]:
        a = _BY_ID[aid]
        mine = set(normalize_keys(effective(aid)))
        for other in ACTIONS:
            if other.id == aid:
                continue
            if not active_together(other.context, a.context):
                continue
            clash = mine & set(normalize_keys(effective(other.id)))
            if clash:
                res.warnings.append(
                    f"{source}: {aid} = {effective(aid)!r} conflicts with {other.id} "
                    f"({', '.join(sorted(clash))}); keeping the default {a.key!r}"
                )
                del res.overrides[aid]
                break
    return res


def load_keymap(path: Path | str | None = None) -> KeymapResult:
    """Read `[keys] action_id = "ctrl+x"` from the keymap file (default: config_dir()/keymap.toml).

    A missing file is no keymap; a broken file, unknown ids and conflicting keys are reported as warnings.
    """
    p = Path(path) if path is not None else default_keymap_path()
    if not p.exists():
        return KeymapResult(path=p)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        return KeymapResult(warnings=[f"{p}: cannot read keymap: {e}"], path=p)
    keys = data.get("keys", {})
    warnings = [f"{p}: unknown section [{k}] (only [keys] is read)" for k in data if k != "keys"]
    if not isinstance(keys, Mapping):
        return KeymapResult(warnings=warnings + [f"{p}: [keys] must be a table"], path=p)
    res = check_keymap(dict(_flatten(keys)), source=str(p))
    res.warnings[:0] = warnings
    res.path = p
    return res


def apply_keymap(overrides: Mapping[str, str]) -> None:
    """Record the effective keys so help, palette and docs show the user's keys."""
    _overrides.clear()
    _overrides.update(overrides)


def keymap_template() -> str:
    """A commented keymap file listing every action id with its default key."""
    lines = ["# Workbench keymap: uncomment a line and change the key.", "[keys]"]
    for a in ACTIONS:
        lines.append(f'# "{a.id}" = "{a.key}"    # {a.description}')
    return "\n".join(lines) + "\n"
