"""Reading import files: folders, JSON, JSON Lines, CSV/TSV, Parquet (gzip transparent), record by record.

A reader yields (record_index, line, obj, raw, problem): the record's position in its file, the record (or
None) and, for a record that cannot be read, problem = (field, message). Whole-file problems raise
`_FileProblem`; a failed import raises `ImportFailed` with every problem found."""

from __future__ import annotations

import csv
import errno
import gzip
import io
import json
import os
import re
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path

from engine.core.errors import InputError, WorkbenchError
from engine.data.formats import BigInt, RecordIssue, type_name

SNIFF_RECORDS = 50  # records sampled for format detection
SUFFIXES = (".jsonl", ".ndjson", ".json", ".csv", ".tsv", ".parquet")
# what reading a file may raise: the OS, a truncated gzip stream (EOFError), corrupt gzip data (zlib.error)
READ_ERRORS = (OSError, EOFError, zlib.error)
BOM = b"\xef\xbb\xbf"


def _nonfinite(_: str) -> None:
    """NaN, Infinity and -Infinity are not JSON (Python's json reads them): read as null, as JavaScript writes them."""
    return None


def _int_or_big(digits: str) -> int | BigInt:
    try:
        return int(digits)
    except ValueError:  # more digits than int() reads: kept as they are
        return BigInt(digits)


_DECODER = json.JSONDecoder(parse_constant=_nonfinite)  # as fast as json.loads: ints and floats stay native
_LENIENT = json.JSONDecoder(parse_constant=_nonfinite, parse_int=_int_or_big)  # for the rare too-long integer


def _too_deep() -> str:
    return f"nested too deeply (at most about {sys.getrecursionlimit():,} levels of arrays and objects are read)"


def parse_json(text: str) -> tuple[object, str | None]:
    """(value, None) for one JSON document, or (None, problem). NaN/Infinity read as null, integers too long for
    int() as `BigInt`; a document nested too deeply for Python's parser is a problem, not a RecursionError."""
    try:
        return _DECODER.decode(text), None
    except json.JSONDecodeError as e:
        return None, f"invalid JSON: {e.msg}" + (f" (column {e.colno})" if e.colno else "")
    except ValueError:  # an integer longer than int() reads (sys.get_int_max_str_digits)
        pass
    except RecursionError:
        return None, _too_deep()
    try:
        return _LENIENT.decode(text), None
    except json.JSONDecodeError as e:
        return None, f"invalid JSON: {e.msg}" + (f" (column {e.colno})" if e.colno else "")
    except RecursionError:
        return None, _too_deep()


def _raw_decode(text: str, i: int) -> tuple[object, int]:
    """One JSON value at text[i:] as (value, end); raises json.JSONDecodeError, or RecursionError."""
    try:
        return _DECODER.raw_decode(text, i)
    except json.JSONDecodeError:
        raise
    except ValueError:  # a too-long integer
        return _LENIENT.raw_decode(text, i)


_SKIP_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]|[^"\[\]{}]+', re.S)


def _skip_value(text: str, i: int) -> int | None:
    """End of the array or object that starts at text[i], found without recursion (for a value nested too deeply
    to parse); None if it is not closed."""
    depth = 0
    pos = i
    match = _SKIP_TOKEN.match
    while True:
        m = match(text, pos)
        if m is None:
            return None
        t = m.group()
        pos = m.end()
        if t == "[" or t == "{":
            depth += 1
        elif t == "]" or t == "}":
            depth -= 1
            if depth <= 0:
                return pos


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
    return [f for f, _ in import_listing(path)]


def import_listing(path: str | Path) -> list[tuple[Path, str]]:
    """(resolved file, name for messages) for each file an import of `path` reads: the file itself (named by its
    name), or every supported file under a folder, sorted (named by its path inside the folder). A link in the
    folder that leads nowhere (a loop, a missing target) is listed as it is: reading it reports why."""
    p = Path(path)
    problem = link_problem(p)
    if problem is not None:
        raise InputError(f"{p}: {problem}")
    if not p.exists():
        raise FileNotFoundError(errno.ENOENT, "no such file or folder", str(p))
    if not p.is_dir():
        if not p.is_file():
            kind = "a FIFO" if p.is_fifo() else "not a regular file"
            raise InputError(f"{p}: {kind}; import reads files and folders (use - for standard input)")
        return [(p.resolve(), p.name)]
    files = []
    for f in sorted(p.rglob("*")):
        if not _supported(f):
            continue
        if f.is_file():
            files.append((f.resolve(), f.relative_to(p).as_posix()))
        elif f.is_symlink() and link_problem(f) is not None:
            files.append((f, f.relative_to(p).as_posix()))
    if not files:
        raise ImportFailed(
            [RecordIssue(str(p), None, None, None, f"folder has no supported files ({', '.join(SUFFIXES)}, .gz)")]
        )
    return files


def link_problem(p: Path) -> str | None:
    """Why `p` cannot be read where that is a symbolic link's doing (a loop, a missing target) or a stat error;
    None for a path that exists, or that is simply missing."""
    try:
        p.stat()
    except FileNotFoundError:
        return f"a link to {os.readlink(p)}, which does not exist" if p.is_symlink() else None
    except OSError as e:  # a link loop (ELOOP), no permission to look, a name too long ...
        if e.errno == errno.ELOOP:
            return "a symbolic link loop (the link leads back to itself)"
        return f"cannot read: {e.strerror or e}"
    return None


def file_size(p: Path) -> int:
    """Size of a file in bytes; 0 for one that cannot be looked at (its reading reports why)."""
    try:
        return p.stat().st_size
    except OSError:
        return 0


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
    except READ_ERRORS as e:
        raise _FileProblem(_read_failure(path, e)) from None
    s = first.strip(b"\xef\xbb\xbf \t\r\n")
    if not s or s[:1] == b"[":
        return "json"
    if s[:1] == b"{":
        try:
            text = s.decode("utf-8")
        except UnicodeDecodeError:
            return "jsonl"  # its reader names the line and byte
        obj, problem = parse_json(text)
        if problem is None or problem == _too_deep():  # one whole object on the first line
            return "jsonl"
        return "json"
    return "jsonl"


def _read_failure(path: Path, e: BaseException) -> str:
    """What reading `path` ran into, in words (corrupt or truncated gzip data, an OS error)."""
    if isinstance(e, (zlib.error, EOFError, gzip.BadGzipFile)):
        return f"cannot read the gzip data: {e}"
    if isinstance(e, OSError) and e.strerror:
        return f"cannot read: {e.strerror}"
    return f"cannot read: {e}"


def _check_encoding(path: Path) -> None:
    """A file in UTF-16 or UTF-32 (a byte order mark, or NUL bytes in every other byte) is refused as a whole: one
    clear message instead of an error per line."""
    try:
        with _open(path) as f:
            head = f.read(4)
    except READ_ERRORS as e:
        raise _FileProblem(_read_failure(path, e)) from None
    if head[:4] in (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff"):
        enc = "UTF-32"
    elif head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        enc = "UTF-16"
    elif len(head) == 4 and (
        (head[1] == 0 and head[3] == 0 and head[0] and head[2])
        or (head[0] == 0 and head[2] == 0 and head[1] and head[3])
    ):
        enc = "UTF-16 (no byte order mark)"
    else:
        return
    raise _FileProblem(f"the file is {enc} text; Workbench reads UTF-8: convert it first (iconv -f UTF-16 -t UTF-8)")


class _Reader:
    """Iterates (record_index, line, obj, raw, problem) with problem = (field, message) or None."""

    kind = ""

    def __init__(self, path: Path, mapping: dict | None = None):
        self.path = path
        self.mapping = mapping or {}
        self.size = max(path.stat().st_size, 1)
        self.pos = 0  # bytes of the (compressed) file consumed so far
        self.columns: list[str] | None = None  # parquet/csv column names when known
        self.unreadable: tuple = (0, None, None)  # set by _sample: (count, first line, first message)

    def __iter__(self) -> Iterator[tuple]:
        raise NotImplementedError


class _JsonlReader(_Reader):
    kind = "jsonl"

    def __iter__(self):
        decode = _DECODER.decode
        idx = 0
        offset = 0
        lineno = 0
        gz = self.path.name.lower().endswith(".gz")
        raw = open(self.path, "rb")
        f = gzip.GzipFile(fileobj=raw, mode="rb") if gz else raw
        n = 0
        try:
            for lineno, b in enumerate(f, 1):  # split on b"\n" only (never U+2028)
                size = len(b)
                if b[:3] == BOM:  # a byte order mark (at the start of a file, or of files joined with cat)
                    b = b[3:]
                try:
                    text = b.decode("utf-8")
                except UnicodeDecodeError as e:
                    where = offset + size - len(b) + e.start
                    yield (
                        idx,
                        lineno,
                        None,
                        b,
                        (
                            None,
                            f"invalid UTF-8: byte 0x{b[e.start]:02x} at byte offset {where}{' (decompressed)' if gz else ''}",
                        ),
                    )
                else:
                    try:
                        obj = decode(text)
                    except (ValueError, RecursionError):
                        if not b.strip():
                            offset += size
                            continue
                        obj, problem = parse_json(text)  # the message, or a too-long integer read after all
                        if problem is None:
                            yield idx, lineno, obj, b, None
                        else:
                            yield idx, lineno, None, b, (None, problem)
                    else:
                        yield idx, lineno, obj, b, None
                idx += 1
                offset += size
                n += 1
                if n & 4095 == 0:
                    self.pos = raw.tell() if gz else offset
        except READ_ERRORS as e:  # corrupt or truncated gzip data, a read error
            where = f" after line {lineno}" if lineno else ""
            yield idx, None, None, None, (None, f"{_read_failure(self.path, e)} (the file breaks off{where})")
        finally:
            self.pos = self.size
            f.close()
            if gz:
                raw.close()


_WS = re.compile(r"[ \t\n\r]*")
_TOO_DEEP = object()  # a record of a JSON array nested too deeply to parse (skipped over, reported)
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
            except READ_ERRORS as e:
                raise _FileProblem(_read_failure(self.path, e)) from None
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
                obj, end = _raw_decode(text, i)
                if ws(text, end).end() != n:
                    raise json.JSONDecodeError("Extra data", text, end)
            except json.JSONDecodeError as e:
                raise _FileProblem(f"invalid JSON: {e.msg} (line {e.lineno} column {e.colno})", line=e.lineno) from None
            except RecursionError:
                raise _FileProblem(_too_deep()) from None
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
        decode = _raw_decode
        i += 1
        line = 1 + text.count("\n", 0, i)
        last = i
        idx = 0
        closed = None  # where the array closes
        while True:
            i = ws(text, i).end()
            if i >= n:
                if sampling:
                    return
                line += text.count("\n", last, i)
                yield idx, line, None, None, (None, "truncated JSON: the file ends before the array is closed")
                break
            if text[i] == "]" and idx == 0:
                closed = i
                break
            line += text.count("\n", last, i)
            last = i
            try:
                obj, end = decode(text, i)
            except json.JSONDecodeError as e:
                if sampling:
                    return
                ends = e.pos >= len(text.rstrip()) or "Unterminated" in e.msg  # not a trailing comma before ]
                what = "truncated JSON" if ends else "invalid JSON"
                yield idx, line, None, text[i : i + 500], (None, f"{what}: {e.msg} (line {e.lineno} column {e.colno})")
                break
            except RecursionError:
                end = _skip_value(text, i)
                if end is None:  # not closed before the end of the text
                    if sampling:
                        return
                    yield idx, line, None, text[i : i + 500], (None, f"truncated JSON: {_too_deep()}, and not closed")
                    break
                obj = _TOO_DEEP
            if obj is _TOO_DEEP:
                yield idx, line, None, text[i : i + 500], (None, _too_deep())
            elif bad and _SURROGATE.search(text, i, end):
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
                closed = i
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
        if closed is not None and not sampling:
            j = ws(text, closed + 1).end()
            if j < n:  # a second array or other text after the first: never dropped quietly
                at = 1 + text.count("\n", 0, j)
                yield idx, at, None, text[j : j + 200], (None, "invalid JSON: more data after the array closes")
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
            except READ_ERRORS as e:  # corrupt or truncated gzip data, a read error
                yield idx, None, None, None, (None, f"{_read_failure(self.path, e)} (the file breaks off)")
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
            except READ_ERRORS as e:  # corrupt or truncated gzip data, a read error
                where = f" after line {reader.line_num}" if reader.line_num else ""
                yield idx, None, None, None, (None, f"{_read_failure(self.path, e)} (the file breaks off{where})")
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
    except READ_ERRORS:
        return False
    lines = [line + "\n" for line in head.split("\n")]  # never splitlines(): U+2028 is no line break
    if len(head) >= (1 << 16) and len(lines) > 1:
        lines = lines[:-1]
    try:
        rows = [r for r in csv.reader(lines, delimiter=delim) if r][:SNIFF_RECORDS]
    except csv.Error:  # not CSV at all: the reader says where
        return False
    return bool(rows) and all(len(r) >= 5 and r[-1].strip() in ("A", "B", "C", "D", "E") for r in rows)


class _ParquetReader(_Reader):
    kind = "parquet"

    def __init__(self, path: Path, mapping: dict | None = None):
        super().__init__(path, mapping)
        import pyarrow.parquet as pq

        try:
            self.pf = pq.ParquetFile(path)
        except Exception as e:  # pyarrow raises ArrowInvalid / OSError for non-parquet data
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise _FileProblem(f"not a readable Parquet file: {first}") from None
        self.columns = list(self.pf.schema_arrow.names)
        self.total = self.pf.metadata.num_rows

    def __iter__(self):
        import pyarrow as pa

        idx = 0
        batches = self.pf.iter_batches(batch_size=10_000)
        while True:
            try:
                batch = next(batches, None)
                if batch is None:
                    break
                recs = batch.to_pylist()
            except (pa.ArrowException, OSError, ValueError) as e:  # corrupt pages, a wrong encoding in the file
                first = (str(e).strip().splitlines() or [type(e).__name__])[0]
                yield idx, None, None, None, (None, f"cannot read the Parquet data from row {idx}: {first}")
                break
            for rec in recs:
                yield idx, None, rec, None, None
                idx += 1
            self.pos = int(self.size * idx / max(self.total, 1))
        self.pos = self.size


def _reader(path: Path, mapping: dict | None) -> tuple[_Reader, bool]:
    """(reader, headerless_mcq) for a file."""
    mapping = mapping or {}
    kind = _file_kind(path)
    if kind != "parquet":
        _check_encoding(path)
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
    """Up to n readable records for format detection; `reader.unreadable` holds (count, line, message) of the
    records that could not be read on the way (the first one's line and message)."""
    out = []
    seen = 0
    bad: list = [0, None, None]
    for _, line, obj, _, problem in reader:
        seen += 1
        if problem is None:
            out.append(obj)
            if len(out) >= n:
                break
        else:
            if not bad[0]:
                bad[1], bad[2] = line, problem[1]
            bad[0] += 1
    reader.unreadable = tuple(bad)
    if not seen:
        raise _FileProblem("file is empty (no records)")
    return out
