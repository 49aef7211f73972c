"""Training records of a saved version, and its export as JSONL/Parquet (one file per stage)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from engine.mixtures.recipe import MixtureError
from engine.mixtures.versioning import _items, get_mixture

if TYPE_CHECKING:
    from engine.core.store import Store


def _sample_texts(con, ids: list[int]) -> dict[int, tuple]:
    if not ids:
        return {}
    rows = con.execute(
        "SELECT id, messages, system, tools, domain, json_extract(meta, '$.input_split') FROM samples "
        "WHERE id IN (SELECT unnest(?::BIGINT[]))",
        [ids],
    ).fetchall()
    return {
        r[0]: (json.loads(r[1]), r[2], json.loads(r[3]) if r[3] else None, r[4], json.loads(r[5]) if r[5] else None)
        for r in rows
    }


def training_records(store: Store, mixture_id: int, *, chunk: int = 2000) -> Iterator[dict]:
    """One dict per item of mixture version `mixture_id` in (stage, position) order: samples as
    {kind, stage, domain, sample_id, messages, system, tools}; interpolation pairs as {kind: "mixup", stage,
    domain, set_id, pair_index, lam, a: {...}, b: {...}} (docs/mixtures.md)."""
    get_mixture(store, int(mixture_id))  # clear error for an unknown id
    its = _items(store, int(mixture_id))
    for k in range(0, len(its), chunk):
        part = its[k : k + chunk]
        con = store.cursor()
        try:
            pairs: dict[tuple, tuple] = {}
            mix = sorted({(i.set_id, i.pair_index) for i in part if i.kind == "mixup"})
            for sid in sorted({p[0] for p in mix}):
                for pi, a, b, lam in con.execute(
                    "SELECT pair_index, sample_a, sample_b, lam FROM interpolation_pairs WHERE set_id = ? "
                    "AND pair_index IN (SELECT unnest(?::INTEGER[]))",
                    [sid, [p[1] for p in mix if p[0] == sid]],
                ).fetchall():
                    pairs[(sid, pi)] = (a, b, lam)
            ids = {i.sample_id for i in part if i.kind == "sample"} | {x for p in pairs.values() for x in p[:2]}
            texts = _sample_texts(con, sorted(ids))
        finally:
            con.close()

        def side(sid: int, texts=texts) -> dict:
            m, s, t, d, _split = texts[sid]
            return {"sample_id": int(sid), "domain": d, "messages": m, "system": s, "tools": t}

        for i in part:
            if i.kind == "sample":
                if i.sample_id not in texts:
                    raise MixtureError(f"mixture item {i.stage}/{i.position}: sample {i.sample_id} no longer exists")
                m, s, t, _d, split = texts[i.sample_id]
                yield {
                    "kind": "sample",
                    "stage": i.stage,
                    "domain": i.domain,
                    "sample_id": int(i.sample_id),
                    "messages": m,
                    "system": s,
                    "tools": t,
                    "input_split": split,
                }
            else:
                p = pairs.get((i.set_id, i.pair_index))
                if p is None or p[0] not in texts or p[1] not in texts:
                    raise MixtureError(
                        f"mixture item {i.stage}/{i.position}: pair {i.pair_index} of interpolation "
                        f"set {i.set_id} no longer exists"
                    )
                yield {
                    "kind": "mixup",
                    "stage": i.stage,
                    "domain": i.domain,
                    "set_id": int(i.set_id),
                    "pair_index": int(i.pair_index),
                    "lam": float(p[2]),
                    "a": side(p[0]),
                    "b": side(p[1]),
                }


# -- export ---------------------------------------------------------------------------------------------


@dataclass
class MixtureExport:
    """What export_mixture wrote: one file per stage (one file for a single-stage mixture)."""

    paths: list[str]
    n: int
    n_per_file: list[int]
    n_skipped_mixup: int = 0
    dataset_info_path: str | None = None
    dataset_names: list[str] = field(default_factory=list)


def _stage_path(path: Path, si: int, name: str, n_stages: int) -> Path:
    if n_stages == 1:
        return path
    stem, _, suffix = path.name.partition(".")
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)
    return path.with_name(f"{stem}.stage{si + 1}-{safe}." + (suffix or "jsonl"))


def export_mixture(
    store: Store,
    ref: str | int,
    path: str | Path,
    *,
    style: str = "messages",
    file_format: str | None = None,
    dataset_info: str | Path | None = None,
    version: int | None = None,
    dataset_name: str | None = None,
    skip_mixup: bool = False,
    overwrite: bool = False,
) -> MixtureExport:
    """Write a saved mixture version as JSONL/Parquet in messages, alpaca or sharegpt style, one record per
    item in training order (repeats included). A multi-stage mixture writes one file per stage
    (`NAME.stage1-<stage>.jsonl`, ...). With `dataset_info`, one LLaMA-Factory entry per file is merged
    into that dataset_info.json (an existing entry of the same name needs overwrite=True).
    Interpolation (mixup) items have no text form: they are refused unless skip_mixup=True (then left out
    and counted); `workbench interpolate export-pairs` exports the pairs themselves."""
    from engine.data.export import (
        STYLES,
        ExportError,
        convert_record,
        dataset_info_with,
        read_dataset_info,
        record_writer,
    )

    if style not in STYLES:
        raise MixtureError(f"unknown style {style!r}; choose one of {', '.join(STYLES)}")
    mv = get_mixture(store, ref, version)
    out = Path(path)
    fmt = file_format or ("parquet" if out.suffix.lower() == ".parquet" else "jsonl")
    if fmt not in ("jsonl", "parquet"):
        raise MixtureError(f"unknown file format {fmt!r} (jsonl or parquet)")
    n_mix = sum(v["mixup"] for v in mv.per_domain.values())
    if n_mix and not skip_mixup:
        raise MixtureError(
            f"{mv.label} has {n_mix:,} interpolation (mixup) items, which have no text form to "
            "export; pass skip_mixup (CLI: --skip-mixup) to leave them out, and use `workbench "
            "interpolate export-pairs` to export the pairs themselves"
        )
    stage_names = [s.name for s in mv.recipe.stages] if mv.recipe.stages else ["all"]
    info_path: Path | None = None
    info: dict = {}
    base = dataset_name or "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in mv.name) + f"_v{mv.version}"
    names = [base] if len(stage_names) == 1 else [f"{base}_stage{i + 1}" for i in range(len(stage_names))]
    if dataset_info:
        try:  # a path not ending in .json is a folder (it may not exist yet)
            info_path, info = read_dataset_info(dataset_info, folder_unless_json=True)
        except ExportError as e:
            raise MixtureError(str(e)) from None
        clash = [n for n in names if n in info]
        if clash and not overwrite:
            raise MixtureError(
                f"{info_path.name} already has entr{'y' if len(clash) == 1 else 'ies'} "
                f"{', '.join(clash)}; pass overwrite (CLI: --overwrite) or another dataset name (--dataset-name)"
            )
    per_stage: list[list[dict]] = [[] for _ in stage_names]
    skipped = 0
    for rec in training_records(store, mv.id):
        if rec["kind"] != "sample":
            skipped += 1
            continue
        try:
            r = convert_record(
                style,
                rec["messages"],
                rec["system"],
                rec["tools"],
                input_split=rec["input_split"],
                lf=info_path is not None,
            )
        except ExportError as e:
            raise MixtureError(f"sample {rec['sample_id']}: {e}") from None
        per_stage[rec["stage"]].append(r)
    paths = [_stage_path(out, si, stage_names[si], len(stage_names)) for si in range(len(per_stage))]
    with dataset_info_with(info_path, info, dict(zip(names, paths)), style):  # all or nothing
        for p, rows in zip(paths, per_stage):
            with record_writer(p, fmt) as write:
                for r in rows:
                    write(r)
    written = str(info_path) if info_path is not None else None
    return MixtureExport(
        [str(p) for p in paths],
        sum(len(r) for r in per_stage),
        [len(r) for r in per_stage],
        skipped,
        written,
        names if written else [],
    )
