"""Detecting a file's format: `sniff` (with reasons, a preview and a domain suggestion) and `_resolve`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.data.formats import (
    FORMATS,
    FieldError,
    FormatContext,
    Normalized,
    NotFlat,
    RecordIssue,
    detect_format,
    make_context,
    suggest_domain,
)
from engine.data.ingest.readers import (
    ImportFailed,
    _FileProblem,
    _JsonReader,
    _read_failure,
    _Reader,
    _reader,
    _sample,
    import_listing,
    link_problem,
)

SNIFF_HEAD_BYTES = 8 << 20  # JSON arrays: bytes read for format detection


@dataclass
class Detection:
    """What `sniff` found in a file."""

    format: str
    file_kind: str
    reason: str
    n_sampled: int
    preview: list[Normalized]
    suggested_domain: str | None


def _resolve(path: Path, format: str | None, mapping: dict | None) -> tuple[_Reader, FormatContext, str, list]:
    """Reader, format context, detection reason and sample for one file."""
    reader, mcq = _reader(path, mapping)
    sample = []
    if isinstance(reader, _JsonReader):  # sample from the first 8 MB instead of parsing everything twice
        reader.head = SNIFF_HEAD_BYTES
        try:
            sample = _sample(reader)
        except _FileProblem:
            sample = []
        reader.head = None
    if not sample:
        sample = _sample(reader)
    reader_unreadable = reader.unreadable
    reader, _ = _reader(path, mapping)  # fresh reader for the real pass
    if format:
        if format not in FORMATS:
            raise ValueError(f"unknown format {format!r}; known: {', '.join(FORMATS)}")
        fmt, reason = format, "format chosen by the user"
    elif mcq:
        fmt, reason = "mcq", f"CSV without header, last column an answer letter in {len(sample)}/{len(sample)} rows"
    else:
        if not sample:
            count, line, message = reader_unreadable
            if not count:
                raise _FileProblem("no valid records to detect the format from")
            more = f" ({count:,} unreadable records; the first: {message})" if count > 1 else f": {message}"
            raise _FileProblem(f"no valid record to detect the format from{more}", line=line)
        fmt, reason = detect_format(sample, mapping)
        if fmt is None:
            one = sample[0]
            if len(sample) == 1 and isinstance(one, dict) and one and all(isinstance(v, list) for v in one.values()):
                raise _FileProblem(
                    f"is a JSON object whose values are lists (keys: {', '.join(list(one)[:8])}); "
                    "expected a JSON array of records or JSON Lines — save one of the lists as "
                    "its own file"
                )
            raise _FileProblem(f"cannot detect the format ({reason}); choose a format or give a column mapping")
    try:
        ctx = make_context(fmt, sample, mapping)
    except FieldError as e:
        raise _FileProblem(e.message, field=e.field) from None
    return reader, ctx, reason, sample


def sniff(path: str | Path, *, format: str | None = None, mapping: dict | None = None) -> Detection:
    """Detect the format of a file (or of the first file of a folder) from its first ~50 records."""
    p, name = import_listing(path)[0]
    try:
        problem = link_problem(p)
        if problem is not None:
            raise _FileProblem(problem)
        reader, ctx, reason, sample = _resolve(p, format, mapping)
    except (_FileProblem, OSError) as e:  # OSError: the file cannot be opened or read
        fp = e if isinstance(e, _FileProblem) else _FileProblem(_read_failure(p, e))
        raise ImportFailed([RecordIssue(str(p), fp.line, None, fp.field, fp.message, name)]) from None
    spec = FORMATS[ctx.format]
    normalized = []
    for r in sample:
        try:
            normalized.append(spec.normalize(r, ctx))
        except (FieldError, NotFlat):
            pass
    return Detection(
        ctx.format, reader.kind, reason, len(sample), normalized[:5], suggest_domain(ctx.format, sample, normalized)
    )
