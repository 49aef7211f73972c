"""Generation of the evaluation worker: `generate` (greedy decoding in slots that a finished prompt leaves to the
next one, with the tokens of a batch-1 `model.generate` loop; other decodings in length-sorted batches), the end
tokens of a model, and the checks of when the slot path applies. Split out of engine/evaluation/worker.py."""

from __future__ import annotations

from engine.core.jobs import CancelToken


def generate(
    model,
    tok,
    prompts: list[str],
    *,
    max_new_tokens: int,
    batch_size: int,
    greedy: bool = True,
    temperature: float = 0.0,
    cancel: CancelToken | None = None,
    on_batch=None,
    stops: list | None = None,
) -> list[str]:
    """The decoded new text of each prompt. `on_batch(done, total)` is called as prompts finish.

    Greedy decoding runs in `batch_size` slots (`greedy_slots`): each prompt is prefilled on its own, joins
    the running batch, and leaves it at the token that ends it (an end token of `stop_token_ids`, `max_new_tokens`,
    or its `stops[i](text)` saying the scorer has all it reads), its slot taken at once by the next prompt; the
    tokens are those of a batch-1 `model.generate` loop. Sampling, models whose generation config changes
    greedy decoding (repetition penalty, ...) and caches other than transformers' plain dynamic one use
    `model.generate` in length-sorted batches with left padding."""
    eos = stop_token_ids(model, tok)
    if greedy and plain_greedy(model):
        out = greedy_slots(
            model,
            tok,
            prompts,
            max_new_tokens=max_new_tokens,
            slots=batch_size,
            eos=eos,
            cancel=cancel,
            on_done=on_batch,
            stops=stops,
        )
        if out is not None:
            return out
    return _batched_generate(
        model,
        tok,
        prompts,
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
        greedy=greedy,
        temperature=temperature,
        eos=eos,
        cancel=cancel,
        on_batch=on_batch,
        stops=stops,
    )


def stop_token_ids(model, tok) -> list[int]:
    """Token ids that end an answer: the tokenizer's eos and the model's generation-config eos (a chat model
    may end its turn with a token of its own, e.g. <|im_end|> or <|eot_id|>)."""
    ids: list[int] = []
    cfg = getattr(model, "generation_config", None)
    for v in (tok.eos_token_id, getattr(cfg, "eos_token_id", None)):
        for i in v if isinstance(v, (list, tuple)) else [v]:
            if isinstance(i, int) and i not in ids:
                ids.append(i)
    return ids


# generation-config fields that change greedy decoding in transformers' generate (a logits processor, a forced
# token, beams), with their neutral values; the slot decoder takes the plain argmax only
_GREEDY_NEUTRAL = {
    "repetition_penalty": (None, 1.0),
    "encoder_repetition_penalty": (None, 1.0),
    "no_repeat_ngram_size": (None, 0),
    "encoder_no_repeat_ngram_size": (None, 0),
    "min_length": (None, 0),
    "min_new_tokens": (None, 0),
    "bad_words_ids": (None,),
    "suppress_tokens": (None,),
    "begin_suppress_tokens": (None,),
    "forced_bos_token_id": (None,),
    "forced_eos_token_id": (None,),
    "sequence_bias": (None,),
    "exponential_decay_length_penalty": (None,),
    "watermarking_config": (None,),
    "constraints": (None,),
    "force_words_ids": (None,),
    "penalty_alpha": (None, 0, 0.0),
    "num_beams": (None, 1),
    "custom_generate": (None,),
}


def plain_greedy(model) -> bool:
    """True when greedy `model.generate` is the plain argmax of the logits for this model (nothing in its
    generation config adds a logits processor, a forced token or beams)."""
    if getattr(model.config, "is_encoder_decoder", False):
        return False
    cfg = getattr(model, "generation_config", None)
    return cfg is None or all(
        getattr(cfg, k, None) in ok or getattr(cfg, k, None) == [] for k, ok in _GREEDY_NEUTRAL.items()
    )


def _slot_layer_class():
    from transformers.cache_utils import DynamicLayer

    class SlotLayer(DynamicLayer):
        """One layer's keys and values in preallocated [slots, heads, capacity, dim] buffers: a decoding step
        writes its column in place (no copy of the whole cache per token, as DynamicLayer's concatenation);
        attention reads the first `rows` slots up to column `n`."""

        def __init__(self, k, v, slots: int, capacity: int):
            super().__init__()
            self.bk = k.new_zeros((slots, k.shape[1], capacity, k.shape[3]))
            self.bv = v.new_zeros((slots, v.shape[1], capacity, v.shape[3]))
            self.dtype, self.device, self.is_initialized = k.dtype, k.device, True
            self.rows, self.n = 0, 0
            self.keys, self.values = self.bk[:0, :, :0], self.bv[:0, :, :0]

        def lazy_initialization(self, key_states, value_states) -> None:
            pass

        def update(self, key_states, value_states, *args, **kwargs):
            q = key_states.shape[-2]
            self.bk[: self.rows, :, self.n : self.n + q] = key_states
            self.bv[: self.rows, :, self.n : self.n + q] = value_states
            self.n += q
            self.keys, self.values = self.bk[: self.rows, :, : self.n], self.bv[: self.rows, :, : self.n]
            return self.keys, self.values

        def get_seq_length(self) -> int:
            return self.n

        def get_mask_sizes(self, query_length: int) -> tuple[int, int]:
            return self.n + query_length, 0

    return SlotLayer


SLOT_SLACK = 64  # spare cache columns per slot: how many steps pass between two compactions at least


def greedy_slots(
    model,
    tok,
    prompts: list[str],
    *,
    max_new_tokens: int,
    slots: int,
    eos: list[int],
    cancel: CancelToken | None = None,
    on_done=None,
    stops: list | None = None,
) -> list[str] | None:
    """Greedy decoding with a fixed number of batch slots (continuous batching). Each prompt is prefilled alone
    (as a batch-1 loop does), its keys and values are copied right-aligned into a free slot of preallocated
    per-layer buffers, and every step decodes one token for all busy slots (explicit positions; columns a
    slot did not fill are masked). A row that ends hands its slot to the next prompt at once, so no step is
    spent on finished rows. None (before any decoding) for a model whose cache it cannot hold."""
    import torch
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    SlotLayer = _slot_layer_class()
    dev = next(model.parameters()).device
    ids = [tok(p, add_special_tokens=False)["input_ids"] for p in prompts]
    order = sorted(range(len(prompts)), key=lambda i: len(ids[i]))  # short prompts first, as before
    queue = list(reversed(order))  # pop() from the end
    slots = max(1, min(int(slots), len(prompts)))
    eos_set = set(eos)
    longest = max((len(x) for x in ids), default=1)
    capacity = longest + max_new_tokens + SLOT_SLACK  # a compaction makes room when the columns run out
    out_tokens: dict[int, list[int]] = {}
    cache = None  # DynamicCache holding SlotLayers
    layers: list = []
    att = torch.zeros((slots, capacity), dtype=torch.long, device=dev)
    rows: list[dict] = []  # busy slots in order: {"i": prompt index, "gen": tokens, "pos": next position}
    col = longest  # the column the next decoding step writes

    def finished(r) -> bool:
        t = r["gen"]
        if t and t[-1] in eos_set:
            return True
        if len(t) >= max_new_tokens:
            return True
        stop = stops[r["i"]] if stops is not None else None
        return bool(stop is not None and stop(tok.decode(t, skip_special_tokens=True)))

    def shift(delta: int) -> None:  # move every busy slot's columns by delta (compaction: delta < 0)
        nonlocal col
        lo, hi = (max(0, -delta), col) if delta < 0 else (0, col)
        b = len(rows)
        for layer in layers:
            for buf in (layer.bk, layer.bv):
                buf[:b, :, lo + delta : hi + delta] = buf[:b, :, lo:hi].clone()
        a = att[:b, lo:hi].clone()
        att[:b, :] = 0
        att[:b, lo + delta : hi + delta] = a
        col += delta
        for layer in layers:
            layer.n = col

    def prefill(i: int):
        nonlocal cache, layers
        x = torch.tensor([ids[i]], dtype=torch.long, device=dev)
        pc = DynamicCache(config=model.config)
        with torch.no_grad():
            o = model(
                input_ids=x, attention_mask=torch.ones_like(x), past_key_values=pc, use_cache=True, logits_to_keep=1
            )
        pc = o.past_key_values
        if cache is None:
            if not pc.layers or any(type(layer) is not DynamicLayer or layer.keys is None for layer in pc.layers):
                return None  # not transformers' plain dynamic cache (sliding windows, ...): model.generate
            layers = [SlotLayer(layer.keys, layer.values, slots, capacity) for layer in pc.layers]
            for layer in layers:
                layer.n = col
            cache = DynamicCache()
            cache.layers = layers
        return pc, int(o.logits[0, -1].argmax())

    def join(i: int) -> bool:
        got = prefill(i)
        if got is None:
            return False
        pc, first = got
        n = len(ids[i])
        if n > col:
            shift(n - col)
        s = len(rows)
        for layer, src in zip(layers, pc.layers):
            layer.bk[s, :, col - n : col] = src.keys[0]
            layer.bv[s, :, col - n : col] = src.values[0]
        att[s] = 0
        att[s, col - n : col] = 1
        rows.append({"i": i, "gen": [first], "pos": n})
        return True

    def leave(k: int) -> None:  # slot k's row is done: the last busy slot moves into it
        r = rows[k]
        out_tokens[r["i"]] = r["gen"]
        last = len(rows) - 1
        if k != last:
            for layer in layers:
                layer.bk[k, :, :col] = layer.bk[last, :, :col]
                layer.bv[k, :, :col] = layer.bv[last, :, :col]
            att[k, :col] = att[last, :col]
            rows[k] = rows[last]
        rows.pop()
        if on_done is not None:
            on_done(len(out_tokens), len(prompts))

    def check_cancel() -> None:
        if cancel is not None and cancel.cancelled:
            cancel.check()

    while queue or rows:
        check_cancel()
        while queue and len(rows) < slots:  # fill free slots
            if not join(queue.pop()):
                return None  # only the first prefill can say so: nothing was decoded yet
            if finished(rows[-1]):
                leave(len(rows) - 1)
        if not rows:
            continue
        if col + 1 > capacity:  # drop the columns no busy slot uses
            first_used = int(att[: len(rows), :col].argmax(dim=1).min())
            shift(-first_used)
        b = len(rows)
        for layer in layers:
            layer.rows = b
        att[:b, col] = 1
        x = torch.tensor([[r["gen"][-1]] for r in rows], dtype=torch.long, device=dev)
        pos = torch.tensor([[r["pos"]] for r in rows], dtype=torch.long, device=dev)
        with torch.no_grad():
            o = model(
                input_ids=x, position_ids=pos, attention_mask=att[:b, : col + 1], past_key_values=cache, use_cache=True
            )
        col += 1
        nxt = o.logits[:, -1].argmax(dim=-1).tolist()
        for r, t in zip(rows, nxt):
            r["gen"].append(int(t))
            r["pos"] += 1
        for k in range(len(rows) - 1, -1, -1):  # from the end: leave() moves the last slot into k
            if finished(rows[k]):
                leave(k)
    check_cancel()
    return [tok.decode(out_tokens[i], skip_special_tokens=True) for i in range(len(prompts))]


def _batched_generate(
    model,
    tok,
    prompts: list[str],
    *,
    max_new_tokens: int,
    batch_size: int,
    greedy: bool,
    temperature: float,
    eos: list[int],
    cancel: CancelToken | None,
    on_batch,
    stops: list | None = None,
) -> list[str]:
    """`model.generate` in length-sorted batches with left padding; `on_batch(done, total)` after each batch;
    a row whose `stops[i](text)` is true ends there (its own stopping criterion)."""
    import torch

    tok.padding_side = "left"
    dev = next(model.parameters()).device
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))  # similar lengths together
    res: dict[int, str] = {}
    for k in range(0, len(order), batch_size):
        if cancel is not None:
            cancel.check()
        idx = order[k : k + batch_size]
        enc = tok([prompts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=False)
        enc = {kk: v.to(dev) for kk, v in enc.items()}
        kw = dict(max_new_tokens=max_new_tokens, pad_token_id=tok.pad_token_id, eos_token_id=eos or None)
        row_stops = [stops[i] if stops is not None else None for i in idx]
        if cancel is not None or any(row_stops):
            from transformers import StoppingCriteria, StoppingCriteriaList

            class _Stop(StoppingCriteria):  # a cancel stops generation between tokens, not after the batch
                def __init__(self, start: int, row_stops: list):
                    self.start, self.row_stops = start, row_stops

                def __call__(self, input_ids, scores, **_kw):
                    done = [
                        bool(f is not None and f(tok.decode(row[self.start :], skip_special_tokens=True)))
                        for f, row in zip(self.row_stops, input_ids)
                    ]
                    if cancel is not None and cancel.cancelled:
                        done = [True] * len(done)
                    return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

            kw["stopping_criteria"] = StoppingCriteriaList([_Stop(enc["input_ids"].shape[1], row_stops)])
        if greedy:
            kw.update(do_sample=False)
        else:
            kw.update(do_sample=True, temperature=max(temperature, 1e-5))
        with torch.no_grad():
            gen = model.generate(**enc, **kw)
        if cancel is not None:
            cancel.check()
        new = gen[:, enc["input_ids"].shape[1] :]
        for i, row in zip(idx, new):
            res[i] = tok.decode(row, skip_special_tokens=True)
        if on_batch is not None:
            on_batch(min(k + batch_size, len(order)), len(order))
    return [res[i] for i in range(len(prompts))]
