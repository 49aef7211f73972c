"""Load exported datasets through LLaMA-Factory's own data path; print what it made of them as JSON.

Runs inside the LLaMA-Factory venv (tests/external/llamafactory.txt, built by `./run test`), never in the
app's venv. Usage:

    python lf_load.py DATASET_DIR NAME[,NAME...] TOKENIZER_DIR TEMPLATE STAGE OUT_JSONL

For each dataset name it writes one JSON line to OUT_JSONL: {"name", "aligned": [...], "tokenized": [...]}, where
`aligned` is LLaMA-Factory's standard form of every record (_prompt, _response, _system, _tools, from its
Alpaca/ShareGPT converters) and `tokenized` is every record after `get_dataset` tokenised it with the
template: {"prompt": text of the unlabelled tokens, "response": text of the labelled ones} for sft,
{"chosen", "rejected"} texts for rm (ranking data).

torchaudio: LLaMA-Factory 0.9.5 imports it at module level (data/mm_plugin.py, for audio inputs) and no build
of it matches the CPU torch 2.13 here, so an empty module stands in for it. Text datasets never reach it; any
use would fail with AttributeError, not pass silently.
"""

from __future__ import annotations

import importlib.machinery
import json
import sys
import types

IGNORE = -100


def _stub_torchaudio() -> None:
    m = types.ModuleType("torchaudio")
    m.__spec__ = importlib.machinery.ModuleSpec("torchaudio", None)
    sys.modules["torchaudio"] = m


def main() -> None:
    dataset_dir, names, tok_dir, template_name, stage, out_path = sys.argv[1:7]
    _stub_torchaudio()
    from llamafactory.data import get_dataset, get_template_and_fix_tokenizer
    from llamafactory.data.loader import _get_merged_dataset
    from llamafactory.hparams import get_train_args
    from transformers import AutoTokenizer

    sink = open(out_path, "w", encoding="utf-8")  # stdout carries LLaMA-Factory's own prints
    for name in names.split(","):
        args = {
            "model_name_or_path": tok_dir,
            "dataset": name,
            "dataset_dir": dataset_dir,
            "template": template_name,
            "stage": stage,
            "do_train": True,
            "finetuning_type": "lora",
            "output_dir": dataset_dir + "/_lf_out",
            "cutoff_len": 32768,  # no truncation: every token is compared
            "overwrite_cache": True,
            "preprocessing_num_workers": None,
            "report_to": "none",
            "use_cpu": True,
        }
        model_args, data_args, training_args, _ft, _gen = get_train_args(args)
        tok = AutoTokenizer.from_pretrained(tok_dir)
        template = get_template_and_fix_tokenizer(tok, data_args)
        aligned = _get_merged_dataset([name], model_args, data_args, training_args, stage)
        module = get_dataset(template, model_args, data_args, training_args, stage, tokenizer=tok)
        out = []
        for ex in module["train_dataset"]:
            if stage == "rm":
                c = [t for t, lab in zip(ex["chosen_input_ids"], ex["chosen_labels"]) if lab != IGNORE]
                r = [t for t, lab in zip(ex["rejected_input_ids"], ex["rejected_labels"]) if lab != IGNORE]
                out.append({"chosen": tok.decode(c), "rejected": tok.decode(r)})
            else:
                p = [t for t, lab in zip(ex["input_ids"], ex["labels"]) if lab == IGNORE]
                r = [t for t, lab in zip(ex["input_ids"], ex["labels"]) if lab != IGNORE]
                out.append({"prompt": tok.decode(p), "response": tok.decode(r)})
        keep = ("_prompt", "_response", "_system", "_tools")
        rec = {"name": name, "aligned": [{k: ex[k] for k in keep} for ex in aligned], "tokenized": out}
        sink.write(json.dumps(rec, ensure_ascii=False) + "\n")
    sink.close()


if __name__ == "__main__":
    main()
