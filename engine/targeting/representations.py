"""Representations: vectors for the candidates (cached) and for the query items, whose cosine is the similarity.

- EMBED (the reference's representation/embed): a sentence-transformers model (default the offline
  all-MiniLM-L6-v2; the reference uses gtr-t5-base), L2-normalised. Query text = QUERY_PREFIX + " " + prompt +
  " " + label, as the reference writes it.
- RDS+ (representation/rds): the proxy LM's last hidden states, position-weighted mean pooling (token t of L
  weighs t / (1 + ... + L), SGPT), L2-normalised. Query tokens = the prompt's tokens (with the tokenizer's
  special tokens) followed by label + EOS (without), each cut at 2048, as the reference's construct_test_sample.
  Candidates are batched with right padding; the pads get no weight and, under the causal mask, do not change
  the real tokens' states, so a batch gives what one sample at a time gives (tests check it).

Candidates are represented by a text kind of engine/geometry/embeddings (default "conversation": every turn as
"role: content"; the reference formats turns with Tulu tags instead), and cached there: per (model name, text
kind, text hash) in Parquet parts of the store's own folder, incremental, shared with `workbench embed` for the
same sentence-transformers model. RDS+ vectors are stored under the model name "rds+<model>".
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from engine.targeting.queries import QuerySet
from engine.targeting.similarity import TargetingError

REPS = ("embed", "rds", "less")
QUERY_PREFIX = "Instruct: Given a sample, find the passages closest to that sample.\nQuery:"
MAX_TOKENS = 2048


def normalise(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=np.float32)
    n = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.where(n > 0, n, 1.0)


def embed_query_texts(queries: QuerySet) -> list[str]:
    """The reference's EMBED query text per item: prefix, prompt and label joined by spaces, stripped."""
    return [f"{QUERY_PREFIX} {p} {a}".strip() for p, a in zip(queries.prompts, queries.answers)]


# -- RDS+ -----------------------------------------------------------------------------------------------------


def weighted_mean_pool(hidden, mask):
    """Position-weighted mean of hidden (B, T, H) over each row's real tokens (mask (B, T), right padded):
    weights 1..L over the L real tokens, normalised to sum 1; then L2-normalised. torch tensors in, out."""
    import torch

    pos = torch.cumsum(mask, dim=1) * mask  # 1..L on real tokens, 0 on pads
    w = pos / pos.sum(dim=1, keepdim=True).clamp_min(1)
    emb = (hidden.float() * w.unsqueeze(-1).float()).sum(dim=1)
    return torch.nn.functional.normalize(emb, p=2, dim=1)


class RdsEncoder:
    """RDS+ vectors from a causal LM (`model`, `tok`), batched by length with right padding."""

    def __init__(self, model, tok, *, batch_size: int = 8, max_tokens: int = MAX_TOKENS):
        self.model, self.tok = model, tok
        self.batch_size, self.max_tokens = batch_size, max_tokens

    def candidate_ids(self, text: str) -> list[int]:
        eos = self.tok.eos_token or ""
        return self.tok(text + eos, truncation=True, max_length=self.max_tokens)["input_ids"]

    def query_ids(self, prompt: str, label: str) -> list[int]:
        eos = self.tok.eos_token or ""
        a = self.tok(prompt, truncation=True, max_length=self.max_tokens)["input_ids"]
        b = self.tok(label + eos, truncation=True, max_length=self.max_tokens, add_special_tokens=False)["input_ids"]
        return a + b

    def encode_ids(self, seqs: list[list[int]]) -> np.ndarray:
        import torch

        out = np.zeros((len(seqs), 0), dtype=np.float32)
        order = sorted(range(len(seqs)), key=lambda i: -len(seqs[i]))
        vecs: dict[int, np.ndarray] = {}
        dev = next(self.model.parameters()).device
        pad = self.tok.pad_token_id if self.tok.pad_token_id is not None else 0
        for b0 in range(0, len(order), self.batch_size):
            idx = order[b0 : b0 + self.batch_size]
            T = max(1, max(len(seqs[i]) for i in idx))
            ids = torch.full((len(idx), T), pad, dtype=torch.long)
            mask = torch.zeros((len(idx), T), dtype=torch.long)
            for r, i in enumerate(idx):
                s = seqs[i] or [pad]
                ids[r, : len(s)] = torch.tensor(s)
                mask[r, : len(s)] = 1
            with torch.no_grad():
                h = self.model(
                    input_ids=ids.to(dev), attention_mask=mask.to(dev), output_hidden_states=True
                ).hidden_states[-1]
                e = weighted_mean_pool(h, mask.to(dev)).cpu().numpy()
            for r, i in enumerate(idx):
                vecs[i] = e[r]
        if vecs:
            out = np.stack([vecs[i] for i in range(len(seqs))]).astype(np.float32)
        return out

    def __call__(self, texts: list[str]) -> np.ndarray:
        """Candidate texts -> vectors (the embeddings layer's encoder interface)."""
        return self.encode_ids([self.candidate_ids(t) for t in texts])

    def queries(self, queries: QuerySet) -> np.ndarray:
        return self.encode_ids([self.query_ids(p, a) for p, a in zip(queries.prompts, queries.answers)])


# -- the two representations behind one interface ----------------------------------------------------------------


class Representation:
    """`name`: the model name candidates are stored under; `encoder`: texts -> vectors (candidates);
    `queries(QuerySet)`: the query vectors (L2-normalised)."""

    name: str
    encoder: Callable[[list[str]], np.ndarray]

    def queries(self, queries: QuerySet) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError


class EmbedRep(Representation):
    def __init__(self, model: str | None = None, encoder=None, *, batch_size: int = 64):
        from engine.geometry.embeddings import load_encoder, model_name

        self.name = model_name(model)
        self.encoder = encoder or load_encoder(model, batch_size=batch_size)

    def queries(self, queries: QuerySet) -> np.ndarray:
        return normalise(self.encoder(embed_query_texts(queries)))


class RdsRep(Representation):
    def __init__(self, model: str | None = None, *, loaded=None, batch_size: int = 8, device: str | None = "auto"):
        """`loaded`: (model, tokenizer, name) already in memory (tests); else the proxy LM `model` is loaded
        (default SmolLM2-135M, engine.core.models)."""
        if loaded is not None:
            lm, tok, name = loaded
        else:
            from engine.core.models import load_causal_lm

            lm, tok, src = load_causal_lm(model, device=device)
            name = src.name
        self.name = f"rds+{name}"
        self.encoder = RdsEncoder(lm, tok, batch_size=batch_size)

    def queries(self, queries: QuerySet) -> np.ndarray:
        return normalise(self.encoder.queries(queries))


def representation(rep: str, model: str | None = None, *, encoder=None, loaded=None) -> Representation:
    """The representation `rep` ("embed" or "rds") with its model."""
    if rep == "embed":
        return EmbedRep(model, encoder)
    if rep == "rds":
        return RdsRep(model, loaded=loaded)
    if rep == "less":
        raise TargetingError("LESS has no text encoder: engine.targeting.less_warmup computes its similarity")
    raise TargetingError(f"unknown representation {rep!r}; use one of {', '.join(REPS)}")
