"""Child-process entry point of evaluation jobs: `python -m engine.evaluation.worker JOBDIR [JOBDIR ...]`
(several jobs, e.g. a mixture run, its specialists and the base model, share one model load).

Reads spec.json (base model, optional LoRA adapter folder, EvalSettings) and input.jsonl (EvalItems); for
each chunk of items: batched greedy generation with the tokenizer's chat template (left padding), the
reference response's mean token NLL given the prompt, option log-likelihoods for multiple choice, and the
scorer's verdict (engine.evaluation.scorers; code runs in the sandbox, a further child). Writes
chunks/NNNNNN-xxxxxx.jsonl atomically, progress.json and log.txt; never opens the DuckDB store. Items already in a
chunk are skipped, so a killed job resumes. SIGTERM/SIGINT or a `cancel` file stop at the next batch (the job
life cycle is engine.core.jobs').
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from engine.core.jobs import CancelToken, JobFolder, run_chunks, worker_main
from engine.evaluation.generation import generate

FALLBACK_TEMPLATE_NOTE = "no chat template: 'User: ...\\nAssistant:' plain prompt"


def render_prompt(tok, messages: list[dict], tools=None) -> str:
    """The generation prompt of a conversation: the chat template with the generation prompt (tool calls in
    earlier turns become JSON text when the template does not render them); a plain fallback without one."""
    template = getattr(tok, "chat_template", None)
    msgs = []
    renders_calls = bool(template) and "tool_calls" in str(template)
    for m in messages:
        m = dict(m)
        if m.get("tool_calls") and not renders_calls:
            calls = [c.get("function", c) for c in m["tool_calls"]]
            m["content"] = (
                (m.get("content") or "") + ("\n" if m.get("content") else "") + json.dumps(calls, ensure_ascii=False)
            )
            del m["tool_calls"]
        if m.get("content") is None:
            m["content"] = ""
        msgs.append(m)
    if template:
        kw = {"tools": tools} if tools else {}
        try:
            return tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True, **kw)
        except Exception:  # noqa: BLE001 - a template that refuses tools: render without them
            if kw:
                return tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
            raise
    parts = []
    if tools:
        parts.append("Tools: " + json.dumps(tools, ensure_ascii=False))
    for m in msgs:
        parts.append(f"{m['role'].capitalize()}: {m['content']}")
    return "\n".join(parts) + "\nAssistant:"


def continuation_logprobs(
    model, tok, pairs: list[tuple[str, str]], *, batch_size: int, max_len: int, cancel: CancelToken | None = None
) -> list[tuple[float, int]]:
    """(sum of log-probabilities, number of tokens) of each continuation given its prompt (prompt tokens cut
    from the left when prompt + continuation exceed max_len)."""
    import torch

    rows = []
    for prompt, cont in pairs:
        p = tok(prompt, add_special_tokens=False)["input_ids"]
        c = tok(cont, add_special_tokens=False)["input_ids"]
        if tok.eos_token_id is not None:
            c = c + [tok.eos_token_id]
        c = c[: max_len - 1]
        p = p[-(max_len - len(c)) :] if len(p) + len(c) > max_len else p
        rows.append((p, c))
    dev = next(model.parameters()).device
    out: list[tuple[float, int]] = [(0.0, 0)] * len(rows)
    order = sorted(range(len(rows)), key=lambda i: len(rows[i][0]) + len(rows[i][1]))
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    for k in range(0, len(order), batch_size):
        if cancel is not None:
            cancel.check()
        idx = order[k : k + batch_size]
        seqs = [rows[i][0] + rows[i][1] for i in idx]
        T = max(len(s) for s in seqs)
        ids = torch.full((len(idx), T), pad, dtype=torch.long)
        att = torch.zeros((len(idx), T), dtype=torch.long)
        for j, s in enumerate(seqs):
            ids[j, : len(s)] = torch.tensor(s)
            att[j, : len(s)] = 1
        with torch.no_grad():
            logits = model(input_ids=ids.to(dev), attention_mask=att.to(dev)).logits.float()
        logp = torch.log_softmax(logits[:, :-1], dim=-1)
        for j, i in enumerate(idx):
            p, c = rows[i]
            if not c:
                continue
            start = len(p)  # first continuation token position
            tgt = torch.tensor(c, device=logp.device)
            pos = torch.arange(start - 1, start - 1 + len(c), device=logp.device)
            lp = logp[j, pos, tgt]
            out[i] = (float(lp.sum()), len(c))
    return out


def _set_threads(s: dict) -> None:
    """torch CPU threads: the setting, else half the cores (at least 1). On shared or busy CPUs torch's default
    (all cores) oversubscribes them; 1 thread was 10x faster than 2 for a tiny model on a busy 2-core machine."""
    import torch

    n = s.get("threads") or max(1, (os.cpu_count() or 2) // 2)
    torch.set_num_threads(int(n))


def load_base(spec: dict, folder: JobFolder | None = None):
    """(model, tokenizer) of a job's base model (no adapter), in eval mode. With the job's `folder`, the
    phase (loading, converting a GGUF model once) is written to its progress.json for the app and the CLI."""
    from engine.core.models import load_causal_lm

    s = spec.get("settings", {})
    _set_threads(s)
    say = (lambda text: folder.update_progress(phase=text)) if folder is not None else None
    if say:
        say(f"loading the model {spec['model']}")
    model, tok, _src = load_causal_lm(spec["model"], device=s.get("device", "auto"), dtype=s.get("dtype"), progress=say)
    return model, tok


def load_model(spec: dict, folder: JobFolder | None = None):
    """(model, tokenizer) of the job: the base model, with the LoRA adapter merged in when given."""
    model, tok = load_base(spec, folder)
    if spec.get("adapter"):
        if folder is not None:
            folder.update_progress(phase="merging the run's LoRA adapter")
        if not merge_lora(model, spec["adapter"]):
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, spec["adapter"]).merge_and_unload().eval()
    return model, tok


def merge_lora(model, adapter_dir, *, keep: dict | None = None) -> bool:
    """Merge a plain LoRA adapter (peft's saved format) into the model's Linear weights in place:
    W += scale * B @ A with scale = alpha / r (alpha / sqrt(r) with rslora). Skips importing peft (seconds
    per worker). Returns False, changing nothing, for anything else (DoRA, patterns, modules_to_save, ...):
    the caller then uses peft. `keep`: a dict that receives {module: original weight on CPU} so that
    `unmerge` restores the base model exactly."""
    import torch
    from safetensors.torch import load_file

    folder = Path(adapter_dir)
    try:
        cfg = json.loads((folder / "adapter_config.json").read_text())
    except (OSError, json.JSONDecodeError):
        return False
    weights = folder / "adapter_model.safetensors"
    plain = (
        cfg.get("peft_type") == "LORA"
        and not cfg.get("use_dora")
        and not cfg.get("fan_in_fan_out")
        and not cfg.get("modules_to_save")
        and not cfg.get("rank_pattern")
        and not cfg.get("alpha_pattern")
        and not cfg.get("lora_bias")
        and cfg.get("bias", "none") == "none"
        and not cfg.get("trainable_token_indices")
        and not cfg.get("target_parameters")
        and not cfg.get("layer_replication")
        and weights.is_file()
    )
    if not plain:
        return False
    r, alpha = int(cfg["r"]), float(cfg["lora_alpha"])
    scale = alpha / (r**0.5) if cfg.get("use_rslora") else alpha / r
    sd = load_file(str(weights))
    modules = dict(model.named_modules())
    plan = []
    for key, a in sd.items():
        if not key.endswith(".lora_A.weight"):
            if not key.endswith(".lora_B.weight"):
                return False  # something other than plain A/B matrices
            continue
        name = key[: -len(".lora_A.weight")]
        if name.startswith("base_model.model."):
            name = name[len("base_model.model.") :]
        b = sd.get(key.replace(".lora_A.", ".lora_B."))
        mod = modules.get(name)
        if b is None or not isinstance(mod, torch.nn.Linear):
            return False
        if tuple(mod.weight.shape) != (b.shape[0], a.shape[1]):
            return False
        plan.append((mod, a, b))
    if not plan:
        return False
    with torch.no_grad():
        for mod, a, b in plan:
            if keep is not None and mod not in keep:
                keep[mod] = mod.weight.detach().to("cpu", copy=True)
            delta = (b.float() @ a.float()) * scale
            mod.weight += delta.to(mod.weight.dtype).to(mod.weight.device)
    return True


def unmerge(keep: dict) -> None:
    """Put back the weights `merge_lora(..., keep=)` saved."""
    import torch

    with torch.no_grad():
        for mod, w in keep.items():
            mod.weight.copy_(w.to(mod.weight.device))
    keep.clear()


def run_jobs(jobs: list[Path], *, cancel: CancelToken | None = None) -> list[dict]:
    """Run several jobs in this process, loading each base model once: a plain LoRA adapter is merged before
    its job and taken out after it (exact restore); other adapters get a fresh model with peft."""
    out = []
    cached: tuple | None = None  # (key, model, tok)
    for job in jobs:
        folder = JobFolder(job)
        spec = folder.read_spec()
        s = spec.get("settings", {})
        key = (spec["model"], s.get("device", "auto"), s.get("dtype"))
        if cached is None or cached[0] != key:
            cached = None  # free the previous model first
            cached = (key, *load_base(spec, folder))
        _, model, tok = cached
        keep: dict = {}
        if spec.get("adapter"):
            folder.update_progress(phase="merging the run's LoRA adapter")
            if not merge_lora(model, spec["adapter"], keep=keep):
                out.append(run_job(Path(job), cancel=cancel))  # peft path: its own fresh model
                continue
        try:
            out.append(run_job(Path(job), cancel=cancel, loaded=(model, tok)))
        finally:
            unmerge(keep)
    return out


GENERATING_SCORERS = ("gsm8k", "math", "code", "tool")


def code_answer_complete(text: str) -> bool:
    """True once the output holds everything the code scorer runs: `extract_code` takes the first fenced
    python block that defines a function, so once that block's closing fence is out, nothing generated after
    it changes the program. (gsm8k, math and tool calls read the last answer or every call in the whole
    output: they get no such stop.)"""
    import re

    from engine.evaluation.code_check import _FENCE, extract_code

    if "```" not in text:
        return False
    body = extract_code(text)
    return any(
        m.group(2) == body and m.group(0).endswith("```") and re.search(r"^\s*def \w+\(", body, re.M)
        for m in _FENCE.finditer(text)
    )


ANSWER_COMPLETE = {"code": code_answer_complete}  # scorer -> stop test on the text generated so far


def generate_outputs(model, tok, items: list[dict], prompts: list[str], s: dict, cancel=None, on_batch=None):
    """{item index: generated text} for the items whose scorer reads a generated answer, with the job's
    settings (`s`: max_new_tokens, batch_size, greedy, temperature). A code item's generation stops once the
    code its scorer runs is complete (`code_answer_complete`); the others run to an end token or the limit."""
    gen_idx = [i for i, it in enumerate(items) if it["scorer"] in GENERATING_SCORERS]
    if not gen_idx:
        return {}
    texts = generate(
        model,
        tok,
        [prompts[i] for i in gen_idx],
        max_new_tokens=s["max_new_tokens"],
        batch_size=s["batch_size"],
        greedy=s.get("greedy", True),
        temperature=s.get("temperature", 0.0),
        cancel=cancel,
        on_batch=on_batch,
        stops=[ANSWER_COMPLETE.get(items[i]["scorer"]) for i in gen_idx],
    )
    return dict(zip(gen_idx, texts))


def score_chunk(model, tok, items: list[dict], s: dict, cancel=None, on_batch=None) -> list[dict]:
    """Generate, measure NLL and check a list of items; returns the per-item result records."""
    from engine.evaluation.sandbox import SandboxLimits
    from engine.evaluation.scorers import AnswerCheckError, check

    prompts = [render_prompt(tok, it["messages"], it.get("tools")) for it in items]
    outputs = generate_outputs(model, tok, items, prompts, s, cancel=cancel, on_batch=on_batch)
    pairs, owners = [], []
    for i, it in enumerate(items):
        if it.get("reference_response"):
            pairs.append((prompts[i], it["reference_response"]))
            owners.append((i, "nll", None))
        if it["scorer"] == "choice":
            letters = "ABCDEFGHIJ"
            for k, ch in enumerate(it["reference"]["choices"]):
                pairs.append((prompts[i], f"{letters[k]}. {ch}"))
                owners.append((i, "choice", k))
    lps = (
        continuation_logprobs(
            model, tok, pairs, batch_size=s["batch_size"], max_len=s.get("max_len", 1024), cancel=cancel
        )
        if pairs
        else []
    )
    nll: dict[int, float] = {}
    opts: dict[int, list] = {}
    for (i, what, k), (lp, n) in zip(owners, lps):
        if what == "nll" and n:
            nll[i] = -lp / n
        elif what == "choice":
            opts.setdefault(i, []).append((k, lp, n))
    limits = SandboxLimits(
        timeout_s=s.get("sandbox_timeout_s", 10.0), allow_unisolated=bool(s.get("sandbox_unisolated", False))
    )
    out = []
    for i, it in enumerate(items):
        ref = dict(it["reference"])
        details: dict = {}
        if it["scorer"] == "choice":
            o = sorted(opts.get(i, []))
            ref["logliks"] = [lp for _, lp, _ in o]
            ref["n_tokens"] = [n for _, _, n in o] if s.get("choice_normalize", True) else None
            details.update(
                logliks=ref["logliks"], n_tokens=[n for _, _, n in o], normalized=s.get("choice_normalize", True)
            )
        try:
            c = check(it["scorer"], outputs.get(i), ref, nll=nll.get(i), sandbox_limits=limits)
            details.update(c.details)
            correct, extracted, score = c.correct, c.extracted, c.score
        except AnswerCheckError as e:
            correct, extracted, score = None, None, None
            details["error"] = str(e)
        details["question"] = it.get("question", "")
        out.append(
            {
                "sample_id": it["sample_id"],
                "domain": it["domain"],
                "scorer": it["scorer"],
                "prompt": prompts[i],
                "eval_set": it.get("eval_set"),
                "output": outputs.get(i),
                "extracted": extracted,
                "correct": correct,
                "score": score,
                "nll": nll.get(i),
                "details": details,
            }
        )
    return out


def run_job(job: Path, *, cancel: CancelToken | None = None, loaded=None) -> dict:
    """Process every input item that no chunk holds yet; `loaded` = (model, tokenizer) to reuse one."""
    folder = JobFolder(job)
    spec = folder.read_spec()
    s = spec["settings"]
    lm: list = list(loaded) if loaded is not None else []

    def load() -> None:
        if not lm:
            lm.extend(load_model(spec, folder))
        if not getattr(lm[1], "chat_template", None):
            with open(folder.file("log.txt"), "a", encoding="utf-8") as f:
                f.write(FALLBACK_TEMPLATE_NOTE + "\n")

    def process(batch: list[dict], base: int) -> list[dict]:
        def on_batch(d, t):
            folder.write_progress(state=f"generating {d}/{t} of this chunk", done=base, total=len(items))

        return score_chunk(*lm, batch, s, cancel=cancel, on_batch=on_batch)

    items = folder.read_input()
    # unique chunk names: the app's ingest marker lists chunk names, and a lost chunk is redone under a new one
    out = run_chunks(folder, items, process, chunk=s.get("chunk", 16), cancel=cancel, load=load, unique=True)
    return {"evaluated": out["new"], "skipped": out["skipped"], "total": out["total"]}


def _work(jobs: list[Path], cancel: CancelToken) -> None:
    run_jobs(jobs, cancel=cancel)


def main(argv: list[str] | None = None) -> int:
    return worker_main("python -m engine.evaluation.worker JOBDIR [JOBDIR ...]", argv, _work, many=True)


if __name__ == "__main__":
    sys.exit(main())
