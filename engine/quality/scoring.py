"""Model-based scoring jobs (IFD, Cherry IFD, perplexity), resumable and cancellable.

A job is a folder:
    spec.json          what to compute (model spec, variants, IFDParams, chunk size)
    input.jsonl        the samples to score (sample_id, prompt, response, instruction, input)
    chunks/000001.jsonl ...  results, one file per finished chunk, written atomically (tmp + rename)
    progress.json      done/total/rate/eta, state
    log.txt
The worker (`python -m engine.quality.worker JOBDIR`, or `run_job` in-process for the CLI) skips every
sample already present in a chunk file, so a killed job resumes where it stopped and nothing finished is
recomputed. The app process (the one DuckDB writer) ingests chunk files with `ingest_job`; ingesting is
idempotent (scores are replaced per sample and metric key).
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

from engine.core.jobs import CancelToken, JobFolder, JobOwnerError, run_chunks, spawn
from engine.core.paths import is_own, store_files, store_id
from engine.core.store import Store
from engine.data.formats import INPUT_SPLIT, split_user
from engine.data.scope import ScopeLike, as_scope, scope_params, scope_sql
from engine.quality.ifd import CHERRY_METRICS, SUPERFILTERING_METRICS, IFDParams, Item, superfiltering_texts
from engine.quality.scores import MetricDef, register_metric, scored_ids, write_scores

WORKER = "engine.quality.worker"
SCORER_VERSION = "1"
# 2: Cherry's Alpaca template gets the instruction and the input separately (meta.input_split).
CHERRY_VERSION = "2"

DEFINITIONS = {
    "ifd": "Superfiltering IFD = PPL(response|prompt) / PPL(response); no chat template; prompt = user "
    "turn(s) + '\\n'; response tokens only; truncation as tianyi-lab/Superfiltering",
    "ppl_cond": "PPL(response | prompt) = exp(mean CE over response tokens given the prompt)",
    "ppl_direct": "PPL(response) = exp(mean CE over response tokens, response alone; first token unscored)",
    "loss_cond": "mean token cross-entropy of the response given the prompt (nats)",
    "loss_direct": "mean token cross-entropy of the response alone (nats)",
    "prompt_tokens": "tokens in the prompt (truncated at max_length), model tokenizer",
    "resp_tokens": "tokens in the response (truncated at max_length - prompt_tokens + 1), model tokenizer",
    "cherry_ifd": "Cherry IFD = mean loss(response | Alpaca-template prompt) / mean loss('### Response:' + "
    "response), as tianyi-lab/Cherry_LLM data_by_IFD.py",
}


def metric_defs(model_name: str, params: IFDParams, variants: tuple[str, ...]) -> list[MetricDef]:
    """The MetricDefs a scoring run writes (params hash covers the knobs that change values)."""
    out = []
    p = params.as_dict()
    if "superfiltering" in variants:
        sp = {"max_length": p["max_length"]}
        out += [MetricDef(m, model_name, sp, DEFINITIONS[m], SCORER_VERSION) for m in SUPERFILTERING_METRICS]
    if "cherry" in variants:
        cp = {"max_length": p["cherry_max_length"], "template": p["cherry_template"]}
        out += [MetricDef(m, model_name, cp, DEFINITIONS[m], CHERRY_VERSION) for m in CHERRY_METRICS]
    return out


def item_from_row(sample_id: int, messages: str | list, meta: str | dict | None) -> Item:
    """An Item from a stored sample; Alpaca's separate instruction/input come from meta when kept.

    meta["input_split"] (written by the import, see formats.flat_row) splits the last user turn into
    instruction and input; earlier turns (history), if any, stay in front of the instruction as in the
    fallback. meta["source_fields"] = {"instruction", "input"} is accepted too."""
    msgs = json.loads(messages) if isinstance(messages, str) else messages
    meta_d = json.loads(meta) if isinstance(meta, str) and meta else (meta or {})
    if not isinstance(meta_d, dict):
        meta_d = {}
    prompt, resp = superfiltering_texts(msgs)
    src = meta_d.get("source_fields")
    if isinstance(src, dict) and "instruction" in src:
        return Item(int(sample_id), prompt, resp, str(src.get("instruction") or ""), str(src.get("input") or ""))
    body = prompt[:-1] if prompt.endswith("\n") else prompt
    instruction, inp = body, ""
    if INPUT_SPLIT in meta_d and msgs:
        # the split turn is the flat record's user turn: right before its reply (the last message), or the
        # last message of a prompt-only sample; either way the last turn of the prompt
        roles = [m.get("role") for m in msgs]
        user = None
        if roles[-1] == "assistant" and len(msgs) >= 2 and roles[-2] == "user":
            user = msgs[-2].get("content")
        elif roles[-1] == "user" and "assistant" not in roles:
            user = msgs[-1].get("content")
        parts = split_user(user, meta_d[INPUT_SPLIT]) if isinstance(user, str) else None
        if parts is not None and body.endswith(user):
            instruction, inp = body[: len(body) - len(user)] + parts[0], parts[1]
    return Item(int(sample_id), prompt, resp, instruction, inp)


@dataclass
class JobSpec:
    model: str | None
    variants: list[str]
    params: dict
    chunk: int = 64
    device: str = "auto"
    dtype: str | None = None  # None: fp32 on CPU, bf16 on CUDA (engine.core.models.pick_dtype); "bf16" / "fp32"
    threads: int | None = None  # torch CPU threads; None: torch's default (every core)


def create_job(
    store: Store,
    job_dir: Path,
    *,
    model: str | None = None,
    pool_ids=None,
    variants=("superfiltering",),
    params: IFDParams = IFDParams(),
    chunk: int = 64,
    device: str = "auto",
    dtype: str | None = None,
    threads: int | None = None,
    include_excluded: bool = False,
    model_name: str | None = None,
    scope: ScopeLike = None,
) -> int:
    """Write spec.json and input.jsonl of the samples of `scope` not yet scored; returns how many need scoring.
    `scope` (engine.data.scope: the Browse filter; None: every training sample) leaves excluded samples and eval
    pools out unless asked; `pool_ids` narrows it to pools, `include_excluded` brings excluded samples in. The
    folder must be this store's (`JobFolder.claim`: chunks of another store's job are never resumed)."""
    from engine.core.models import resolve

    name = model_name or resolve(model).name
    defs = metric_defs(name, params, tuple(variants))
    done = None
    for d in defs:  # a sample counts as done when every metric of the run has a row
        ids = scored_ids(store, d)
        done = ids if done is None else done & ids
    done = done or set()
    sc = as_scope(scope, pool_ids=pool_ids, include_excluded=True if include_excluded else None)
    where, qp = scope_sql(store, sc)  # a bad filter fails before the folder is touched
    job = JobFolder(job_dir).claim(store)
    spec = JobSpec(model, list(variants), asdict(params), chunk, device, dtype, threads)
    job.write_spec(asdict(spec) | {"model_name": name, "store": store_id(store), "scope": scope_params(sc)})
    c = store.cursor()
    try:
        rows = c.execute(f"SELECT s.id, s.messages, s.meta FROM samples s WHERE {where} ORDER BY s.id", qp).fetchall()
    finally:
        c.close()
    return job.write_input(asdict(item_from_row(sid, msgs, meta)) for sid, msgs, meta in rows if sid not in done)


def compute_line(model) -> str:
    """How a loaded scorer computes, for the job's log: device, dtype, torch threads, and on a CPU its bf16 units
    (a bf16 scorer on a CPU without them is emulated and runs several times slower than fp32)."""
    import torch

    from engine.core.hardware import bf16_note, cpu_info

    p = next(model.parameters())
    dt = str(p.dtype).removeprefix("torch.")
    line = f"computing on {p.device.type} in {dt}, {torch.get_num_threads()} torch threads"
    if p.device.type == "cpu":
        line += f"; {cpu_info().describe()}"
        if p.dtype == torch.bfloat16 and bf16_note("cpu"):
            line += f"; warning: {bf16_note('cpu')}"
    return line


def read_progress(job_dir: Path) -> dict:
    """The worker's last progress report ({} before the first)."""
    return JobFolder(job_dir).read_progress()


class ChunkScorer:
    """Scores one chunk of a job's input items with the job's model, loaded once (at construction): what each
    actor of a Ray job runs (engine.core.ray_jobs). The same score_items call as the local loop's."""

    def __init__(self, spec: dict):
        from engine.core.models import load_causal_lm

        self.spec = spec
        self.params = IFDParams(**spec["params"])
        self.lm = load_causal_lm(spec["model"], device=spec.get("device", "auto"), dtype=spec.get("dtype"))[:2]

    def __call__(self, batch: list[dict]) -> list[dict]:
        from engine.quality.ifd import score_items

        res = score_items(*self.lm, [Item(**it) for it in batch], self.params, variants=tuple(self.spec["variants"]))
        return [{"sample_id": r.sample_id, "values": r.values, "reasons": r.reasons} for r in res]


def run_job(
    job_dir: Path, *, progress=None, cancel: CancelToken | None = None, loaded=None, on: str = "local", ray=None
) -> dict:
    """Score every input item that no chunk file holds yet, one chunk file per `chunk` items.

    `loaded` = (model, tokenizer) to reuse an already loaded model (tests, benchmarks). `on="ray"`: the chunks
    run on a Ray actor pool (engine.core.ray_jobs; `ray` a RaySetup), written into this folder the same way.
    """
    from engine.quality.ifd import score_items

    job = JobFolder(job_dir)
    spec = job.read_spec()
    params = IFDParams(**spec["params"])
    items = job.read_input()
    if on == "ray":
        import functools

        from engine.core.ray_jobs import run_chunks_on_ray

        out = run_chunks_on_ray(
            job,
            items,
            functools.partial(ChunkScorer, spec),
            chunk=spec["chunk"],
            setup=ray,
            cancel=cancel,
            progress=progress,
            **_CHUNK_LINES,
        )
        return _scored(out)
    lm: list = list(loaded) if loaded is not None else []

    def load() -> None:
        if spec.get("threads"):
            import torch

            torch.set_num_threads(int(spec["threads"]))
        if not lm:
            from engine.core.models import load_causal_lm

            job.update_progress(phase=f"loading the model {spec['model']}")
            model, tok, _src = load_causal_lm(
                spec["model"],
                device=spec.get("device", "auto"),
                dtype=spec.get("dtype"),
                progress=lambda text: job.update_progress(phase=text),  # converting a GGUF model (once)
            )
            lm.extend((model, tok))
            job.log(compute_line(model))

    def process(batch: list[dict], done_before: int) -> list[dict]:
        def within(f: float) -> None:  # progress inside a chunk: a chunk can take minutes on a CPU
            job.update_progress(done=done_before + int(f * len(batch)), phase="scoring")

        job.update_progress(phase="tokenising and scoring a chunk" if not done_before else "scoring")
        res = score_items(
            *lm, [Item(**it) for it in batch], params, variants=tuple(spec["variants"]), cancel=cancel, progress=within
        )
        return [{"sample_id": r.sample_id, "values": r.values, "reasons": r.reasons} for r in res]

    out = run_chunks(
        job,
        items,
        process,
        chunk=spec["chunk"],
        cancel=cancel,
        load=load,
        progress=progress,
        **_CHUNK_LINES,
    )
    return _scored(out)


# the chunk loop's unit and log lines, the same here and on Ray
_CHUNK_LINES = {
    "unit": "samples",
    "start_line": "start: {total} items, {done} already scored, {todo} to do",
    "done_line": "done: scored {new} new items at {rate:.2f}/s",
}


def _scored(out: dict) -> dict:
    return {"scored": out["new"], "skipped": out["skipped"], "total": out["total"], "rate": out["rate"]}


def ingest_job(store: Store, job_dir: Path) -> int:
    """Write every finished chunk of a job into the scores table (idempotent); returns samples ingested.
    Only a job of this store is ingested: one of another store is JobOwnerError, or, inside this store's own
    folder (a store moved with its folder), left for `create_job` to start afresh (0)."""
    job_dir = Path(job_dir)
    if not JobFolder(job_dir).belongs_to(store):
        if is_own(store, job_dir):
            return 0
        raise JobOwnerError(f"job folder {job_dir} does not belong to store {store_id(store)}; not ingested")
    spec = JobFolder(job_dir).read_spec()
    params = IFDParams(**spec["params"])
    defs = metric_defs(spec["model_name"], params, tuple(spec["variants"]))
    job = JobFolder(job_dir)
    n = 0
    for f, recs in job.new_chunks():
        con = store.cursor()
        con.execute("BEGIN TRANSACTION")
        try:
            for d in defs:
                register_metric(store, d, con=con)
                rows = [
                    (r["sample_id"], r["values"].get(d.metric), r["reasons"].get(d.metric))
                    for r in recs
                    if d.metric in r["values"]
                ]
                write_scores(store, d, rows, con=con)
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        finally:
            con.close()
        job.mark_ingested(f)
        n += len(recs)
    return n


def _job_key(name: str, variants, sc) -> str:
    """A job folder's name for a model, its variants and a scope: the scope's pools, and a short hash of the
    rest of the scope when it narrows more than pools (a folder holds results by sample, so two scopes could
    share one; apart, two CLI runs of different scopes never rewrite each other's input)."""
    import hashlib
    import json

    pools = sc.filter.pool_ids if sc.filter is not None else None
    key = "-".join([name.replace("/", "_"), *variants, "pools" + "_".join(map(str, pools or ["all"]))])
    rest = scope_params(sc)
    parts = {k: v for k, v in (rest.pop("filter") or {}).items() if k not in ("pool_ids", "include_excluded") and v}
    if parts or rest["include_excluded"] or rest["include_eval"]:
        key += "-" + hashlib.sha1(json.dumps([parts, rest], sort_keys=True).encode()).hexdigest()[:8]
    return key


def start_worker(job_dir: Path) -> subprocess.Popen:
    """Run the job in a child process (torch stays out of the app process)."""
    return spawn(WORKER, job_dir)


def jobs_root(store: Store) -> Path:
    """Folder for job folders: `jobs/` in the store's own files folder (engine.core.paths.store_files)."""
    return store_files(store) / "jobs"


def score_in_process(
    store: Store,
    *,
    model: str | None = None,
    pool_ids=None,
    variants=("superfiltering",),
    params: IFDParams = IFDParams(),
    chunk: int = 64,
    device: str = "auto",
    dtype: str | None = None,
    threads: int | None = None,
    job_dir: Path | None = None,
    progress=None,
    cancel=None,
    loaded=None,
    model_name: str | None = None,
    scope: ScopeLike = None,
    on: str = "local",
    ray=None,
) -> dict:
    """CLI path: create (or reuse) a job folder, run it here, ingest its chunks as they finish. `scope` as in
    create_job (None: every training sample). `on="ray"`: the chunks run on Ray (run_job); the store is still
    written here only."""
    from engine.core.models import resolve

    name = model_name or resolve(model).name
    sc = as_scope(scope, pool_ids=pool_ids)
    if job_dir is None:
        job_dir = jobs_root(store) / f"score-{_job_key(name, variants, sc)}"
    pending = create_job(
        store,
        job_dir,
        model=model,
        scope=sc,
        variants=variants,
        params=params,
        chunk=chunk,
        device=device,
        dtype=dtype,
        threads=threads,
        model_name=name,
    )
    if pending == 0:
        return {"scored": 0, "skipped": 0, "total": 0, "rate": 0.0, "job_dir": str(job_dir)}

    def prog(p):
        ingest_job(store, job_dir)
        if progress:
            progress(p)

    out = run_job(job_dir, progress=prog, cancel=cancel, loaded=loaded, on=on, ray=ray)
    ingest_job(store, job_dir)
    out["job_dir"] = str(job_dir)
    return out
