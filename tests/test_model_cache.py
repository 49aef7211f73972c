"""The GGUF conversion cache is keyed by the file's content: a copy of the same model file elsewhere (another
virtual environment's wheel) finds the folder converted once; a folder cached under the old path key is
reused (hard links) rather than converted again. No model is converted here: the folders are made by hand."""

from __future__ import annotations

import json
import os

import pytest

from engine.core import models


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_MODELS", str(tmp_path / "models"))
    return tmp_path / "models"


def gguf(folder, data: bytes):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "m.gguf").write_bytes(data)
    return models.ModelSource("m", "m-name", str(folder), "gguf", "m.gguf")


def converted(folder):
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / ".complete").write_text("m")


def test_a_copy_elsewhere_finds_the_one_conversion(cache, tmp_path, monkeypatch):
    a = gguf(tmp_path / "venv1", b"GGUF model bytes")
    b = gguf(tmp_path / "venv2", b"GGUF model bytes")
    other = gguf(tmp_path / "venv3", b"GGUF other model")
    assert models.converted_folder(a) == models.converted_folder(b) != models.converted_folder(other)
    converted(models.converted_folder(a))

    def no_conversion(*args, **kwargs):
        raise AssertionError("converted again")

    monkeypatch.setattr(models, "_convert", no_conversion)
    assert models.local_folder(b) == str(models.converted_folder(a))
    with pytest.raises(AssertionError, match="converted again"):
        models.local_folder(other)
    # each file is read through once: its digest is remembered per (path, size, mtime)
    index = json.loads((cache / "gguf-digests.json").read_text())
    assert len(index) == 3 and len(set(index.values())) == 2
    monkeypatch.setattr(models.hashlib, "sha256", no_conversion)
    assert models.converted_folder(b) == models.converted_folder(a)


def test_a_folder_under_the_old_path_key_is_reused(cache, tmp_path, monkeypatch):
    src = gguf(tmp_path / "venv", b"GGUF model bytes")
    old = models._legacy_folder(src, tmp_path / "venv" / "m.gguf")
    converted(old)
    (old / "model.safetensors").write_bytes(b"weights")
    monkeypatch.setattr(models, "_convert", lambda *a, **k: pytest.fail("converted again"))
    path = models.local_folder(src)
    assert path == str(models.converted_folder(src)) and path != str(old)
    new_w, old_w = os.stat(os.path.join(path, "model.safetensors")), os.stat(old / "model.safetensors")
    assert (new_w.st_ino, new_w.st_dev) == (old_w.st_ino, old_w.st_dev)  # the same file, not a copy
    assert (old / ".complete").is_file()  # left in place for older versions that still look there
