"""Reading import files: folders, JSON, JSON Lines, CSV/TSV, Parquet (gzip transparent), record by record.

A reader yields (record_index, line, obj, raw, problem): the record's position in its file, the record (or
None) and, for a record that cannot be read, problem = (field, message). Whole-file problems raise
`_FileProblem`; a failed import raises `ImportFailed` with every problem found."""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

from engine.core.errors import WorkbenchError
from engine.data.formats import RecordIssue, type_name

SNIFF_RECORDS = 50  # records sampled for format detection
SUFFIXES = (".jsonl", ".ndjson", ".json", ".csv", ".tsv", ".parquet")


class ImportFailed(WorkbenchError):
    """An import that stored nothing; `.issues` name file, line, record and field of each problem."""

    def __init__(self, issues: list[RecordIssue], n_issues: int | None = None, summary: str | None = None):
        self.issues = list(issues)
        self.n_issues = n_issues if n_issues is not None else len(self.issues)
        head = "; ".join(str(i) for i in self.issues[:5])
        more = f" (+{self.n_issues - 5} more)" if self.n_issues > 5 else ""
        msg = summary or (f"{self.n_issues} problem{'s' if self.n_issues != 1 else ''}, nothing imported")
        self.summary = msg
        super().__init__(f"{msg}: {head}{more}")


class _FileProblem(Exception):
    """A whole-file problem (empty file, unreadable container, missing columns)."""

    def __init__(self, message: str, field: str | None = None, line: int | None = None):
        super().__init__(message)
        self.message, self.field, self.line = message, field, line


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
    if name.endswith(".txt"):
        return "text"
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


class _TextReader(_Reader):
    """Plain text, one record {"text": line} per non-blank line (LLaMA-Factory's pre-training .txt files).

    Not among SUFFIXES: a folder import skips .txt files; a dataset_info entry or a named file reads them."""

    kind = "text"

    def __iter__(self):
        idx = 0
        offset = 0
        with _open(self.path) as f:
            try:
                for lineno, b in enumerate(f, 1):
                    line = b.rstrip(b"\r\n")
                    if lineno == 1 and line.startswith(b"\xef\xbb\xbf"):
                        line = line[3:]
                    if line.strip():
                        try:
                            yield idx, lineno, {"text": line.decode("utf-8")}, None, None
                        except UnicodeDecodeError as e:
                            msg = f"invalid UTF-8: byte 0x{line[e.start]:02x} at byte offset {offset + e.start}"
                            yield idx, lineno, None, b, (None, msg)
                        idx += 1
                    offset += len(b)
                    self.pos = offset
            except (OSError, EOFError) as e:  # corrupt or truncated gzip
                yield idx, None, None, None, (None, f"cannot read the file: {e}")
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
    if kind == "text":
        return _TextReader(path, mapping), False
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
