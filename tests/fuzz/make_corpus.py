"""The import fuzz corpus, generated (nothing of it is committed): bad encodings, truncations of valid JSON, JSON
Lines, CSV, Parquet and gzip files at many offsets, wrong types per field, deep nesting, huge numbers and strings,
corrupt compressed files, ragged CSV, wrong Parquet schemas, symbolic link loops, empty files, NUL bytes and U+2028.

`make_corpus(folder)` writes it and returns its cases; `python -m tests.fuzz.make_corpus FOLDER` writes it and a
manifest.json. Each case is a path to import with what is known of the outcome: `ok` True (it must import in both
modes), False (the default all-or-nothing import must fail) or None (either); `line` where a message must name one;
`name` how messages name the file."""

from __future__ import annotations

import gzip
import io
import json
import os
import random
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


@dataclass
class Case:
    path: str
    name: str  # how a message names the file (its name; a path inside a folder)
    group: str
    ok: bool | None = None
    line: int | None = None  # a line a failure's message must name
    args: list[str] = field(default_factory=list)


ALPACA = [
    {"instruction": "Add the numbers.", "input": "2 and 3", "output": "5"},
    {"instruction": "Name a colour — in French: «bleu»?", "input": "", "output": "Bleu. 青 🙂"},
    {"instruction": "Split\u2028here and\u2029there", "output": "U+2028 and U+2029 inside strings"},
    {"instruction": 'Tabs\tand "quotes", commas', "output": "ok\nmulti\nline"},
    {"instruction": "Last one", "output": "done"},
]
SHAREGPT = [
    {"conversations": [{"from": "human", "value": f"Hi {i}?"}, {"from": "gpt", "value": f"Hello {i}."}]}
    for i in range(4)
]
MESSAGES = [
    {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": f"Q{i}?"},
            {"role": "assistant", "content": f"A{i}."},
        ]
    }
    for i in range(4)
]


def _jsonl(recs) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in recs).encode("utf-8")


def _json(recs) -> bytes:
    return json.dumps(recs, ensure_ascii=False, indent=2).encode("utf-8")


def _csv(recs, delim: str = ",") -> bytes:
    import csv

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=["instruction", "input", "output"], delimiter=delim, lineterminator="\n")
    w.writeheader()
    for r in recs:
        w.writerow({k: r.get(k, "") for k in ("instruction", "input", "output")})
    return buf.getvalue().encode("utf-8")


def _parquet(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def _gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def _offsets(n: int, k: int, rnd: random.Random) -> list[int]:
    """k cut points in (0, n): the first and last bytes, evenly spaced ones and a few random ones."""
    pts = {1, 2, n - 1, n - 2, n // 2}
    pts |= {n * i // (k // 2 + 1) for i in range(1, k // 2 + 1)}
    while len(pts) < k and n > k:
        pts.add(rnd.randrange(1, n))
    return sorted(p for p in pts if 0 < p < n)[:k]


def make_corpus(out: Path, *, seed: int = 0, cuts: int = 8) -> list[Case]:
    """Write the corpus under `out` (created) and return its cases."""
    rnd = random.Random(seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cases: list[Case] = []

    def add(group: str, name: str, data: bytes, ok=None, line=None, args=()) -> Path:
        p = out / group / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        cases.append(Case(str(p), p.name, group, ok, line, list(args)))
        return p

    # -- valid files, each kind: they must import (the baseline the truncations start from)
    valid = {
        "alpaca.jsonl": _jsonl(ALPACA),
        "sharegpt.json": _json(SHAREGPT),
        "messages.jsonl": _jsonl(MESSAGES),
        "alpaca.csv": _csv(ALPACA),
        "alpaca.tsv": _csv(ALPACA, "\t"),
        "alpaca.parquet": _parquet(pa.Table.from_pylist(ALPACA)),
        "alpaca.jsonl.gz": _gz(_jsonl(ALPACA)),
        "sharegpt.json.gz": _gz(_json(SHAREGPT)),
        "alpaca.csv.gz": _gz(_csv(ALPACA)),
    }
    for name, data in valid.items():
        add("valid", name, data, ok=True)

    # -- truncations at many offsets of each valid file
    for name, data in valid.items():
        stem, _, ext = name.partition(".")
        for cut in _offsets(len(data), cuts, rnd):
            add("truncated", f"{stem}-cut{cut}.{ext}", data[:cut])

    # -- encodings
    latin = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ALPACA[:2])
    add("encoding", "latin1.jsonl", latin.encode("latin-1", "replace"), ok=False, line=2)
    add("encoding", "latin1.csv", _csv(ALPACA[:2]).decode().encode("latin-1", "replace"), ok=False, line=3)
    add("encoding", "latin1.json", _json(ALPACA[:2]).decode().encode("latin-1", "replace"), ok=False)
    text = _jsonl(ALPACA).decode()
    add("encoding", "utf16le-bom.jsonl", text.encode("utf-16"), ok=False)
    add("encoding", "utf16le.jsonl", text.encode("utf-16-le"), ok=False)
    add("encoding", "utf16be.jsonl", text.encode("utf-16-be"), ok=False)
    add("encoding", "utf16le.json", _json(ALPACA).decode().encode("utf-16-le"), ok=False)
    add("encoding", "utf16le.csv", _csv(ALPACA).decode().encode("utf-16-le"), ok=False)
    add("encoding", "utf32.jsonl", text.encode("utf-32"), ok=False)
    add("encoding", "bom.jsonl", b"\xef\xbb\xbf" + _jsonl(ALPACA), ok=True)
    add("encoding", "bom.json", b"\xef\xbb\xbf" + _json(SHAREGPT), ok=True)
    add("encoding", "bom.csv", b"\xef\xbb\xbf" + _csv(ALPACA), ok=True)
    add("encoding", "bom-every-line.jsonl", b"".join(b"\xef\xbb\xbf" + ln for ln in _jsonl(ALPACA).splitlines(True)))
    add(
        "encoding",
        "bom-mid-line.jsonl",
        b'{"instruction": "a\xef\xbb\xbf", "output": "b"}\n' + _jsonl(ALPACA[:1]),
        ok=True,
    )
    good = _jsonl(ALPACA[:1])
    for label, bad in {
        "overlong": b"\xc0\xaf",
        "continuation": b"\x80",
        "cut-multibyte": b"\xe6\x97",
        "surrogate": b"\xed\xa0\x80",
        "ff": b"\xff\xfe",
        "above-unicode": b"\xf4\x90\x80\x80",
    }.items():
        add(
            "encoding",
            f"utf8-{label}.jsonl",
            good + b'{"instruction": "x' + bad + b'", "output": "y"}\n',
            ok=False,
            line=2,
        )
        add("encoding", f"utf8-{label}.csv", b"instruction,output\nfine,yes\nx" + bad + b",y\n", ok=False, line=3)
    add(
        "encoding",
        "utf8-bad.json",
        b'[{"instruction": "a", "output": "b"},\n {"instruction": "\xff", "output": "c"}]',
        ok=False,
        line=2,
    )
    add(
        "encoding",
        "lone-surrogate-escape.jsonl",
        good + b'{"instruction": "\\ud800 lone", "output": "y"}\n',
        ok=False,
        line=2,
    )
    add("encoding", "nul-escape.jsonl", b'{"instruction": "a\\u0000b", "output": "nul inside"}\n', ok=True)
    add("encoding", "nul-raw.jsonl", good + b'{"instruction": "a\x00b", "output": "c"}\n', ok=False, line=2)
    add("encoding", "nul-bytes-only.jsonl", b"\x00" * 64, ok=False)
    add("encoding", "nul-between.jsonl", good + b"\x00\n" + good, ok=False, line=2)
    add("encoding", "nul.csv", b"instruction,output\na\x00b,c\n", ok=None)
    add("encoding", "u2028-line-separator.jsonl", good.rstrip(b"\n") + "\u2028".encode() + good, ok=False, line=1)
    add(
        "encoding", "u2028-raw-in-string.jsonl", '{"instruction": "a\u2028b\u0085c", "output": "d"}\n'.encode(), ok=True
    )
    add("encoding", "u2028.csv", "instruction,output\na\u2028b,c\u2029d\n".encode(), ok=True)
    add("encoding", "crlf.jsonl", _jsonl(ALPACA).replace(b"\n", b"\r\n"), ok=True)
    add("encoding", "cr-only.jsonl", _jsonl(ALPACA).replace(b"\n", b"\r"), ok=False, line=1)
    add("encoding", "crlf.csv", _csv(ALPACA).replace(b"\n", b"\r\n"), ok=True)
    add("encoding", "control-chars.jsonl", b'{"instruction": "a\x01b", "output": "c"}\n', ok=False, line=1)

    # -- wrong types per field
    wrong = [0, 1.5, None, ["a"], {"a": 1}]
    for key in ("instruction", "input", "output", "system", "history"):
        for i, v in enumerate(wrong):
            rec = {"instruction": "q", "input": "", "output": "a", key: v}
            add("types", f"alpaca-{key}-{i}.jsonl", good + _jsonl([rec]))
    for i, v in enumerate(wrong + ["text"]):
        add("types", f"sharegpt-conversations-{i}.json", _json(SHAREGPT[:1] + [{"conversations": v}]))
        add(
            "types",
            f"sharegpt-value-{i}.jsonl",
            _jsonl([SHAREGPT[0], {"conversations": [{"from": "human", "value": v}]}]),
        )
        add("types", f"sharegpt-from-{i}.jsonl", _jsonl([SHAREGPT[0], {"conversations": [{"from": v, "value": "x"}]}]))
        add(
            "types",
            f"messages-content-{i}.jsonl",
            _jsonl([MESSAGES[0], {"messages": [{"role": "user", "content": v}]}]),
        )
        add("types", f"messages-role-{i}.jsonl", _jsonl([MESSAGES[0], {"messages": [{"role": v, "content": "x"}]}]))
        add("types", f"messages-tools-{i}.jsonl", _jsonl([MESSAGES[0], {**MESSAGES[1], "tools": v}]))
    add("types", "record-not-object.jsonl", good + b'"just a string"\n[1, 2]\n42\nnull\n', ok=False, line=2)
    add("types", "array-of-scalars.json", b"[1, 2, 3]", ok=False)
    add("types", "object-of-lists.json", json.dumps({"train": ALPACA, "test": ALPACA}).encode(), ok=False)
    add("types", "top-level-string.json", b'"hello"', ok=False)
    add("types", "top-level-null.json", b"null", ok=False)
    add("types", "duplicate-keys.jsonl", b'{"instruction": 1, "instruction": "q", "output": "a"}\n', ok=True)
    add("types", "tools-bad-json-text.jsonl", _jsonl([MESSAGES[0], {**MESSAGES[1], "tools": "[{not json"}]))
    add("types", "mixed-formats.jsonl", _jsonl([ALPACA[0], MESSAGES[0], SHAREGPT[0]]))

    # -- deep nesting: in meta, in a used field, alone, in a JSON array, unclosed, inside a JSON string
    for depth in (500, 990, 1000, 5000, 100_000):
        nest = "[" * depth + "]" * depth
        add("deep", f"meta-{depth}.jsonl", good + f'{{"instruction": "q", "output": "a", "x": {nest}}}\n'.encode())
        add(
            "deep",
            f"field-{depth}.jsonl",
            good + f'{{"instruction": {nest}, "output": "a"}}\n'.encode(),
            ok=False,
            line=2,
        )
    deep = "[" * 5000 + "]" * 5000
    add("deep", "only-record.jsonl", f'{{"instruction": "q", "output": "a", "x": {deep}}}\n'.encode(), ok=False, line=1)
    add(
        "deep",
        "array-middle.json",
        f'[{json.dumps(ALPACA[0])},\n{{"x": {deep}}},\n{json.dumps(ALPACA[1])}]'.encode(),
        ok=False,
        line=2,
    )
    add("deep", "single-object.json", f'{{"instruction": "q", "output": "a", "x": {deep}}}'.encode(), ok=False)
    add("deep", "unclosed.json", ("[" + json.dumps(ALPACA[0]) + ",\n" + "[" * 5000).encode(), ok=False, line=2)
    add("deep", "unclosed.jsonl", good + b"{" + b'"a":{' * 5000 + b"\n", ok=False, line=2)
    add(
        "deep",
        "objects.jsonl",
        good + ('{"instruction": "q", "output": "a", "x": ' + '{"k":' * 5000 + "1" + "}" * 5001 + "\n").encode(),
        ok=False,
        line=2,
    )
    add("deep", "tools-string.jsonl", _jsonl([MESSAGES[0], {**MESSAGES[1], "tools": deep}]))
    add("deep", "first-line-deep.json", (deep + "\n").encode(), ok=False)
    add("deep", "csv-cell.csv", f"instruction,output\n{deep},a\n".encode(), ok=True)

    # -- huge numbers and strings
    big = "9" * 5000
    add("numbers", "bigint-only-record.jsonl", f'{{"instruction": "q", "output": "a", "n": {big}}}\n'.encode(), ok=True)
    add(
        "numbers",
        "bigint-negative.jsonl",
        f'{{"instruction": "q", "output": "a", "n": [-{big}, 1]}}\n'.encode(),
        ok=True,
    )
    add(
        "numbers",
        "bigint-million-digits.jsonl",
        ('{"instruction": "q", "output": "a", "n": ' + "7" * 1_000_000 + "}\n").encode(),
        ok=True,
    )
    add(
        "numbers",
        "bigint.json",
        f'[{{"instruction": "q", "output": "a", "n": {big}}}, {json.dumps(ALPACA[0])}]'.encode(),
        ok=True,
    )
    add("numbers", "bigint-single.json", f'{{"instruction": "q", "output": "a", "n": {big}}}'.encode(), ok=True)
    add(
        "numbers",
        "bigint-in-field.jsonl",
        good + f'{{"instruction": {big}, "output": "a"}}\n'.encode(),
        ok=False,
        line=2,
    )
    add(
        "numbers",
        "bigint-tool-args.jsonl",
        _jsonl([MESSAGES[0]])
        + (
            '{"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "", "tool_calls": '
            f'[{{"type": "function", "function": {{"name": "f", "arguments": {{"n": {big}}}}}}}]}}]}}\n'
        ).encode(),
    )
    for label, lit in {
        "nan": "NaN",
        "inf": "Infinity",
        "ninf": "-Infinity",
        "e400": "1e400",
        "ne400": "-1E400",
        "tiny": "1e-400",
        "float": "1.5e10",
    }.items():
        add(
            "numbers",
            f"{label}-meta.jsonl",
            f'{{"instruction": "q", "output": "a", "x": {lit}, "y": [{lit}]}}\n'.encode(),
            ok=True,
        )
        add(
            "numbers",
            f"{label}-field.jsonl",
            good + f'{{"instruction": {lit}, "output": "a"}}\n'.encode(),
            ok=False,
            line=2,
        )
    add("numbers", "nan.json", b'[{"instruction": "q", "output": "a", "score": NaN}]', ok=True)
    add(
        "numbers",
        "nan-float.parquet",
        _parquet(pa.table({"instruction": ["q", "r"], "output": ["a", "b"], "score": [float("nan"), float("inf")]})),
        ok=True,
    )
    add(
        "strings",
        "huge-string.jsonl",
        json.dumps({"instruction": "x" * 3_000_000, "output": "y"}).encode() + b"\n",
        ok=True,
    )
    add(
        "strings",
        "huge-line-no-newline.jsonl",
        json.dumps({"instruction": "q", "output": "é" * 1_000_000}).encode(),
        ok=True,
    )
    add(
        "strings",
        "huge-key.jsonl",
        json.dumps({"instruction": "q", "output": "a", "k" * 100_000: 1}).encode() + b"\n",
        ok=True,
    )
    add(
        "strings",
        "many-keys.jsonl",
        json.dumps({"instruction": "q", "output": "a", **{f"k{i}": i for i in range(20_000)}}).encode() + b"\n",
        ok=True,
    )
    add("strings", "huge-cell.csv", b"instruction,output\n" + b"q" * 3_000_000 + b",a\n", ok=True)
    add("strings", "huge-garbage-line.jsonl", good + b"x" * 2_000_000 + b"\n", ok=False, line=2)
    add("strings", "empty-strings.jsonl", b'{"instruction": "", "output": ""}\n')

    # -- corrupt compressed files
    gz = _gz(_jsonl(ALPACA * 40))
    for off in (0, 3, 10, len(gz) // 3, len(gz) // 2, len(gz) - 8, len(gz) - 4, len(gz) - 1):
        flip = bytearray(gz)
        flip[off] ^= 0x5A
        add("gzip", f"flip{off}.jsonl.gz", bytes(flip), ok=False if off in (0, 3) else None)
    for off in (len(gz) // 3, len(gz) - 1):
        flip = bytearray(_gz(_json(SHAREGPT * 20)))
        flip[min(off, len(flip) - 1)] ^= 0x5A
        add("gzip", f"flip{off}.json.gz", bytes(flip))
        flip = bytearray(_gz(_csv(ALPACA * 40)))
        flip[min(off, len(flip) - 1)] ^= 0x5A
        add("gzip", f"flip{off}.csv.gz", bytes(flip))
    add("gzip", "not-gzip.jsonl.gz", _jsonl(ALPACA), ok=False)
    add("gzip", "empty.jsonl.gz", b"", ok=False)
    add("gzip", "gzip-of-nothing.jsonl.gz", _gz(b""), ok=False)
    add("gzip", "double.jsonl.gz", _gz(_gz(_jsonl(ALPACA))), ok=False)
    add("gzip", "two-members.jsonl.gz", _gz(_jsonl(ALPACA[:2])) + _gz(_jsonl(ALPACA[2:])), ok=True)
    add("gzip", "trailing-garbage.jsonl.gz", _gz(_jsonl(ALPACA)) + b"garbage!", ok=None)
    add("gzip", "trailing-zeros.jsonl.gz", _gz(_jsonl(ALPACA)) + b"\x00" * 16, ok=None)
    add("gzip", "header-only.jsonl.gz", _gz(_jsonl(ALPACA))[:10], ok=False)
    add("gzip", "corrupt.parquet.gz", _gz(b"PAR1garbage"), ok=False)

    # -- ragged CSV
    add("csv", "more-fields.csv", b"instruction,output\na,b\nc,d,e\nf,g\n", ok=False, line=3)
    add("csv", "fewer-fields.csv", b"instruction,input,output\na,b,c\nd,e\n", ok=False, line=3)
    add("csv", "unterminated-quote.csv", b'instruction,output\na,b\n"c,d\ne,f\n', ok=False)
    add("csv", "quote-in-field.csv", b'instruction,output\na"b,c\n', ok=True)
    add("csv", "header-only.csv", b"instruction,output\n", ok=False)
    add("csv", "duplicate-header.csv", b"instruction,instruction,output\na,b,c\n", ok=True)
    add("csv", "empty-header.csv", b",,\na,b,c\n", ok=False)
    add("csv", "semicolons.csv", b"instruction;output\na;b\n", ok=False)
    add("csv", "multiline-field.csv", b'instruction,output\n"a\nb",c\n', ok=True)
    add("csv", "blank-lines.csv", b"\n\ninstruction,output\n\na,b\n\n", ok=True)
    add("csv", "missing-column.csv", b"question,answer_text\na,b\n", ok=False)
    add("csv", "mcq-ragged.csv", b"q1,a,b,c,d,A\nq2,a,b,c,d\nq3,a,b,c,d,B\n", ok=False)
    add("csv", "only-commas.csv", b",,,\n,,,\n", ok=False)
    add("csv", "tsv-with-commas.tsv", b"instruction\toutput\na,b\tc\n", ok=True)
    add("csv", "garbage.csv", bytes(rnd.randrange(256) for _ in range(3000)), ok=False)

    # -- wrong Parquet schemas
    pqs = {
        "int-instruction": pa.table({"instruction": [1, 2], "output": ["a", "b"]}),
        "list-instruction": pa.table({"instruction": [["a"], ["b"]], "output": ["a", "b"]}),
        "struct-output": pa.table({"instruction": ["a", "b"], "output": [{"x": 1}, {"x": 2}]}),
        "null-column": pa.table({"instruction": pa.array([None, None], pa.string()), "output": ["a", "b"]}),
        "no-known-columns": pa.table({"foo": ["a"], "bar": ["b"]}),
        "zero-rows": pa.table({"instruction": pa.array([], pa.string()), "output": pa.array([], pa.string())}),
        "zero-columns": pa.table({}),
        "messages-wrong": pa.table({"messages": [[{"role": "user", "content": 1}]]}),
        "messages-string": pa.table({"messages": ["not a list"]}),
        "binary": pa.table({"instruction": pa.array([b"\xff\xfe", b"ok"], pa.binary()), "output": ["a", "b"]}),
        "timestamps": pa.table({"instruction": ["a"], "output": ["b"], "t": pa.array([0], pa.timestamp("s"))}),
        "decimal": pa.table({"instruction": ["a"], "output": ["b"], "d": pa.array([1], pa.decimal128(5, 2))}),
        "dictionary": pa.table({"instruction": pa.array(["a", "b"]).dictionary_encode(), "output": ["a", "b"]}),
        "large-string": pa.table({"instruction": pa.array(["a"], pa.large_string()), "output": ["b"]}),
    }
    for label, table in pqs.items():
        add("parquet", f"{label}.parquet", _parquet(table))
    pdata = _parquet(pa.Table.from_pylist(ALPACA * 50))
    for off in (4, len(pdata) // 4, len(pdata) // 2, len(pdata) - 12):
        flip = bytearray(pdata)
        for k in range(off, min(off + 8, len(flip) - 8)):
            flip[k] ^= 0xA5
        add("parquet", f"corrupt{off}.parquet", bytes(flip))
    add("parquet", "csv-named-parquet.parquet", _csv(ALPACA), ok=False)
    add("parquet", "magic-only.parquet", b"PAR1PAR1", ok=False)
    add("parquet", "jsonl-named-json.json", _jsonl(ALPACA), ok=True)
    add("parquet", "parquet-named-jsonl.jsonl", pdata, ok=False, line=1)

    # -- empty and nearly empty files
    for name, data in {
        "empty.jsonl": b"",
        "empty.json": b"",
        "empty.csv": b"",
        "empty.tsv": b"",
        "empty.parquet": b"",
        "blank.jsonl": b"\n\n  \n",
        "blank.json": b"  \n\t\n",
        "empty-array.json": b"[]",
        "empty-object.json": b"{}",
        "null.json": b"null",
        "array-of-null.json": b"[null]",
        "array-of-empty.json": b"[{}]",
        "zero.jsonl": b"0\n",
        "empty-object.jsonl": b"{}\n",
        "brackets.jsonl": b"[]\n",
        "one-space.csv": b" ",
        "newline.csv": b"\n",
    }.items():
        add("empty", name, data, ok=False)

    # -- JSON arrays: more than one value, trailing commas and data after the close
    add("json", "two-arrays.json", _json(ALPACA[:2]) + _json(ALPACA[2:]), ok=False, line=None)
    add("json", "trailing-comma.json", b'[{"instruction": "a", "output": "b"},]', ok=False, line=1)
    add("json", "comments.json", b'[// a comment\n{"instruction": "a", "output": "b"}]', ok=False, line=1)
    add(
        "json",
        "missing-comma.json",
        b'[{"instruction": "a", "output": "b"}\n{"instruction": "c", "output": "d"}]',
        ok=False,
        line=2,
    )
    add("json", "single-quotes.jsonl", b"{'instruction': 'a', 'output': 'b'}\n", ok=False, line=1)
    add(
        "json",
        "concatenated-objects.jsonl",
        b'{"instruction": "a", "output": "b"}{"instruction": "c", "output": "d"}\n',
        ok=False,
        line=1,
    )

    # -- symbolic links: loops, dangling, a loop and a bad file inside a folder
    links = out / "links"
    links.mkdir(exist_ok=True)
    os.symlink("loop-b.jsonl", links / "loop-a.jsonl")
    os.symlink("loop-a.jsonl", links / "loop-b.jsonl")
    os.symlink("self.jsonl", links / "self.jsonl")
    os.symlink("nowhere.jsonl", links / "dangling.jsonl")
    for name in ("loop-a.jsonl", "self.jsonl", "dangling.jsonl"):
        cases.append(Case(str(links / name), name, "links", ok=False))
    folder = out / "folders" / "withloop"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.jsonl").write_bytes(_jsonl(ALPACA[:2]))
    os.symlink("loop.jsonl", folder / "sub" / "loop.jsonl")
    os.symlink("..", folder / "sub" / "up")  # a folder loop: not followed
    cases.append(Case(str(folder), "sub/loop.jsonl", "folders", ok=False))
    folder = out / "folders" / "badsub"
    (folder / "sub" / "deeper").mkdir(parents=True)
    (folder / "a.jsonl").write_bytes(_jsonl(ALPACA[:2]))
    (folder / "sub" / "deeper" / "c.jsonl").write_bytes(_jsonl(ALPACA[2:4]) + b'{"instruction": 3, "output": "x"}\n')
    cases.append(Case(str(folder), "sub/deeper/c.jsonl", "folders", ok=False, line=3))
    folder = out / "folders" / "allbad"
    folder.mkdir(parents=True)
    (folder / "x.jsonl").write_bytes(b"nope\n")
    (folder / "y.csv").write_bytes(b"")
    cases.append(Case(str(folder), "x.jsonl", "folders", ok=False))
    folder = out / "folders" / "nothing"
    folder.mkdir(parents=True)
    (folder / "notes.txt").write_bytes(b"hello")
    cases.append(Case(str(folder), "nothing", "folders", ok=False))

    # -- dataset_info.json (imported entry by entry)
    for label, info in {
        "garbage": b"{not json",
        "deep": ("[" * 5000 + "]" * 5000).encode(),
        "list": b"[]",
        "entries": json.dumps(
            {
                "loop": {"file_name": "loop.jsonl"},
                "missing": {"file_name": "missing.jsonl"},
                "bad": {"file_name": "bad.jsonl"},
                "weird": {"file_name": 42},
                "nested": {"file_name": "x.jsonl", "columns": {"prompt": ["a"]}},
            }
        ).encode(),
    }.items():
        d = out / "dataset_info" / label
        d.mkdir(parents=True)
        (d / "dataset_info.json").write_bytes(info)
        (d / "bad.jsonl").write_bytes(b"nope\n")
        os.symlink("loop.jsonl", d / "loop.jsonl")
        cases.append(Case(str(d / "dataset_info.json"), "dataset_info.json", "dataset_info", ok=None))

    # -- random bytes and mutations of valid files
    for i in range(12):
        name, data = list(valid.items())[i % len(valid)]
        buf = bytearray(data)
        for _ in range(rnd.randrange(1, 6)):
            buf[rnd.randrange(len(buf))] = rnd.randrange(256)
        stem, _, ext = name.partition(".")
        add("mutated", f"{stem}-m{i}.{ext}", bytes(buf))
    for ext in ("jsonl", "json", "csv", "parquet"):
        add("random", f"noise.{ext}", bytes(rnd.randrange(256) for _ in range(2048)), ok=False)
    return cases


def main(argv: list[str]) -> int:
    out = Path(argv[0])
    cases = make_corpus(out)
    (out / "manifest.json").write_text(json.dumps([asdict(c) for c in cases], indent=1))
    print(f"{len(cases)} cases in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
