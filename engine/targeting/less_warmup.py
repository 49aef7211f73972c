"""LESS end to end: the LoRA warm-up with our trainer, features per checkpoint, and the similarity summed over
checkpoints weighted by each epoch's mean learning rate (the reference's representation/less).

Warm-up (the reference: LoRA r=128, alpha=512, dropout 0.1, all linear layers (q,k,v,o for Llama), 4 epochs,
lr 2e-5, batch 128, linear schedule with 3% warm-up, a checkpoint per epoch): engine.training's trainer on a
random slice of the candidates (`fraction`, 5% by default: 10K of the reference's 197K), cut to a whole number
of optimizer steps so every epoch ends on a step. The trainer saves a checkpoint (adapter + optimizer state)
only before its last step, so the run is planned one step longer (that step trains on the next pass's first
batch and is not used; the schedule decays over the one more step).

Features per checkpoint (engine/targeting/less.py): per-example LoRA gradients of the loss on the assistant
tokens (the trainer's own tokenisation and chat template), Adam-preconditioned with that checkpoint's moments
for the candidates, plain for the query items, Rademacher-projected, L2-normalised; the weight of checkpoint e
is the mean learning rate of epoch e (the trainer's metrics.jsonl), normalised to sum 1.

The trainer comes in as `trainer` (the layers: targeting sits below engine/training, so it never imports it):
an object with engine.training's `train`, `checkpoints`, `tokenize_records`, `tokenize_conversation`,
`load_base`, `LoraSettings`, `TrainSettings` and `config_dict` (workbench.cli.target.trainer_kit() builds it).

Cached in the store's own folder under targeting/less-<hash of the warm-up>/: the warm-up run, and the
candidate features per checkpoint (per candidate set); a second selection with the same warm-up and candidates
computes only the query features.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from engine.core.jobs import content_hash
from engine.core.store import Store
from engine.targeting.less import PROJ_DIM, RademacherProjector, adam_moments, less_features, per_example_grads
from engine.targeting.similarity import TargetingError


@dataclass
class WarmupSettings:
    fraction: float = 0.05
    epochs: int = 4
    lr: float = 2e-5
    r: int = 128
    alpha: int = 512
    dropout: float = 0.1
    target_modules: str | list = "all-linear"
    batch_size: int = 8
    grad_accum: int = 16
    max_len: int = 2048
    proj_dim: int = PROJ_DIM
    seed: int = 0
    device: str = "auto"


def sample_records(store: Store, ids) -> list[dict]:
    """Training records (the trainer's data.jsonl form) of sample ids, in the order given."""
    ids = [int(i) for i in ids]
    rows = store.fetchall(
        "SELECT id, messages, system, tools, domain FROM samples WHERE id IN (SELECT unnest(?::BIGINT[]))", [ids]
    )
    by = {}
    for i, m, s, t, d in rows:
        by[int(i)] = {
            "kind": "sample",
            "sample_id": int(i),
            "domain": d,
            "messages": json.loads(m) if isinstance(m, str) else m,
            "system": s,
            "tools": (json.loads(t) if isinstance(t, str) else t) or None,
        }
    return [by[i] for i in ids]


def _tokenizer(base_model: str):
    from transformers import AutoTokenizer

    from engine.core.models import local_folder, resolve

    return AutoTokenizer.from_pretrained(local_folder(resolve(base_model)))


def warmup(records: list[dict], *, base_model: str, folder: Path, settings: WarmupSettings, trainer) -> dict:
    """Run (or reuse) the warm-up in `folder` on `records`; returns {"steps": [...], "checkpoints": [paths],
    "weights": [...], "n_examples": n}."""
    checkpoints, tokenize_records, train = trainer.checkpoints, trainer.tokenize_records, trainer.train
    LoraSettings, TrainSettings, config_dict = trainer.LoraSettings, trainer.TrainSettings, trainer.config_dict
    s = settings
    folder.mkdir(parents=True, exist_ok=True)
    done = folder / "warmup.json"
    if done.is_file():
        return json.loads(done.read_text())
    tok = _tokenizer(base_model)
    kept = [r for r in records if tokenize_records(tok, [r], s.max_len)[0]]
    eff = s.batch_size * s.grad_accum
    n = (len(kept) // eff) * eff
    if n == 0:
        raise TargetingError(
            f"the LESS warm-up needs at least one optimizer step of {eff} examples with assistant tokens; "
            f"the slice has {len(kept)} (a larger pool, --warmup-fraction, or a smaller batch)"
        )
    kept = kept[:n]
    spe = n // eff
    total = s.epochs * spe
    train_s = TrainSettings(
        epochs=s.epochs,
        max_steps=total + 1,
        lr=s.lr,
        batch_size=s.batch_size,
        grad_accum=s.grad_accum,
        max_len=s.max_len,
        warmup_ratio=0.03,
        weight_decay=0.0,
        seed=s.seed,
        device=s.device,
        eval_every=0,
        eval_per_domain=0,
        save_every=spe,
        keep_checkpoints=s.epochs + 1,
        grad_conflict_every=0,
    )
    lora = LoraSettings(r=s.r, alpha=s.alpha, dropout=s.dropout, target_modules=s.target_modules)
    cfg = config_dict(base_model=base_model, protocol="multi_task", order=None, lora=lora, train=train_s)
    (folder / "config.json").write_text(json.dumps(cfg))
    (folder / "data.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in kept))
    st = train(folder)
    if st.get("status") != "done":
        raise TargetingError(f"the LESS warm-up did not finish: {st.get('error') or st.get('status')}")
    want = [spe * (e + 1) for e in range(s.epochs)]
    have = dict(checkpoints(folder))
    missing = [w for w in want if w not in have]
    if missing:
        raise TargetingError(f"the LESS warm-up left no checkpoint at steps {missing}")
    out = {
        "steps": want,
        "checkpoints": [str(have[w]) for w in want],
        "weights": epoch_weights(folder / "metrics.jsonl", spe, s.epochs),
        "n_examples": n,
    }
    done.write_text(json.dumps(out))
    return out


def epoch_weights(metrics: Path, steps_per_epoch: int, epochs: int) -> list[float]:
    """Mean learning rate of each epoch (steps (e-1)*spe+1 .. e*spe of metrics.jsonl), normalised to sum 1."""
    lrs: dict[int, float] = {}
    for line in metrics.open(encoding="utf-8"):
        if line.strip():
            d = json.loads(line)
            if "lr" in d:
                lrs[int(d["step"])] = float(d["lr"])
    means = []
    for e in range(epochs):
        vals = [lrs[k] for k in range(e * steps_per_epoch + 1, (e + 1) * steps_per_epoch + 1) if k in lrs]
        if not vals:
            raise TargetingError(f"no learning rate logged for epoch {e + 1} of the warm-up")
        means.append(float(np.mean(vals)))
    tot = sum(means)
    return [m / tot for m in means]


def checkpoint_features(
    base_model: str,
    ckpt: str,
    records: list[dict],
    projector_dim: int,
    *,
    adam: bool,
    max_len: int,
    out: Path | None = None,
    batch_size: int = 8,
    chunk: int = 64,
    device: str = "auto",
    trainer=None,
    cancel=None,
) -> np.ndarray:
    """LESS features of `records` at one checkpoint: (n, proj_dim) float32, written to `out` (a .npy memmap)
    when given. `adam`: precondition with the checkpoint's optimizer moments (the candidate side)."""
    import torch
    from peft import PeftModel

    from engine.core.models import pick_device
    from engine.targeting.less import trainable

    tokenize_conversation, load_base = trainer.tokenize_conversation, trainer.load_base
    dev = pick_device(device)
    base, tok, _name = load_base(base_model, dev, "fp32")
    model = PeftModel.from_pretrained(base, ckpt, is_trainable=True).to(dev).eval()
    params = trainable(model)
    D = sum(p.numel() for p in params.values())
    proj = RademacherProjector(D, projector_dim, seed=0)
    moments = None
    if adam:
        st = torch.load(Path(ckpt) / "state.pt", map_location="cpu", weights_only=False)
        moments = adam_moments(st["optimizer"], params)
        if len(moments[0]) != D:
            raise TargetingError(f"checkpoint {ckpt}: optimizer state has {len(moments[0])} values for {D} parameters")
    n = len(records)
    F = (
        np.lib.format.open_memmap(out, mode="w+", dtype=np.float32, shape=(n, projector_dim))
        if out is not None
        else np.zeros((n, projector_dim), np.float32)
    )
    for a in range(0, n, chunk):
        if cancel is not None:
            cancel.check()
        ex = [tokenize_conversation(tok, r, max_len) for r in records[a : a + chunk]]
        G = per_example_grads(model, ex, batch_size=batch_size)
        F[a : a + len(ex)] = less_features(G, proj, moments)
    if out is not None:
        F.flush()
    return F


def less_similarity(
    store: Store,
    query_records: list[dict],
    cand_ids: np.ndarray,
    folder: Path,
    *,
    base_model: str,
    settings: WarmupSettings,
    trainer,
    want_features: bool = False,
    progress=None,
    cancel=None,
):
    """The LESS query x candidate similarity (float32 memmap in `folder`), the candidate features per
    checkpoint (memmaps) and their weights, and a log. The warm-up and the candidate features are cached
    in the store's folder."""
    from engine.core.paths import store_files

    rng = random.Random(settings.seed)
    n_warm = max(1, int(round(len(cand_ids) * settings.fraction)))
    warm_ids = sorted(rng.sample([int(i) for i in cand_ids], min(n_warm, len(cand_ids))))
    key = content_hash({"base": base_model, "ids": warm_ids, "settings": asdict(settings)})
    root = store_files(store) / "targeting" / f"less-{key}"
    info = warmup(
        sample_records(store, warm_ids),
        base_model=base_model,
        folder=root / "warmup",
        settings=settings,
        trainer=trainer,
    )
    cand_key = content_hash({"ids": [int(i) for i in cand_ids]})
    cand_records = None
    M, N = len(query_records), len(cand_ids)
    S = np.lib.format.open_memmap(folder / "sim.npy", mode="w+", dtype=np.float32, shape=(M, N))
    S[:] = 0
    feats = []
    for e, (ckpt, w) in enumerate(zip(info["checkpoints"], info["weights"])):
        path = root / f"cand-{cand_key}-ckpt{e}.npy"
        if path.is_file():
            X = np.load(path, mmap_mode="r")
        else:
            cand_records = cand_records or sample_records(store, cand_ids)
            tmp = path.with_suffix(".partial.npy")
            checkpoint_features(
                base_model,
                ckpt,
                cand_records,
                settings.proj_dim,
                adam=True,
                max_len=settings.max_len,
                out=tmp,
                device=settings.device,
                trainer=trainer,
                cancel=cancel,
            )
            tmp.replace(path)
            X = np.load(path, mmap_mode="r")
        Q = checkpoint_features(
            base_model,
            ckpt,
            query_records,
            settings.proj_dim,
            adam=False,
            max_len=settings.max_len,
            device=settings.device,
            trainer=trainer,
            cancel=cancel,
        )
        for a in range(0, N, 16384):
            S[:, a : a + 16384] += np.float32(w) * (Q @ np.asarray(X[a : a + 16384]).T)
        if want_features:
            feats.append(X)
    S.flush()
    log = {
        "warmup": str(root / "warmup"),
        "n_warmup": info["n_examples"],
        "weights": info["weights"],
        "steps": info["steps"],
    }
    return S, feats, info["weights"], log
