"""The RAISE environment on a real model: an episode is T steps of LoRA training from the same start (reset = the
same fresh adapter and a new optimizer), each step a batch the policy picks from a candidate subsample of the pool;
the reward of a step is the decrease of the validation NLL of the gold answers of a fixed subset of the target
eval pool, so an episode's rewards telescope to its final gain.

The training step is the run queue's (engine.training): the chat-template tokenisation with assistant-only labels,
AdamW with a linear decay over the T steps and no warmup, gradient clipping at 1.0, so a deploy run that replays
the picked batches trains the same way (ours: the paper gives no optimiser for the episodes).
"""

from __future__ import annotations

import time
from dataclasses import asdict

import numpy as np

from engine.raise_rl.policy import Transition, act, fuse_state, semantic_projection
from engine.raise_rl.settings import (  # noqa: F401 (re-exported)
    ACCURACY_SCORERS,
    GPU_SCALE,
    METRICS,
    RaiseError,
    RaiseSettings,
    as_dict,
    metric_sign,
    settings_for,
    settings_from,
)


class Env:
    """A base model with a LoRA adapter, the tokenised pool and validation items, and the per-sample use counters.

    pool: records {"sample_id", "messages", "system"?, "tools"?}; emb: (n, d) stored embeddings or None; clusters:
    (n,) cluster ids (None: one cluster); val: records of the target eval pool (messages with the gold answer as the
    assistant turn)."""

    def __init__(
        self, base_model: str, pool: list[dict], val: list[dict], s: RaiseSettings, *, emb=None, clusters=None
    ):
        import torch
        from peft import LoraConfig, get_peft_model

        from engine.core.models import pick_device
        from engine.training.data import Example, tokenize_conversation
        from engine.training.model import load_base
        from engine.training.settings import TrainingError

        self.s = s
        self.device = pick_device(s.device)
        torch.manual_seed(s.seed)
        model, tok, _ = load_base(base_model, self.device, "fp32")
        self.tok = tok
        self.pad = tok.pad_token_id if tok.pad_token_id is not None else 0

        def examples(recs: list[dict], what: str) -> tuple[list, list[int]]:
            out, keep = [], []
            for i, r in enumerate(recs):
                try:
                    ids, labels = tokenize_conversation(tok, r, s.max_len)
                except TrainingError as e:
                    raise RaiseError(f"{what} {r.get('sample_id', i)}: {e}") from e
                if sum(1 for x in labels[1:] if x != -100) == 0:
                    continue  # no answer token left (empty or cut by max_len)
                out.append(Example(ids, labels, "raise"))
                keep.append(i)
            return out, keep

        self.examples, keep = examples(pool, "sample")
        if len(self.examples) < s.candidates:
            raise RaiseError(
                f"the pool has {len(self.examples)} trainable samples (with an answer within max_len {s.max_len}); "
                f"candidates is {s.candidates}: lower it or widen the pool"
            )
        self.pool = [pool[i] for i in keep]
        self.sample_ids = [r.get("sample_id", i) for i, r in zip(keep, self.pool)]
        n = len(self.examples)
        self.answer_len = np.array([sum(1 for x in e.labels if x != -100) for e in self.examples], np.float32)
        self.prompt_len = np.array([len(e.ids) for e in self.examples], np.float32) - self.answer_len
        self.clusters = np.zeros(n, np.int64) if clusters is None else np.asarray(clusters, np.int64)[keep]
        if emb is None:
            self.emb = np.zeros((n, s.sem_dim), np.float32)
        else:
            e = np.asarray(emb, np.float32)[keep]
            proj = semantic_projection(e.shape[1], s.sem_dim, s.seed)
            e = e @ proj if proj is not None else e
            self.emb = np.zeros((n, s.sem_dim), np.float32)
            self.emb[:, : e.shape[1]] = e
        rng = np.random.default_rng(s.seed)
        self.sign = metric_sign(s.metric)
        self.val, self.acc_items = [], []
        if s.metric == "accuracy":
            # a fixed, seeded subset of the target items a scorer checks; their answers are generated greedily
            ok = [r for r in val if r.get("scorer") in ACCURACY_SCORERS]
            if not ok:
                raise RaiseError("metric accuracy: no target item has an answer a scorer checks (use the NLL metric)")
            pick = sorted(rng.choice(len(ok), size=min(s.val_items, len(ok)), replace=False).tolist())
            self.acc_items = [ok[i] for i in pick]
        else:
            vals, _ = examples(val, "eval item")
            if not vals:
                raise RaiseError("no validation item has a gold answer to score (the target eval pool is empty?)")
            pick = sorted(rng.choice(len(vals), size=min(s.val_items, len(vals)), replace=False).tolist())
            self.val = sorted((vals[i] for i in pick), key=lambda e: len(e.ids))  # batches of similar length
        cfg = LoraConfig(
            r=s.lora_r,
            lora_alpha=s.lora_alpha,
            lora_dropout=s.lora_dropout,
            target_modules=s.target_modules,
            task_type="CAUSAL_LM",
        )
        try:
            self.model = get_peft_model(model, cfg)
        except ValueError as e:
            raise RaiseError(f"LoRA target modules {s.target_modules!r} do not fit this model: {e}") from e
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.start = [p.detach().clone() for p in self.params]  # the fresh adapter every episode starts from
        self.val0: float | None = None
        self.timings: dict[str, float] = {}

    @property
    def n_features(self) -> int:
        return 2 + 4 + self.s.sem_dim + 3

    # -- pieces of a step ------------------------------------------------------------------------------------

    def _batch(self, idx) -> dict:
        from engine.training.data import collate_rows

        b = collate_rows(self.examples, [[int(i)] for i in idx], self.pad, packed=False)
        b.pop("n_tokens")
        return {k: v.to(self.device) for k, v in b.items()}

    def losses(self, idx, examples=None) -> np.ndarray:
        """Mean answer-token loss of each example (no gradient, eval mode)."""
        import torch

        from engine.training.data import collate_rows
        from engine.training.model import token_losses

        exs = self.examples if examples is None else examples
        idx = np.asarray(idx)
        out = np.zeros(len(idx), np.float32)
        order = np.argsort([len(exs[int(i)].ids) for i in idx], kind="stable")  # batches of similar length
        self.model.eval()
        with torch.no_grad():
            for k in range(0, len(idx), 16):
                at = order[k : k + 16]
                b = collate_rows(exs, [[int(i)] for i in idx[at]], self.pad, packed=False)
                b.pop("n_tokens")
                b = {key: v.to(self.device) for key, v in b.items()}
                tl, rows = token_losses(self.model, b, reduction="none")
                sums = torch.zeros(len(at)).index_add_(0, rows.cpu(), tl.cpu().float())
                cnt = torch.zeros(len(at)).index_add_(0, rows.cpu(), torch.ones_like(tl.cpu()))
                out[at] = (sums / cnt.clamp(min=1)).numpy()
        return out

    def validate(self) -> float:
        """The metric on the target subset: the token-mean NLL of its gold answers (lower is better), or with
        metric accuracy the share its scorers find correct in greedy answers (higher is better)."""
        if self.s.metric == "accuracy":
            return self.accuracy()
        return self.nll()

    def accuracy(self) -> float:
        """Greedy answers of the target subset (the evaluation's prompt rendering and generation), each checked by
        its item's scorer (engine.evaluation.scorers.check; code in the sandbox): the share correct."""
        import torch

        from engine.evaluation.generation import generate
        from engine.evaluation.scorer_types import AnswerCheckError
        from engine.evaluation.scorers import check
        from engine.evaluation.worker import ANSWER_COMPLETE, render_prompt

        self.model.eval()
        items = self.acc_items
        prompts = [render_prompt(self.tok, r["prompt"], r.get("prompt_tools")) for r in items]
        stops = [ANSWER_COMPLETE.get(r["scorer"]) for r in items]
        with torch.no_grad():
            outs = generate(self.model, self.tok, prompts, max_new_tokens=self.s.gen_tokens, batch_size=8, stops=stops)
        right = 0
        for r, out in zip(items, outs):
            try:
                right += bool(check(r["scorer"], out, r["reference"]).correct)
            except AnswerCheckError:  # an answer the scorer cannot check counts as not correct
                pass
        return right / len(self.acc_items)

    def nll(self) -> float:
        """The token-mean NLL of the gold answers of the validation subset."""
        import torch

        from engine.training.data import collate_rows
        from engine.training.model import token_losses

        self.model.eval()
        tot, n = 0.0, 0
        with torch.no_grad():
            for k in range(0, len(self.val), 16):
                rows = [[i] for i in range(k, min(k + 16, len(self.val)))]
                b = collate_rows(self.val, rows, self.pad, packed=False)
                b.pop("n_tokens")
                b = {key: v.to(self.device) for key, v in b.items()}
                tl, _ = token_losses(self.model, b, reduction="none")
                tot += float(tl.sum())
                n += int(tl.numel())
        return tot / max(n, 1)

    def reset(self, episode: int) -> None:
        """The same start every episode: the fresh adapter, a new optimizer and schedule, counters at zero."""
        import torch
        from transformers import get_linear_schedule_with_warmup

        torch.manual_seed(self.s.seed * 100003 + episode)  # dropout noise: reproducible per episode (resume)
        with torch.no_grad():
            for p, p0 in zip(self.params, self.start):
                p.copy_(p0)
        self.opt = torch.optim.AdamW(self.params, lr=self.s.lr, weight_decay=0.0)
        self.sched = get_linear_schedule_with_warmup(self.opt, 0, self.s.steps)
        n = len(self.examples)
        self.uses = np.zeros(n, np.int64)
        self.last_used = np.zeros(n, np.int64)
        if self.val0 is None:
            self.val0 = self.validate()
        self.val_prev = self.val0

    def train_step(self, idx) -> float:
        import torch

        from engine.training.model import token_losses

        self.model.train()
        loss = token_losses(self.model, self._batch(idx))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, 1.0)
        self.opt.step()
        self.sched.step()
        self.opt.zero_grad(set_to_none=True)
        return float(loss.detach())

    def _time(self, key: str, t0: float) -> float:
        now = time.perf_counter()
        self.timings[key] = self.timings.get(key, 0.0) + now - t0
        return now

    def episode(self, policy, episode: int, rng: np.random.Generator, *, greedy: bool = False, cancel=None):
        """Run one episode with `policy`: (transitions, per-step log). Each log row: step, sample ids picked,
        their clusters, train loss, validation metric, reward."""
        s = self.s
        self.reset(episode)
        trs: list[Transition] = []
        log: list[dict] = []
        n = len(self.examples)
        # the candidate subsamples depend on (seed, episode) only, not on the policy's draws: two policies of the
        # same episode (RAISE and the random baseline) see the same candidates at every step (ours)
        cand_rng = np.random.default_rng([s.seed, episode, 7])
        for t in range(1, s.steps + 1):
            if cancel is not None:
                cancel.check()
            t0 = time.perf_counter()
            cand = np.sort(cand_rng.choice(n, size=s.candidates, replace=False))
            loss = self.losses(cand)
            x = fuse_state(
                t,
                s.steps,
                prompt_len=self.prompt_len[cand],
                answer_len=self.answer_len[cand],
                loss=loss,
                emb=self.emb[cand],
                uses=self.uses[cand],
                last_used=self.last_used[cand],
            )
            cl = self.clusters[cand]
            t0 = self._time("scoring", t0)
            picks, lp, v, _scores = act(policy, x, cl, s.batch, rng, greedy=greedy)
            chosen = [int(cand[i]) for p in picks.values() for i in p]
            t0 = self._time("policy", t0)
            tr_loss = self.train_step(chosen)
            t0 = self._time("gradient", t0)
            val = self.validate()
            self._time("validation", t0)
            r = self.sign * (val - self.val_prev)  # NLL down or accuracy up = reward up
            self.val_prev = val
            self.uses[chosen] += 1
            self.last_used[chosen] = t
            trs.append(Transition(x, cl, picks, lp, v, r))
            log.append(
                {
                    "step": t,
                    "samples": [self.sample_ids[i] for i in chosen],
                    "clusters": [int(self.clusters[i]) for i in chosen],
                    "train_loss": tr_loss,
                    "val": val,
                    "reward": r,
                    "value": v,
                }
            )
        self.timings["steps"] = self.timings.get("steps", 0) + s.steps
        return trs, log

    def records_of(self, sample_ids) -> list[dict]:
        pos = {sid: i for i, sid in enumerate(self.sample_ids)}
        return [self.pool[pos[sid]] for sid in sample_ids]


def policy_settings_dict(s) -> dict:
    return asdict(s)
