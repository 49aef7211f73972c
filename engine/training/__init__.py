"""training: LoRA training of one run folder, and the run folders and queue around it.

Modules: `settings` (LoraSettings, TrainSettings, validation, the run config), `data` (records -> examples with
the chat template and assistant-only labels, phases, the grouped/packed micro-batch plan, collation), `model`
(base model loading, precision, the labelled-token loss), `checkpoint` (save/load with optimizer, scheduler, RNG
and data position), `loop` (`train`: the loop, eval losses, the gradient-conflict probe), `worker` (the child
process, `python -m engine.training.worker RUN_FOLDER`), `runs` (run folders in the store, the queue).

A run folder (written by `engine.training.runs.create_run`) holds `config.json` and `data.jsonl`; `train(folder)`
writes there:
    metrics.jsonl      one JSON object per line: {"step", "ts", name: value, ...}; names are loss, lr,
                       tokens_per_s, eta_s, eval_loss/<domain>, gradcos/<a>|<b>, gpu_mem_gb; a line
                       {"event": "resume", "step": N} says that later lines replace steps > N
    status.json        {"status": running|done|failed|cancelled, "step", "total", "pid", "error"?}
    log.txt            human log (the worker's stderr goes there too)
    checkpoints/step-N/  adapter + state.pt (optimizer, scheduler, RNG states, data position)
    adapter/           the final LoRA adapter (peft `save_pretrained`)
Cancel: a file named `cancel` in the folder, or SIGTERM; both are checked between optimizer steps and end with a
checkpoint, so `resume` continues exactly where the run stopped.

torch, transformers and peft are imported inside functions (the app never imports them).
"""

from __future__ import annotations

from engine.training.checkpoint import checkpoints
from engine.training.data import (
    Example,
    assistant_spans,
    build_plan,
    collate_rows,
    phases,
    read_records,
    tokenize_conversation,
    tokenize_records,
)
from engine.training.loop import train
from engine.training.model import compute_context, load_base, resolve_precision, token_losses
from engine.training.settings import (
    PACKING,
    PROTOCOLS,
    LoraSettings,
    TrainingError,
    TrainSettings,
    config_dict,
    settings_from_dict,
)

__all__ = [
    "PACKING",
    "PROTOCOLS",
    "Example",
    "LoraSettings",
    "TrainSettings",
    "TrainingError",
    "assistant_spans",
    "build_plan",
    "checkpoints",
    "collate_rows",
    "compute_context",
    "config_dict",
    "load_base",
    "phases",
    "read_records",
    "resolve_precision",
    "settings_from_dict",
    "token_losses",
    "tokenize_conversation",
    "tokenize_records",
    "train",
]
