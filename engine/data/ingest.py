"""Import files into pools: read, detect the format, validate, normalise, stage, dedupe and store.

Pipeline (see docs/formats.md): records are streamed from the file, normalised in Python into column
lists and appended to a TEMP staging table in ~50k-row pyarrow chunks. Flat formats (alpaca, dolly,
prompt/completion, prompt-only, column mappings) in JSON Lines files first try a DuckDB fast path
(`read_ndjson_objects` + type checks in SQL); any bad row sends the file back to the Python path, which
reports every problem by file, line, record and field. Messages JSON, character counts and dedup are
computed in SQL, content hashes in SQL (flat rows) or Python (the rest) over the same string
serialisation, token estimates with polars. The store itself is written in one transaction at the
end, so a failed or cancelled import leaves it untouched.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from engine.core.errors import WorkbenchError
from engine.core.jobs import CancelToken, ProgressFn, ProgressMeter
from engine.data.formats import (
    DOMAINS,
    FLAT_FORMATS,
    FORMATS,
    INPUT_SPLIT,
    FieldError,
    FlatCols,
    FormatContext,
    FormatSpec,
    Normalized,
    NotFlat,
    RecordIssue,
    content_hash,
    detect_format,
    dumps,
    flat_row,
    make_context,
    suggest_domain,
    type_name,
)

__all__ = [
    "DOMAINS",
    "FORMATS",
    "Detection",
    "ImportFailed",
    "ImportResult",
    "Normalized",
    "RecordIssue",
    "import_dataset_info",
    "import_file",
    "sniff",
    "list_import_files",
    "TOKEN_PATTERN",
]

FAST_PATH = True  # DuckDB fast path for flat JSON Lines files (tests switch it off to compare)
FAST_PATH_MIN_BYTES = 8 << 20  # smaller files: the Python path is as fast (no per-file SQL overhead)
CHUNK_ROWS = 50_000  # rows per staged pyarrow chunk
SNIFF_HEAD_BYTES = 8 << 20  # JSON arrays: bytes read for format detection
SNIFF_RECORDS = 50  # records sampled for format detection
MAX_ISSUES = 10_000  # issues kept in memory (all are counted)
TOKEN_PATTERN = r"\w+|[^\w\s]"  # n_tokens estimate: number of such pieces (Unicode \w, polars regex)
SUFFIXES = (".jsonl", ".ndjson", ".json", ".csv", ".tsv", ".parquet")


# -- public data classes ---------------------------------------------------------------------------
@dataclass
class Detection:
    """What `sniff` found in a file."""

    format: str
    file_kind: str
    reason: str
    n_sampled: int
    preview: list[Normalized]
    suggested_domain: str | None


@dataclass
class ImportResult:
    """Outcome of one import (counts are records: n_records = n_inserted + n_duplicates + n_invalid)."""

    pool_id: int
    import_id: int
    format: str
    n_records: int
    n_inserted: int
    n_duplicates: int
    n_invalid: int
    quarantine_path: str | None
    seconds: float
    pool: str = ""
    files: list[str] = field(default_factory=list)
    fast_path: bool = False


class ImportFailed(WorkbenchError):
    """An import that stored nothing; `.issues` name file, line, record and field of each problem."""

    def __init__(self, issues: list[RecordIssue], n_issues: int | None = None, summary: str | None = None):
        self.issues = list(issues)
        self.n_issues = n_issues if n_issues is not None else len(self.issues)
        head = "; ".join(str(i) for i in self.issues[:5])
        more = f" (+{self.n_issues - 5} more)" if self.n_issues > 5 else ""
        msg = summary or (f"{self.n_issues} problem{'s' if self.n_issues != 1 else ''}, nothing imported")
        super().__init__(f"{msg}: {head}{more}")


class _FileProblem(Exception):
    """A whole-file problem (empty file, unreadable container, missing columns)."""

    def __init__(self, message: str, field: str | None = None, line: int | None = None):
        super().__init__(message)
        self.message, self.field, self.line = message, field, line


# -- files and readers -----------------------------------------------------------------------------
def list_import_files(path: str | Path) -> list[Path]:
    """The files an import of `path` reads: the file itself, or every supported file under a folder."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"no such file or folder: {p}")
    if p.is_file():
        return [p.resolve()]
    files = [f.resolve() for f in sorted(p.rglob("*")) if f.is_file() and _supported(f)]
    if not files:
        raise ImportFailed(
            [RecordIssue(str(p), None, None, None, f"folder has no supported files ({', '.join(SUFFIXES)}, .gz)")]
        )
    return files


def _supported(p: Path) -> bool:
    name = p.name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    return name.endswith(SUFFIXES) and not name.startswith(".") and name != "dataset_info.json"


def _open(path: Path) -> io.BufferedIOBase:
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rb")
    return open(path, "rb")


def _file_kind(path: Path) -> str:
    """json | jsonl | csv | parquet; .json files are sniffed (many '.json' files are JSON Lines)."""
    name = path.name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    if name.endswith(".parquet"):
        return "parquet"
    if name.endswith((".csv", ".tsv")):
        return "csv"
    if name.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    try:
        with _open(path) as f:
            first = b""
            for _ in range(1000):  # the first non-blank line (up to 16 MB)
                first = f.readline(1 << 24)
                if not first or first.strip(b"\xef\xbb\xbf \t\r\n"):
                    break
    except (OSError, EOFError) as e:
        raise _FileProblem(f"cannot read: {e}") from None
    s = first.strip(b"\xef\xbb\xbf \t\r\n")
    if not s or s[:1] == b"[":
        return "json"
    if s[:1] == b"{":
        try:
            json.loads(s)
            return "jsonl"
        except ValueError:
            return "json"
    return "jsonl"


class _Reader:
    """Iterates (record_index, line, obj, raw, problem) with problem = (field, message) or None."""

    kind = ""

    def __init__(self, path: Path, mapping: dict | None = None):
        self.path = path
        self.mapping = mapping or {}
        self.size = max(path.stat().st_size, 1)
        self.pos = 0  # bytes of the (compressed) file consumed so far
        self.columns: list[str] | None = None  # parquet/csv column names when known

    def __iter__(self) -> Iterator[tuple]:
        raise NotImplementedError


class _JsonlReader(_Reader):
    kind = "jsonl"

    def __iter__(self):
        loads = json.loads
        idx = 0
        offset = 0
        gz = self.path.name.lower().endswith(".gz")
        raw = open(self.path, "rb")
        f = gzip.GzipFile(fileobj=raw, mode="rb") if gz else raw
        n = 0
        try:
            for lineno, b in enumerate(f, 1):
                try:
                    obj = loads(b)
                except UnicodeDecodeError as e:
                    yield (
                        idx,
                        lineno,
                        None,
                        b,
                        (
                            None,
                            f"invalid UTF-8: byte 0x{b[e.start]:02x} at byte offset "
                            f"{offset + e.start}{' (decompressed)' if gz else ''}",
                        ),
                    )
                except ValueError as e:
                    if not b.strip():
                        offset += len(b)
                        continue
                    msg = getattr(e, "msg", str(e))
                    col = getattr(e, "colno", None)
                    yield idx, lineno, None, b, (None, f"invalid JSON: {msg}" + (f" (column {col})" if col else ""))
                else:
                    yield idx, lineno, obj, b, None
                idx += 1
                offset += len(b)
                n += 1
                if n & 4095 == 0:
                    self.pos = raw.tell() if gz else offset
        except (OSError, EOFError) as e:  # corrupt or truncated gzip
            yield idx, None, None, None, (None, f"cannot read the file: {e}")
        finally:
            self.pos = self.size
            f.close()
            if gz:
                raw.close()


_WS = re.compile(r"[ \t\n\r]*")
_SURROGATE = re.compile(r"[\udc80-\udcff]")


class _JsonReader(_Reader):
    """A JSON array of records, parsed record by record so that errors name the record and line.

    With `head` set only that many bytes are read (for sampling): parsing stops quietly at the cut."""

    kind = "json"
    head: int | None = None

    def __iter__(self):
        with _open(self.path) as f:
            try:
                data = f.read(self.head) if self.head else f.read()
                cut = bool(self.head) and len(data) == self.head
            except (OSError, EOFError) as e:
                raise _FileProblem(f"cannot read: {e}") from None
        bad = False
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            if cut and e.start >= len(data) - 4:
                data = data[: e.start]
                text = data.decode("utf-8")
            else:
                text = data.decode("utf-8", "surrogateescape")
                bad = True
        del data
        yield from self._records(text, bad, sampling=cut)

    def _records(self, text: str, bad: bool, sampling: bool = False):
        if text.startswith("\ufeff"):
            text = text[1:]
        ws = _WS.match
        n = len(text)
        i = ws(text, 0).end()
        if i >= n:
            raise _FileProblem("file is empty (no records)")
        if sampling and text[i] != "[":
            return  # a single object: the full read handles it
        if text[i] != "[":
            try:
                obj = json.loads(text)
            except ValueError as e:
                raise _FileProblem(f"invalid JSON: {getattr(e, 'msg', e)}", line=getattr(e, "lineno", None)) from None
            if isinstance(obj, dict) and obj and all(isinstance(v, list) for v in obj.values()):
                keys = ", ".join(list(obj)[:8])
                raise _FileProblem(
                    f"is a JSON object whose values are lists (keys: {keys}); expected a JSON array "
                    "of records or JSON Lines — save one of the lists as its own file"
                )
            if isinstance(obj, dict):
                yield 0, 1, obj, None, None
                self.pos = self.size
                return
            raise _FileProblem(f"expected a JSON array of records, got {type_name(obj)}")
        decode = json.JSONDecoder().raw_decode
        i += 1
        line = 1 + text.count("\n", 0, i)
        last = i
        idx = 0
        while True:
            i = ws(text, i).end()
            if i >= n:
                if sampling:
                    return
                line += text.count("\n", last, i)
                yield idx, line, None, None, (None, "truncated JSON: the file ends before the array is closed")
                break
            if text[i] == "]" and idx == 0:
                break
            line += text.count("\n", last, i)
            last = i
            try:
                obj, end = decode(text, i)
            except json.JSONDecodeError as e:
                if sampling:
                    return
                what = "truncated JSON" if e.pos >= n - 1 or "Unterminated" in e.msg else "invalid JSON"
                yield idx, line, None, text[i : i + 500], (None, f"{what}: {e.msg} (line {e.lineno} column {e.colno})")
                break
            if bad and _SURROGATE.search(text, i, end):
                pos = _SURROGATE.search(text, i, end).start()
                boff = len(text[:pos].encode("utf-8", "surrogateescape"))
                bline = 1 + text.count("\n", 0, pos)
                yield idx, line, None, None, (None, f"invalid UTF-8 at byte offset {boff} (line {bline})")
            else:
                yield idx, line, obj, None, None
            idx += 1
            if idx & 4095 == 0:
                self.pos = int(self.size * end / n)
            i = ws(text, end).end()
            if i < n and text[i] == ",":
                i += 1
                continue
            if i < n and text[i] == "]":
                break
            line += text.count("\n", last, i)
            last = i
            if sampling:
                return
            if i >= n:
                yield idx, line, None, None, (None, "truncated JSON: the file ends before the array is closed")
            else:
                yield (
                    idx,
                    line,
                    None,
                    text[i : i + 200],
                    (None, f"invalid JSON: expected ',' or ']' after record {idx - 1}"),
                )
            break
        self.pos = self.size


class _CsvReader(_Reader):
    kind = "csv"

    def __init__(self, path: Path, mapping: dict | None = None, header: bool | None = None):
        super().__init__(path, mapping)
        m = self.mapping
        self.header = m.get("header", True) if header is None else header
        name = path.name.lower().removesuffix(".gz")
        self.delimiter = m.get("delimiter") or ("\t" if name.endswith(".tsv") else ",")
        self.bad_lines: dict[int, str] = {}

    def _lines(self, f):
        offset = 0
        for lineno, b in enumerate(f, 1):
            try:
                s = b.decode("utf-8")
            except UnicodeDecodeError as e:
                self.bad_lines[lineno] = f"invalid UTF-8: byte 0x{b[e.start]:02x} at byte offset {offset + e.start}"
                s = b.decode("utf-8", "replace")
            if lineno == 1 and s.startswith("\ufeff"):
                s = s[1:]
            offset += len(b)
            self.pos = offset
            yield s

    def __iter__(self):
        csv.field_size_limit(1 << 30)
        with _open(self.path) as f:
            reader = csv.reader(self._lines(f), delimiter=self.delimiter)
            names = None
            prev = 0
            idx = 0
            try:
                for row in reader:
                    start, prev = prev + 1, reader.line_num
                    if not row or (len(row) == 1 and not row[0].strip()):
                        continue
                    if names is None:
                        if self.header:
                            names = _dedupe_names([c.strip() for c in row])
                            self.columns = names
                            continue
                        names = [str(i) for i in range(len(row))]
                        self.columns = names
                    bad = next((self.bad_lines[ln] for ln in range(start, prev + 1) if ln in self.bad_lines), None)
                    if bad:
                        yield idx, start, None, None, (None, bad)
                    elif len(row) != len(names):
                        yield (
                            idx,
                            start,
                            None,
                            self.delimiter.join(row),
                            (None, f"expected {len(names)} fields, got {len(row)}"),
                        )
                    else:
                        yield idx, start, dict(zip(names, row)), None, None
                    idx += 1
            except csv.Error as e:
                yield idx, reader.line_num, None, None, (None, f"invalid CSV: {e}")
        self.pos = self.size


def _dedupe_names(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for i, n in enumerate(names):
        n = n or str(i)
        if n in seen:
            seen[n] += 1
            n = f"{n}_{seen[n]}"
        else:
            seen[n] = 0
        out.append(n)
    return out


def _csv_headerless_mcq(path: Path, mapping: dict) -> bool:
    """True when a CSV looks like MMLU: no header, >= 5 fields, last field an answer letter."""
    if "header" in mapping:
        return False
    name = path.name.lower().removesuffix(".gz")
    delim = mapping.get("delimiter") or ("\t" if name.endswith(".tsv") else ",")
    try:
        with _open(path) as f:
            head = f.read(1 << 16).decode("utf-8", "replace")
    except (OSError, EOFError):
        return False
    lines = head.splitlines(keepends=True)
    if len(head) >= (1 << 16) and len(lines) > 1:
        lines = lines[:-1]
    rows = [r for r in csv.reader(lines, delimiter=delim) if r][:SNIFF_RECORDS]
    return bool(rows) and all(len(r) >= 5 and r[-1].strip() in ("A", "B", "C", "D", "E") for r in rows)


class _ParquetReader(_Reader):
    kind = "parquet"

    def __init__(self, path: Path, mapping: dict | None = None):
        super().__init__(path, mapping)
        import pyarrow.parquet as pq

        try:
            self.pf = pq.ParquetFile(path)
        except Exception as e:  # pyarrow raises ArrowInvalid / OSError for non-parquet data
            raise _FileProblem(f"not a readable Parquet file: {e}") from None
        self.columns = list(self.pf.schema_arrow.names)
        self.total = self.pf.metadata.num_rows

    def __iter__(self):
        idx = 0
        for batch in self.pf.iter_batches(batch_size=10_000):
            for rec in batch.to_pylist():
                yield idx, None, rec, None, None
                idx += 1
            self.pos = int(self.size * idx / max(self.total, 1))
        self.pos = self.size


def _reader(path: Path, mapping: dict | None) -> tuple[_Reader, bool]:
    """(reader, headerless_mcq) for a file."""
    mapping = mapping or {}
    kind = _file_kind(path)
    if kind == "parquet":
        return _ParquetReader(path, mapping), False
    if kind == "csv":
        mcq = _csv_headerless_mcq(path, mapping)
        return _CsvReader(path, mapping, header=False if mcq else None), mcq
    if kind == "jsonl":
        if path.stat().st_size == 0:
            raise _FileProblem("file is empty (no records)")
        return _JsonlReader(path, mapping), False
    return _JsonReader(path, mapping), False


def _sample(reader: _Reader, n: int = SNIFF_RECORDS) -> list:
    out = []
    seen = 0
    for _, _, obj, _, problem in reader:
        seen += 1
        if problem is None:
            out.append(obj)
            if len(out) >= n:
                break
    if not seen:
        raise _FileProblem("file is empty (no records)")
    return out


# -- detection -------------------------------------------------------------------------------------
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
    reader, _ = _reader(path, mapping)  # fresh reader for the real pass
    if format:
        if format not in FORMATS:
            raise ValueError(f"unknown format {format!r}; known: {', '.join(FORMATS)}")
        fmt, reason = format, "format chosen by the user"
    elif mcq:
        fmt, reason = "mcq", f"CSV without header, last column an answer letter in {len(sample)}/{len(sample)} rows"
    else:
        if not sample:
            raise _FileProblem("no valid records to detect the format from")
        fmt, reason = detect_format(sample, mapping)
        if fmt is None:
            one = sample[0]
            if len(sample) == 1 and isinstance(one, dict) and all(isinstance(v, list) for v in one.values()):
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
    files = list_import_files(path)
    p = files[0]
    try:
        reader, ctx, reason, sample = _resolve(p, format, mapping)
    except _FileProblem as e:
        raise ImportFailed([RecordIssue(str(p), e.line, None, e.field, e.message)]) from None
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


# -- staging ---------------------------------------------------------------------------------------
_STAGE_SCHEMA = pa.schema(
    [
        ("ord", pa.int64()),
        ("file_no", pa.int32()),
        ("record_index", pa.int64()),
        ("source_line", pa.int64()),
        ("system", pa.string()),
        ("tools", pa.string()),
        ("messages", pa.string()),
        ("u", pa.string()),
        ("a", pa.string()),
        ("instruction", pa.string()),
        ("response", pa.string()),
        ("n_turns", pa.int32()),
        ("n_chars", pa.int64()),
        ("meta", pa.string()),
        ("h", pa.string()),
        ("n_tokens", pa.int64()),
    ]
)
_STAGE_DDL = ", ".join(
    f"{f.name} {t}"
    for f, t in zip(
        _STAGE_SCHEMA,
        [
            "BIGINT",
            "INTEGER",
            "BIGINT",
            "BIGINT",
            "VARCHAR",
            "VARCHAR",
            "VARCHAR",
            "VARCHAR",
            "VARCHAR",
            "VARCHAR",
            "VARCHAR",
            "INTEGER",
            "BIGINT",
            "VARCHAR",
            "VARCHAR",
            "BIGINT",
        ],
    )
)
_STAGE_COLS = ", ".join(f.name for f in _STAGE_SCHEMA)


def _count_tokens(texts):
    """Token estimates (number of TOKEN_PATTERN pieces) of a pyarrow/polars string column, using polars."""
    import polars as pl

    s = texts if isinstance(texts, pl.Series) else pl.Series(texts)
    return s.fill_null("").str.count_matches(TOKEN_PATTERN).cast(pl.Int64)


class _Chunk:
    """Column lists for one staged chunk (flat rows: u/a set, messages NULL; full rows: the reverse)."""

    def __init__(self) -> None:
        self.clear()

    def __len__(self) -> int:
        return len(self.cols[0])

    def clear(self) -> None:
        self.cols: list[list] = [[] for _ in range(len(_STAGE_SCHEMA) - 1)]
        self.texts: list = []

    def _drop_unencodable(self, run: "_Run | None") -> None:
        bad = set()
        for col in (4, 5, 6, 7, 8, 9, 10, 13):
            for i, v in enumerate(self.cols[col]):
                if v is not None and i not in bad:
                    try:
                        v.encode("utf-8")
                    except UnicodeEncodeError:
                        bad.add(i)
        for i in sorted(bad):
            if run is not None:
                run.n_invalid += 1
                run.issue(
                    Path(run.files[self.cols[1][i]]),
                    self.cols[3][i],
                    self.cols[2][i],
                    None,
                    "text contains an unpaired surrogate (an invalid \\u escape such as \\ud800)",
                )
        keep = [i for i in range(len(self)) if i not in bad]
        self.cols = [[c[i] for i in keep] for c in self.cols]
        self.texts = [self.texts[i] for i in keep]

    def add_flat(self, ord_, file_no, ri, line, s, u, a, meta) -> None:
        c = self.cols
        c[0].append(ord_)
        c[1].append(file_no)
        c[2].append(ri)
        c[3].append(line)  # noqa: E702
        c[4].append(s)
        c[5].append(None)
        c[6].append(None)
        c[7].append(u)
        c[8].append(a)  # noqa: E702
        c[9].append(None)
        c[10].append(None)
        c[11].append(None)
        c[12].append(None)  # noqa: E702
        c[13].append(dumps(meta) if meta else None)
        c[14].append(None)
        self.texts.append(None)

    def add_full(self, ord_, file_no, ri, line, n: Normalized) -> None:
        c = self.cols
        c[0].append(ord_)
        c[1].append(file_no)
        c[2].append(ri)
        c[3].append(line)  # noqa: E702
        c[4].append(n.system)
        c[5].append(dumps(n.tools) if n.tools else None)  # noqa: E702
        c[6].append(dumps(n.messages))
        c[7].append(None)
        c[8].append(None)  # noqa: E702
        c[9].append(n.instruction)
        c[10].append(n.response)
        c[11].append(n.n_turns)  # noqa: E702
        c[12].append(sum(len(m["content"]) for m in n.messages))
        c[13].append(dumps(n.meta) if n.meta else None)
        c[14].append(content_hash(n.messages, n.system, n.tools))
        self.texts.append("\n".join(m["content"] for m in n.messages))

    def flush(self, con: duckdb.DuckDBPyConnection, table: str, run: "_Run | None" = None) -> None:
        if not len(self):
            return
        import polars as pl

        try:
            arrays = [pa.array(c, type=f.type) for c, f in zip(self.cols, _STAGE_SCHEMA)]
        except UnicodeEncodeError:  # a JSON "\ud800" escape: a lone surrogate is not valid text
            self._drop_unencodable(run)
            return self.flush(con, table, run)
        # token estimates of full rows now; flat rows (NULL here) are counted at write time in a thread
        if any(t is not None for t in self.texts):
            texts = pl.Series(self.texts, dtype=pl.String)
            arrays.append(texts.str.count_matches(TOKEN_PATTERN).cast(pl.Int64).to_arrow())
        else:
            arrays.append(pa.nulls(len(self), pa.int64()))
        tbl = pa.Table.from_arrays(arrays, schema=_STAGE_SCHEMA)
        con.register("wb_chunk_v", tbl)
        try:
            con.execute(f"INSERT INTO {table} SELECT * FROM wb_chunk_v")
        finally:
            con.unregister("wb_chunk_v")
        self.clear()


class _Run:
    """State of one import run over one or more files."""

    def __init__(
        self, con, *, skip_invalid: bool, meter: ProgressMeter, cancel: CancelToken | None, prefix: str = "wb_"
    ):
        self.con = con
        self.prefix = prefix
        self.stage = f"{prefix}stage"  # rows normalised in Python
        self.fast_tables: list[str] = []  # one table per file staged by the DuckDB fast path
        self.skip_invalid = skip_invalid
        self.meter = meter
        self.cancel = cancel
        self.issues: list[RecordIssue] = []
        self.n_issues = 0
        self.quarantine: list[dict] = []
        self.n_records = 0
        self.n_invalid = 0
        self.ord = 0
        self.formats: list[str] = []
        self.reasons: list[str] = []
        self.fast_files = 0
        self.files: list[str] = []
        self.chunk = _Chunk()

    def issue(self, path: Path, line, ri, fld, message, raw=None) -> None:
        self.n_issues += 1
        iss = RecordIssue(str(path), line, ri, fld, message)
        if len(self.issues) < MAX_ISSUES:
            self.issues.append(iss)
        if self.skip_invalid and ri is not None:
            q = iss.to_dict()
            if raw is not None:
                if isinstance(raw, bytes):
                    raw = raw.decode("utf-8", "replace").rstrip("\r\n")
                q["raw"] = raw
            self.quarantine.append(q)

    def tick(self, n: int) -> None:
        self.meter.advance(n)
        if self.cancel is not None:
            self.cancel.check()


def _stage_python(
    run: _Run, path: Path, file_no: int, reader: _Reader, ctx: FormatContext, file_size_total: int, size_before: int
) -> None:
    """Normalise every record of one file in Python and append them to wb_stage."""
    spec: FormatSpec = FORMATS[ctx.format]
    normalize = spec.normalize
    cols: FlatCols | None = ctx.flat if ctx.format in FLAT_FORMATS else None
    chunk = run.chunk
    staging = True
    file_records = 0
    last = 0
    required_checked = False
    for ri, line, obj, raw, problem in reader:
        if not required_checked:
            required_checked = True
            _check_columns(reader, ctx)
        if file_records - last >= CHUNK_ROWS:  # progress and cancel checks every chunk of records
            _update_total(run.meter, size_before + reader.pos, file_size_total)
            run.tick(file_records - last)
            last = file_records
        file_records += 1
        ord_ = run.ord
        run.ord += 1
        if problem is not None:
            run.n_invalid += 1
            run.issue(path, line, ri, problem[0], problem[1], raw)
            staging = staging and run.skip_invalid
            continue
        try:
            flat = None
            if cols is not None:
                try:
                    flat = flat_row(obj, cols)
                except NotFlat:
                    pass
            if flat is not None:
                if staging:
                    chunk.add_flat(ord_, file_no, ri, line, *flat)
            else:
                n = normalize(obj, ctx)
                if staging:
                    chunk.add_full(ord_, file_no, ri, line, n)
        except FieldError as e:
            run.n_invalid += 1
            run.issue(path, line, ri, e.field, e.message, obj)
            staging = staging and run.skip_invalid
            continue
        if len(chunk) >= CHUNK_ROWS:
            chunk.flush(run.con, run.stage, run)
    if not required_checked:
        _check_columns(reader, ctx)
    if not staging:
        chunk.clear()
    run.n_records += file_records
    run.tick(file_records - last)


def _check_columns(reader: _Reader, ctx: FormatContext) -> None:
    """Parquet/CSV: required columns must exist (one clear file-level error instead of one per row)."""
    if reader.columns is None or reader.kind not in ("parquet", "csv"):
        return
    need = [k for k in FORMATS[ctx.format].required(ctx) if k]
    missing = [k for k in need if k not in reader.columns]
    if missing:
        raise _FileProblem(
            f"column{'s' if len(missing) > 1 else ''} missing (file has: {', '.join(reader.columns[:20])})",
            field=", ".join(missing),
        )


def _update_total(meter: ProgressMeter, pos: int, size_total: int) -> None:
    if pos > 0 and meter.done > 0:
        meter.total = max(int(meter.done * size_total / pos), meter.done)


# -- fast path -------------------------------------------------------------------------------------
def _one(con, sql: str, params: list | None = None) -> tuple:
    """First row of a query, fetched completely (DuckDB 2 wants every result drained)."""
    rows = con.execute(sql, params or []).fetchall()
    return rows[0] if rows else ()


def _next_id(con, table: str) -> int:
    """max(id) + 1 of a table, read on the import's own connection inside its transaction."""
    return int(_one(con, f"SELECT coalesce(max(id), 0) + 1 FROM {table}")[0])


def _jpath(key: str) -> str:
    return "$." + json.dumps(key)


def _sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _stage_fast(run: _Run, path: Path, file_no: int, ctx: FormatContext) -> bool:
    """Stage a flat JSON Lines file with DuckDB alone. False (nothing staged) if any row needs Python."""
    cols = ctx.flat
    con = run.con
    keys = list(cols.user) + ([cols.assistant] if cols.assistant else []) + ([cols.system] if cols.system else [])
    keys += list(cols.complex_keys)
    paths = "[" + ", ".join(_sql_str(_jpath(k)) for k in keys) + "]"
    patch = _sql_str(json.dumps({k: None for k in cols.used}))
    nu = len(cols.user)
    bad = ["json_type(v[1]) IS DISTINCT FROM 'VARCHAR'"]  # also catches lines that are not objects
    for i in range(2, nu + 1):
        bad.append(f"(v[{i}] IS NOT NULL AND json_type(v[{i}]) NOT IN ('VARCHAR', 'NULL'))")
    j = nu + 1
    a_expr = "NULL"
    if cols.assistant:
        bad.append(f"v[{j}] IS NULL OR json_type(v[{j}]) NOT IN ('VARCHAR', 'NULL')")
        a_expr = f"v[{j}]->>'$'"
        j += 1
    s_expr = "NULL"
    if cols.system:
        bad.append(f"(v[{j}] IS NOT NULL AND json_type(v[{j}]) NOT IN ('VARCHAR', 'NULL'))")
        s_expr = f"nullif(v[{j}]->>'$', '')"
        j += 1
    for _ in cols.complex_keys:
        bad.append(f"(v[{j}] IS NOT NULL AND CAST(v[{j}] AS VARCHAR) NOT IN ('null', '[]', '\"\"'))")
        j += 1
    u_expr = "v[1]->>'$'"
    for i in range(2, nu + 1):
        u_expr = (
            f"CASE WHEN coalesce(v[{i}]->>'$', '') <> '' THEN {u_expr} || chr(10) || (v[{i}]->>'$') ELSE {u_expr} END"
        )
    # input_split (see formats.flat_row): the instruction's length when an optional user key is non-empty
    sp_expr = "NULL::BIGINT"
    if nu > 1:
        any_opt = " OR ".join(f"coalesce(v[{i}]->>'$', '') <> ''" for i in range(2, nu + 1))
        sp_expr = f"CASE WHEN {any_opt} THEN length(v[1]->>'$') END"
    # meta: the unused keys, only for rows that have more keys than the used ones present; input_split last
    n_present = " + ".join(f"(v[{i}] IS NOT NULL)::INTEGER" for i in range(1, len(keys) + 1))
    sp_obj = f"json_object({_sql_str(INPUT_SPLIT)}, sp)"
    meta_expr = f"""CASE WHEN len(json_keys(j)) > {n_present} THEN
                             CASE WHEN sp IS NULL THEN json_merge_patch(j, {patch})
                                  ELSE json_merge_patch(j, {patch}, {sp_obj}) END
                         WHEN sp IS NOT NULL THEN {sp_obj} END"""
    table = f"{run.prefix}fast{file_no}"
    run.meter.report(f"reading {path.name} with DuckDB", force=True)
    try:
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE {table} AS
            SELECT {run.ord} + o - 1 AS ord, {file_no} AS file_no, o - 1 AS record_index, o AS source_line,
                   {s_expr} AS system, NULL::VARCHAR AS tools, NULL::VARCHAR AS messages, {u_expr} AS u, {a_expr} AS a,
                   NULL::VARCHAR AS instruction, NULL::VARCHAR AS response, NULL::INTEGER AS n_turns,
                   NULL::BIGINT AS n_chars,
                   CAST(meta AS VARCHAR) AS meta, NULL::VARCHAR AS h, NULL::BIGINT AS n_tokens, ({" OR ".join(bad)}) AS bad
            FROM (SELECT o, v, {meta_expr} AS meta
                  FROM (SELECT o, j, v, {sp_expr} AS sp
                        FROM (SELECT o, j, json_extract(j, {paths}) AS v
                              FROM read_ndjson_objects(?) WITH ORDINALITY AS t(j, o))))""",
            [str(path)],
        )
    except duckdb.Error:
        con.execute(f"DROP TABLE IF EXISTS {table}")
        return False  # malformed JSON, bad UTF-8, ...: the Python path reports it precisely
    n, n_bad = _one(con, f"SELECT count(*), count(*) FILTER (WHERE bad) FROM {table}")
    if n_bad or n == 0 or n != _count_lines(path):
        con.execute(f"DROP TABLE IF EXISTS {table}")
        return False
    run.fast_tables.append(table)
    run.ord += n
    run.n_records += n
    run.fast_files += 1
    run.tick(n)
    return True


def _count_lines(path: Path) -> int:
    """Physical lines (a last line without newline counts); used to check that no line was blank."""
    n = 0
    last = b"\n"
    with _open(path) as f:
        while True:
            buf = f.read(1 << 24)
            if not buf:
                break
            n += buf.count(b"\n")
            last = buf[-1:]
    return n + (last != b"\n")


# -- finishing: hash, dedupe, tokens, write --------------------------------------------------------
_MESSAGES_SQL = """CASE
    WHEN messages IS NOT NULL THEN CAST(json(messages) AS VARCHAR)
    WHEN system IS NULL AND a IS NULL THEN CAST(json_array(json_object('role', 'user', 'content', u)) AS VARCHAR)
    WHEN system IS NULL THEN CAST(json_array(json_object('role', 'user', 'content', u),
        json_object('role', 'assistant', 'content', a)) AS VARCHAR)
    WHEN a IS NULL THEN CAST(json_array(json_object('role', 'system', 'content', system),
        json_object('role', 'user', 'content', u)) AS VARCHAR)
    ELSE CAST(json_array(json_object('role', 'system', 'content', system), json_object('role', 'user', 'content', u),
        json_object('role', 'assistant', 'content', a)) AS VARCHAR) END"""

# The content hash (see formats.content_hash_text): rows normalised in Python bring theirs; for flat rows
# (optional system, user, optional reply) the same serialisation is built here from plain strings.
_FLAT_HASH_SQL = """md5(coalesce(system, '') || chr(30) || chr(30)
    || CASE WHEN system IS NOT NULL THEN 'system' || chr(31) || system || chr(29) ELSE '' END
    || 'user' || chr(31) || u
    || CASE WHEN a IS NOT NULL THEN chr(29) || 'assistant' || chr(31) || a ELSE '' END)"""


def _source_sql(run: _Run) -> str:
    """The staged rows of a run: the Python-staged table plus each fast-path table."""
    parts = [f"SELECT {_STAGE_COLS} FROM {run.stage}"] + [f"SELECT {_STAGE_COLS} FROM {t}" for t in run.fast_tables]
    return " UNION ALL ".join(parts)


def _prepare(run: _Run) -> int:
    """Hash every staged row into a narrow table (ord, h); the big rows are not copied."""
    con, p = run.con, run.prefix
    con.execute(f"CREATE OR REPLACE TEMP VIEW {p}src AS {_source_sql(run)}")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE {p}hash AS
        SELECT ord, coalesce(h, {_FLAT_HASH_SQL}) AS h FROM {p}src""")
    return _one(con, f"SELECT count(*) FROM {p}hash")[0]


def _keep(con, p: str, pool_id: int) -> int:
    """Rows to insert: first occurrence of each hash, not already in the pool; rn numbers them in order."""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {p}keep AS
        SELECT ord, h, row_number() OVER (ORDER BY ord) AS rn FROM (
            SELECT ord, h FROM {p}hash QUALIFY row_number() OVER (PARTITION BY h ORDER BY ord) = 1) x
        WHERE NOT EXISTS (SELECT 1 FROM samples y WHERE y.pool_id = ? AND y.content_hash = x.h)""",
        [pool_id],
    )
    return _one(con, f"SELECT count(*) FROM {p}keep")[0]


def _tokens_start(con, p: str) -> tuple[threading.Thread, dict]:
    """Start counting n_tokens of kept flat rows in a thread (polars runs outside the GIL while DuckDB
    writes the samples); rows normalised in full got theirs per chunk."""
    tbl = con.sql(f"""SELECT s.ord, concat_ws(chr(10), s.system, s.u, s.a) AS t
        FROM {p}src s JOIN {p}keep k USING (ord) WHERE s.n_tokens IS NULL""").to_arrow_table()
    out: dict = {}

    def work() -> None:
        import polars as pl

        try:
            out["tok"] = pl.DataFrame(
                {"ord": pl.from_arrow(tbl["ord"]), "n_tokens": _count_tokens(pl.from_arrow(tbl["t"]))}
            ).to_arrow()
        except BaseException as e:  # re-raised by the caller
            out["error"] = e

    th = threading.Thread(target=work, name="wb-import-tokens", daemon=True)
    th.start()
    return th, out


def _tokens_finish(con, p: str, th: threading.Thread, out: dict, base: int) -> None:
    """Wait for the token counts and set them on the rows just inserted (same transaction)."""
    th.join()
    if "error" in out:
        raise out["error"]
    tok = out["tok"]
    if tok.num_rows == 0:
        return
    con.register("wb_tok_v", tok)
    try:
        con.execute(
            f"""UPDATE samples SET n_tokens = x.n_tokens
            FROM (SELECT ? + k.rn - 1 AS id, t.n_tokens FROM wb_tok_v t JOIN {p}keep k USING (ord)) x
            WHERE samples.id = x.id""",
            [base],
        )
    finally:
        con.unregister("wb_tok_v")


def token_estimate(text: str) -> int:
    """The n_tokens estimate of one text (same regex as the import, Python semantics)."""
    return len(re.findall(TOKEN_PATTERN, text))


def _quarantine_path(store, pool: str, import_id: int) -> Path:
    base = (
        store.path.parent / "quarantine"
        if store.path is not None
        else Path(tempfile.gettempdir()) / ("workbench-quarantine")
    )
    base.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^\w.-]+", "_", pool)[:60] or "pool"
    return base / f"{safe}-import{import_id}-{datetime.now():%Y%m%d-%H%M%S}.jsonl"


# -- public API ------------------------------------------------------------------------------------
def import_file(
    store,
    path: str | Path,
    *,
    pool: str,
    domain: str | None = None,
    format: str | None = None,
    mapping: dict | None = None,
    skip_invalid: bool = False,
    description: str | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> ImportResult:
    """Import a file (or every supported file under a folder, sorted) into pool `pool`.

    All-or-nothing by default: any invalid record raises ImportFailed and the store is untouched.
    With skip_invalid=True invalid records go to a JSONL quarantine report and the rest is imported.
    Records whose content hash is already in the pool (or earlier in the same import) are counted as
    duplicates and stored once. Creates the pool if missing (domain: `domain` or 'general')."""
    return _import_many(
        store,
        [(path, pool, domain, format, mapping, description)],
        skip_invalid=skip_invalid,
        progress=progress,
        cancel=cancel,
    )[0]


def _import_many(store, jobs: list[tuple], *, skip_invalid: bool, progress, cancel) -> list[ImportResult]:
    """Run several imports; their writes share one transaction (all of them land, or none)."""
    con = store.cursor()  # own connection: its TEMP staging tables vanish with it
    staged: list[_Staged] = []
    try:
        con.execute("SET SESSION preserve_insertion_order = false")
        for k, (path, pool, domain, format, mapping, description) in enumerate(jobs):
            staged.append(
                _stage_job(
                    con,
                    f"wb{k}_",
                    path,
                    pool,
                    domain,
                    format,
                    mapping,
                    description,
                    skip_invalid=skip_invalid,
                    progress=progress,
                    cancel=cancel,
                )
            )
        with store.write_lock:
            results: list[ImportResult] = []
            con.execute("BEGIN TRANSACTION")
            try:
                for st in staged:
                    results.append(_write_job(con, store, st, cancel=cancel))
                if cancel is not None:
                    cancel.check()
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                for r in results:
                    if r.quarantine_path:
                        Path(r.quarantine_path).unlink(missing_ok=True)
                raise
        return results
    finally:
        con.close()


@dataclass
class _Staged:
    pool: str
    domain: str | None
    description: str | None
    path: Path
    run: _Run
    n_rows: int
    t0: float


def _stage_job(
    con, prefix, path, pool, domain, format, mapping, description, *, skip_invalid, progress, cancel
) -> _Staged:
    """Read, validate and stage every file of one import into TEMP tables named with `prefix`."""
    t0 = time.perf_counter()
    if not pool or not isinstance(pool, str):
        raise ValueError("a pool name is required")
    files = list_import_files(path)
    meter = ProgressMeter(progress, total=None)
    run = _Run(con, skip_invalid=skip_invalid, meter=meter, cancel=cancel, prefix=prefix)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {run.stage} ({_STAGE_DDL})")
    total_size = sum(f.stat().st_size for f in files)
    before = 0
    for file_no, fpath in enumerate(files):
        run.files.append(str(fpath))
        try:
            reader, ctx, reason, _ = _resolve(fpath, format, mapping)
            if ctx.format not in run.formats:
                run.formats.append(ctx.format)
                run.reasons.append(reason)
            fast = (
                FAST_PATH
                and ctx.format in FLAT_FORMATS
                and ctx.flat is not None
                and reader.kind == "jsonl"
                and fpath.stat().st_size >= FAST_PATH_MIN_BYTES
            )
            if not (fast and _stage_fast(run, fpath, file_no, ctx)):
                _stage_python(run, fpath, file_no, reader, ctx, total_size, before)
        except _FileProblem as e:
            run.issue(fpath, e.line, None, e.field, e.message)
            if not skip_invalid or len(files) == 1:
                raise ImportFailed(run.issues, run.n_issues) from None
        before += fpath.stat().st_size
        _update_total(meter, before, total_size)
    run.chunk.flush(con, run.stage, run)
    if run.n_issues and not skip_invalid:
        raise ImportFailed(
            run.issues,
            run.n_issues,
            f"{run.n_invalid} invalid record{'s' if run.n_invalid != 1 else ''} of {run.n_records}, nothing imported",
        )
    if run.n_records == 0:
        raise ImportFailed(run.issues or [RecordIssue(str(files[0]), None, None, None, "no records")])
    meter.total = meter.done
    meter.report("hashing", force=True)
    n_rows = _prepare(run)
    return _Staged(pool, domain, description, Path(path), run, n_rows, t0)


def _write_job(con, store, st: _Staged, *, cancel) -> ImportResult:
    """Inside the caller's transaction: pool and import rows, then one INSERT of the kept samples."""
    run, p = st.run, st.run.prefix
    rows = con.execute("SELECT id, domain FROM pools WHERE name = ?", [st.pool]).fetchall()
    fmt = ",".join(run.formats) or "unknown"
    if not rows:
        pool_id = _next_id(con, "pools")
        pool_domain = st.domain or "general"
        con.execute(
            "INSERT INTO pools (id, name, domain, format, source, description, meta) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                pool_id,
                st.pool,
                pool_domain,
                fmt,
                str(Path(st.path).resolve()),
                st.description,
                json.dumps({"detection": run.reasons}),
            ],
        )
    else:
        pool_id, pool_domain = rows[0]
        pool_domain = st.domain or pool_domain
    import_id = _next_id(con, "imports")
    con.execute(
        "INSERT INTO imports (id, pool_id, path, format) VALUES (?, ?, ?, ?)",
        [import_id, pool_id, str(Path(st.path).resolve()), fmt],
    )
    n_keep = _keep(con, p, pool_id)
    if cancel is not None:
        cancel.check()
    tok_thread, tok_out = _tokens_start(con, p)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {p}files (file_no INTEGER, path VARCHAR)")
    con.executemany(f"INSERT INTO {p}files VALUES (?, ?)", [[i, f] for i, f in enumerate(run.files)])
    base = _next_id(con, "samples")
    run.meter.report("writing", force=True)
    con.execute(
        f"""INSERT INTO samples (id, pool_id, import_id, source_file, record_index, source_line, messages,
            system, tools, instruction, response, n_turns, domain, domain_source, content_hash, n_chars,
            n_tokens, meta)
        SELECT ? + k.rn - 1, ?, ?, f.path, s.record_index, s.source_line, {_MESSAGES_SQL}, s.system,
               CASE WHEN s.tools IS NOT NULL THEN CAST(json(s.tools) AS VARCHAR) END,
               coalesce(s.instruction, s.u), coalesce(s.response, s.a, ''),
               coalesce(s.n_turns, CASE WHEN s.a IS NULL THEN 1 ELSE 2 END), ?, 'pool', k.h,
               coalesce(s.n_chars, length(coalesce(s.system, '')) + length(s.u) + length(coalesce(s.a, ''))),
               s.n_tokens,
               CASE WHEN s.meta IS NOT NULL THEN CAST(json(s.meta) AS VARCHAR) END
        FROM {p}src s JOIN {p}keep k USING (ord) JOIN {p}files f USING (file_no)""",
        [base, pool_id, import_id, pool_domain],
    )
    _tokens_finish(con, p, tok_thread, tok_out, base)
    n_dup = st.n_rows - n_keep
    qpath = None
    if run.quarantine:
        qp = _quarantine_path(store, st.pool, import_id)
        with open(qp, "w", encoding="utf-8", errors="backslashreplace") as f:
            for q in run.quarantine:
                f.write(json.dumps(q, ensure_ascii=False, default=str) + "\n")
        qpath = str(qp)
    report = {
        "files": run.files if len(run.files) <= 50 else run.files[:50] + [f"... {len(run.files)} files"],
        "detection": run.reasons,
        "fast_path_files": run.fast_files,
        "quarantine_path": qpath,
        "issues": [i.to_dict() for i in run.issues[:20]],
        "n_issues": run.n_issues,
    }
    seconds = time.perf_counter() - st.t0
    con.execute(
        """UPDATE imports SET finished_at = current_timestamp, n_records = ?, n_inserted = ?, n_duplicates = ?,
                   n_invalid = ?, report = ? WHERE id = ?""",
        [run.n_records, n_keep, n_dup, run.n_invalid, json.dumps(report, default=str), import_id],
    )
    run.meter.report("done", force=True)
    return ImportResult(
        pool_id,
        import_id,
        fmt,
        run.n_records,
        n_keep,
        n_dup,
        run.n_invalid,
        qpath,
        seconds,
        pool=st.pool,
        files=list(run.files),
        fast_path=run.fast_files == len(run.files),
    )


# -- LLaMA-Factory dataset_info.json ---------------------------------------------------------------
_LF_TAGS = ("role_tag", "content_tag", "user_tag", "assistant_tag", "observation_tag", "function_tag", "system_tag")


def read_dataset_info(path: str | Path) -> dict:
    """Parse a LLaMA-Factory dataset_info.json (a JSON object of entries)."""
    p = Path(path)
    try:
        info = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ImportFailed(
            [RecordIssue(str(p), getattr(e, "lineno", None), None, None, f"cannot read dataset_info: {e}")]
        ) from None
    if not isinstance(info, dict):
        raise ImportFailed([RecordIssue(str(p), None, None, None, "dataset_info must be a JSON object of entries")])
    return info


def dataset_info_job(base: Path, name: str, entry: dict) -> tuple[Path, str, dict]:
    """(file path, format, mapping) for one dataset_info entry."""
    if not isinstance(entry, dict) or not entry.get("file_name"):
        raise ValueError(f"entry {name!r} has no local file_name (hub or script datasets are not imported)")
    formatting = entry.get("formatting", "alpaca")
    if formatting not in ("alpaca", "sharegpt"):
        raise ValueError(f"entry {name!r}: formatting {formatting!r} is not supported (alpaca or sharegpt)")
    mapping = dict(entry.get("columns") or {})
    mapping.update({k: v for k, v in (entry.get("tags") or {}).items() if k in _LF_TAGS})
    if formatting == "sharegpt" and "messages" not in mapping:
        mapping["messages"] = "conversations"
    return base / entry["file_name"], formatting, mapping


def import_dataset_info(
    store,
    dataset_info_path: str | Path,
    *,
    names=None,
    domain: str | None = None,
    skip_invalid: bool = False,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> list[ImportResult]:
    """Import entries of a LLaMA-Factory dataset_info.json as pools named after the entries.

    `names` picks entries (default: every entry with a local file_name; hub-only entries are skipped).
    All entries are written in one transaction: if one fails, none is imported."""
    p = Path(dataset_info_path)
    info = read_dataset_info(p)
    wanted = (
        list(names) if names is not None else [n for n, e in info.items() if isinstance(e, dict) and e.get("file_name")]
    )
    jobs = []
    issues = []
    for name in wanted:
        if name not in info:
            issues.append(RecordIssue(str(p), None, None, name, "no such entry"))
            continue
        try:
            fpath, fmt, mapping = dataset_info_job(p.parent, name, info[name])
        except ValueError as e:
            issues.append(RecordIssue(str(p), None, None, name, str(e)))
            continue
        jobs.append((fpath, name, domain, fmt, mapping, f"from {p.name}"))
    if issues:
        raise ImportFailed(issues)
    if not jobs:
        return []
    return _import_many(store, jobs, skip_invalid=skip_invalid, progress=progress, cancel=cancel)
