#!/usr/bin/env python3
"""Generate (and verify) Workbench's bundled sample data.

    python sample_data/make_sample_data.py           # rewrite every generated file
    python sample_data/make_sample_data.py --check   # verify, write nothing; exit 1 on any problem

The texts live in ``sample_data/source/*_texts.py`` (all hand-written for Workbench).  This script
turns them into the pool files, the eval sets, ``weak_manifest.json`` and the two generated tables
in ``README.md``.  It is deterministic: the only randomness (names and numbers for the math
templates, the order of each pool, where the weak samples sit, tool-call ids) comes from
``random.Random`` seeded with fixed values, so running it again reproduces the committed files
byte for byte.

``--check`` rebuilds everything in memory and verifies that
  * the files on disk are exactly what the generator produces (no hand edits, no drift);
  * math: every final ``#### n`` equals an independently computed value and every ``a op b = c``
    equation in the worked answer is arithmetically right, except records marked wrong_answer
    (whose final number must be wrong) and the other weak kinds;
  * code: every solution passes its three asserts, except records marked wrong_answer, empty,
    truncated, refusal, unrelated or repetitive, which must fail them while a hidden correct
    reference solution passes the same asserts (so the asserts themselves are right);
  * tool use: conversations are well formed, every tool call names a declared function and its
    arguments are a JSON object valid against the declared JSON schema, except records marked
    invalid_tool_call (which must contain at least one call that is not);
  * every weakness kind is visible from content alone (empty, refusal, truncated, repetitive ...),
    flagged near duplicates are similar to their originals and no unflagged pair in a pool is;
  * the eval sets do not overlap the pools; the README tables match the data; sizes are small.

Python 3.11 standard library only.
"""

from __future__ import annotations

import argparse
import ast
import copy
import json
import random
import re
import signal
import string
import sys
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "source"))
sys.dont_write_bytecode = True  # keep source/ free of __pycache__

import code_texts  # noqa: E402
import general_texts  # noqa: E402
import math_texts  # noqa: E402
import tool_texts  # noqa: E402

SEED = 20240514
REFUSAL = "I'm sorry, I can't help with that."
WEAK_KINDS = {
    "empty_answer": "the answer/output/code/final assistant message is an empty string",
    "truncated_answer": "the answer stops mid-sentence (or mid-expression for code)",
    "wrong_answer": "math: the final number is wrong; code: the solution fails its asserts",
    "unrelated_answer": "the answer is about something else entirely",
    "near_duplicate": "a lightly reworded copy of another record in the same pool (original_index)",
    "refusal": "the answer is the refusal \"I'm sorry, I can't help with that.\"",
    "invalid_tool_call": "a tool call whose arguments are not valid JSON or do not match the declared schema",
    "repetitive": "the same sentence (or line) repeated over and over",
}
POOL_FILES = {
    "math": "pools/math.jsonl",
    "code": "pools/code.jsonl",
    "tool_use": "pools/tool_use.json",
    "general": "pools/general.jsonl",
}
EVAL_FILES = {
    "math": "eval/math_eval.jsonl",
    "code": "eval/code_eval.jsonl",
    "tool_use": "eval/tool_eval.jsonl",
    "general": "eval/general_eval.jsonl",
}
MANIFEST = "weak_manifest.json"
README = "README.md"
NEAR_DUP_MIN = 0.5  # flagged near duplicates must be at least this similar to their original
UNFLAGGED_MAX = 0.5  # any other pair in a pool (and eval vs pool) must be less similar than this


@dataclass
class Item:
    key: str
    record: dict
    kind: str | None = None  # weakness kind, None for a normal sample
    original: str | None = None  # key of the original, for near duplicates
    note: str | None = None
    extra: dict = field(default_factory=dict)  # private facts used by --check (never written)


# ============================================================================ building


def place(good: list[Item], weak: list[Item], rng: random.Random) -> list[Item]:
    """Shuffle the good items, then insert weak ones at random places (near duplicates after
    their original)."""
    items = list(good)
    rng.shuffle(items)
    for w in weak:
        lo = 1
        if w.original is not None:
            lo = next(i for i, it in enumerate(items) if it.key == w.original) + 1
        items.insert(rng.randint(lo, len(items)), w)
    return items


def build_math() -> tuple[list[Item], list[Item]]:
    rng = random.Random(SEED + 1)
    people = list(math_texts.PEOPLE)
    rng.shuffle(people)
    person = 0
    good: list[Item] = []
    seen: set = set()
    for fn, n in math_texts.TEMPLATES:
        for v in range(n):
            p = math_texts.P(people[person % len(people)])
            q = math_texts.P(people[(person + 7) % len(people)])
            person += 1
            while True:  # redraw if this template already produced the same numbers
                question, steps, value = fn(rng, p, q, v)
                signature = (fn.__name__, tuple(sorted(re.findall(r"\d+(?:\.\d+)?", question))))
                if signature not in seen:
                    seen.add(signature)
                    break
            answer = "\n".join(steps) + f"\n#### {math_texts.num(value)}"
            good.append(
                Item(f"{fn.__name__}_{v}", {"question": question, "answer": answer}, extra={"expect": Fraction(value)})
            )
    for key, (question, answer, expect) in math_texts.HANDWRITTEN.items():
        good.append(Item(key, {"question": question, "answer": answer}, extra={"expect": Fraction(expect)}))
    weak = [
        Item(key, {"question": q, "answer": a}, kind=kind, note=note, extra={"expect": Fraction(e)})
        for key, kind, q, a, e, note in math_texts.WEAK
    ]
    weak += [
        Item(
            key,
            {"question": q, "answer": a},
            kind="near_duplicate",
            original=orig,
            note="light rewording of another problem",
            extra={"expect": Fraction(e)},
        )
        for key, orig, q, a, e in math_texts.NEAR_DUPLICATES
    ]
    pool = place(good, weak, rng)
    evals = [
        Item(key, {"question": q, "answer": a}, extra={"expect": Fraction(e)})
        for key, (q, a, e) in math_texts.EVAL.items()
    ]
    return pool, evals


def _code_record(text: str, code: str, tests: list[str]) -> dict:
    return {"text": text, "code": code, "task_id": 0, "test_list": list(tests)}


def build_code() -> tuple[list[Item], list[Item]]:
    rng = random.Random(SEED + 2)
    good = [Item(key, _code_record(text, code, tests)) for key, text, code, tests in code_texts.POOL]
    weak = [
        Item(key, _code_record(text, code, tests), kind=kind, note=note, extra={"reference": ref})
        for key, kind, text, code, tests, ref, note in code_texts.WEAK
    ]
    weak += [
        Item(
            key,
            _code_record(text, code, tests),
            kind="near_duplicate",
            original=orig,
            note="light rewording of another task",
        )
        for key, orig, text, code, tests in code_texts.NEAR_DUPLICATES
    ]
    pool = place(good, weak, rng)
    for i, it in enumerate(pool):
        it.record["task_id"] = 1 + i
    evals = [Item(key, _code_record(text, code, tests)) for key, text, code, tests in code_texts.EVAL]
    for i, it in enumerate(evals):
        it.record["task_id"] = 1001 + i
    return pool, evals


def _messages(steps: list, rng: random.Random) -> list[dict]:
    messages: list[dict] = []
    pending: list[str] = []
    for step in steps:
        kind, payload = step
        if kind in ("system", "user", "assistant"):
            messages.append({"role": kind, "content": payload})
        elif kind == "call":
            calls = []
            pending = []
            for name, args in payload:
                call_id = "call_" + "".join(rng.choices(string.ascii_letters + string.digits, k=12))
                pending.append(call_id)
                arguments = str(args) if isinstance(args, tool_texts.Raw) else json.dumps(args, ensure_ascii=False)
                calls.append({"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}})
            messages.append({"role": "assistant", "content": None, "tool_calls": calls})
        elif kind == "result":
            if len(payload) != len(pending):
                raise ValueError(f"{len(payload)} results for {len(pending)} calls")
            for call_id, content in zip(pending, payload):
                text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
                messages.append({"role": "tool", "tool_call_id": call_id, "content": text})
            pending = []
        else:
            raise ValueError(f"unknown step kind {kind!r}")
    return messages


def _tools(names: list[str]) -> list[dict]:
    return [tool_texts.TOOLS[n] for n in names]


def build_tools() -> tuple[list[Item], list[Item]]:
    rng = random.Random(SEED + 3)
    good = [Item(key, {"messages": steps, "tools": names}) for key, names, steps in tool_texts.POOL]
    weak = [
        Item(key, {"messages": steps, "tools": names}, kind=kind, note=note)
        for key, kind, names, steps, note in tool_texts.WEAK
    ]
    weak += [
        Item(
            key,
            {"messages": steps, "tools": names},
            kind="near_duplicate",
            original=orig,
            note="light rewording of another request",
        )
        for key, orig, names, steps in tool_texts.NEAR_DUPLICATES
    ]
    pool = place(good, weak, rng)
    for it in pool:  # ids are drawn in file order
        it.record = {"messages": _messages(it.record["messages"], rng), "tools": _tools(it.record["tools"])}
    evals = []
    for key, names, msgs, expected in tool_texts.EVAL:
        evals.append(
            Item(
                key,
                {
                    "messages": [{"role": r, "content": t} for r, t in msgs],
                    "tools": _tools(names),
                    "expected_calls": [{"name": n, "arguments": a} for n, a in expected],
                },
            )
        )
    return pool, evals


CUT = "<<CUT>>"


def build_general() -> tuple[list[Item], list[Item]]:
    rng = random.Random(SEED + 4)
    good = [Item(key, {"instruction": ins, "input": inp, "output": out}) for key, ins, inp, out in general_texts.POOL]
    weak = []
    for key, kind, ins, inp, out, note in general_texts.WEAK:
        extra = {}
        if kind == "truncated_answer":
            extra["full"] = out.replace(CUT, "")
            out = out.split(CUT)[0].rstrip()
        weak.append(Item(key, {"instruction": ins, "input": inp, "output": out}, kind=kind, note=note, extra=extra))
    weak += [
        Item(
            key,
            {"instruction": ins, "input": inp, "output": out},
            kind="near_duplicate",
            original=orig,
            note="light rewording of another record",
        )
        for key, orig, ins, inp, out in general_texts.NEAR_DUPLICATES
    ]
    pool = place(good, weak, rng)
    evals = [
        Item(key, {"instruction": ins, "input": inp, "reference": ref}) for key, ins, inp, ref in general_texts.EVAL
    ]
    return pool, evals


def build() -> tuple[dict[str, list[Item]], dict[str, list[Item]]]:
    pools, evals = {}, {}
    for domain, fn in (
        ("math", build_math),
        ("code", build_code),
        ("tool_use", build_tools),
        ("general", build_general),
    ):
        pools[domain], evals[domain] = fn()
    return copy.deepcopy(pools), copy.deepcopy(evals)  # never share objects with source/*_texts.py


# ============================================================================ serialising


def jsonl(records: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def manifest(pools: dict[str, list[Item]]) -> dict:
    files, counts = {}, {}
    for domain, items in pools.items():
        index = {it.key: i for i, it in enumerate(items)}
        entries = []
        for i, it in enumerate(items):
            if it.kind is None:
                continue
            e = {"index": i, "kind": it.kind}
            if it.original is not None:
                e["original_index"] = index[it.original]
            e["note"] = it.note
            entries.append(e)
        by_kind: dict[str, int] = {}
        for e in entries:
            by_kind[e["kind"]] = by_kind.get(e["kind"], 0) + 1
        files[POOL_FILES[domain]] = entries
        counts[POOL_FILES[domain]] = {
            "records": len(items),
            "weak": len(entries),
            "by_kind": dict(sorted(by_kind.items())),
        }
    return {
        "description": "Deliberately weak samples mixed into the Workbench sample pools. Records are not "
        "marked inside the data files; this manifest is the only place they are flagged. "
        "Indexes are 0-based positions in the file (line for .jsonl, array element for .json).",
        "index_base": 0,
        "kinds": WEAK_KINDS,
        "files": files,
        "counts": counts,
    }


def readme_tables(pools: dict[str, list[Item]], evals: dict[str, list[Item]]) -> tuple[str, str]:
    fmt = {
        "math": "GSM8K `{question, answer}`",
        "code": "MBPP `{text, code, task_id, test_list}`",
        "tool_use": "OpenAI messages + tools (JSON array)",
        "general": "Alpaca `{instruction, input, output}`",
    }
    efmt = {
        "math": "GSM8K `{question, answer}`",
        "code": "MBPP `{text, code, task_id, test_list}`",
        "tool_use": "`{messages, tools, expected_calls}`",
        "general": "`{instruction, input, reference}`",
    }
    rows = ["| File | Domain | Format | Records | Weak |", "|---|---|---|---:|---:|"]
    total = weak_total = 0
    for d, items in pools.items():
        n_weak = sum(1 for it in items if it.kind)
        rows.append(f"| `{POOL_FILES[d]}` | {d} | {fmt[d]} | {len(items)} | {n_weak} |")
        total += len(items)
        weak_total += n_weak
    for d, items in evals.items():
        rows.append(f"| `{EVAL_FILES[d]}` | {d} | {efmt[d]} | {len(items)} | 0 |")
        total += len(items)
    rows.append(f"| **total** | | | **{total}** | **{weak_total}** |")
    files_table = "\n".join(rows)

    domains = list(pools)
    rows = ["| Kind | " + " | ".join(domains) + " | total |", "|---|" + "---:|" * (len(domains) + 1)]
    for kind in WEAK_KINDS:
        counts = [sum(1 for it in pools[d] if it.kind == kind) for d in domains]
        rows.append(f"| `{kind}` | " + " | ".join(str(c) for c in counts) + f" | {sum(counts)} |")
    sums = [sum(1 for it in pools[d] if it.kind) for d in domains]
    rows.append("| **all weak** | " + " | ".join(f"**{s}**" for s in sums) + f" | **{sum(sums)}** |")
    return files_table, "\n".join(rows)


def render_readme(current: str, files_table: str, kinds_table: str) -> str:
    def sub(text: str, name: str, body: str) -> str:
        pat = re.compile(rf"(<!-- {name}:begin -->\n).*?(\n<!-- {name}:end -->)", re.S)
        if not pat.search(text):
            raise SystemExit(f"README.md lacks the <!-- {name}:begin/end --> markers")
        return pat.sub(lambda m: m.group(1) + body + m.group(2), text)

    return sub(sub(current, "files", files_table), "weak-kinds", kinds_table)


def render_all() -> tuple[dict[str, str], dict, dict]:
    pools, evals = build()
    out: dict[str, str] = {}
    for d, items in pools.items():
        records = [it.record for it in items]
        out[POOL_FILES[d]] = (
            json.dumps(records, ensure_ascii=False, indent=2) + "\n"
            if POOL_FILES[d].endswith(".json")
            else jsonl(records)
        )
    for d, items in evals.items():
        out[EVAL_FILES[d]] = jsonl([it.record for it in items])
    out[MANIFEST] = json.dumps(manifest(pools), ensure_ascii=False, indent=2) + "\n"
    files_table, kinds_table = readme_tables(pools, evals)
    out[README] = render_readme((HERE / README).read_text(encoding="utf-8"), files_table, kinds_table)
    return out, pools, evals


# ============================================================================ checking helpers

_EQ_CHARS = set("0123456789.,$ ()+-×÷*/")
_NUM = r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\d+(?:\.\d+)?"


def _eval_arith(expr: str) -> Fraction:
    expr = expr.replace("×", "*").replace("÷", "/").replace("$", "").replace(",", "")

    def ev(node):
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return Fraction(str(node.value))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -ev(node.operand)
        if isinstance(node, ast.BinOp):
            a, b = ev(node.left), ev(node.right)
            ops = {
                ast.Add: lambda: a + b,
                ast.Sub: lambda: a - b,
                ast.Mult: lambda: a * b,
                ast.Div: lambda: a / b,
                ast.Pow: lambda: a ** int(b),
            }
            for t, f in ops.items():
                if isinstance(node.op, t):
                    return f()
        raise ValueError(f"unsupported expression {expr!r}")

    return ev(ast.parse(expr.strip(), mode="eval"))


def equation_errors(text: str) -> list[str]:
    """Re-evaluate every 'a op b = c' in a worked answer."""
    errors = []
    for m in re.finditer("=", text):
        j = m.start()
        while j > 0 and text[j - 1] in _EQ_CHARS:
            j -= 1
        left = text[j : m.start()].strip(" ,.")
        if not re.search(r"[+×÷*/]|(?<=\S)\s*-\s*(?=[\d$(])", left):
            continue
        rm = re.match(rf"\s*\$?\s*({_NUM})", text[m.end() :])
        if not rm:
            errors.append(f"no number after '=' in {text[j : m.end() + 12]!r}")
            continue
        try:
            lhs = _eval_arith(left)
        except (ValueError, SyntaxError, ZeroDivisionError) as exc:
            errors.append(f"cannot evaluate {left!r}: {exc}")
            continue
        rhs = Fraction(rm.group(1).replace(",", ""))
        if lhs != rhs:
            errors.append(f"{left} = {rm.group(1)} is wrong (it is {float(lhs):g})")
    return errors


def final_number(answer: str) -> Fraction | None:
    m = re.search(rf"\n?#### ({_NUM})$", answer)
    return Fraction(m.group(1).replace(",", "")) if m else None


def repeated_sentence(text: str, times: int = 3) -> bool:
    parts = [p.strip().lower() for p in re.split(r"(?<=[.!?])\s+|\n", text) if p.strip()]
    return any(parts.count(p) >= times for p in set(parts))


def looks_truncated(text: str) -> bool:
    return bool(text.strip()) and text.rstrip()[-1] not in ".!?\"')]}*`"


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def shingles(text: str, n: int = 3) -> set:
    w = words(text)
    return {tuple(w[i : i + n]) for i in range(max(1, len(w) - n + 1))}


def similarity(a: str, b: str) -> float:
    sa, sb = shingles(a), shingles(b)
    return len(sa & sb) / len(sa | sb) if sa | sb else 1.0


def prompt_text(domain: str, rec: dict) -> str:
    if domain == "math":
        return rec["question"]
    if domain == "code":
        return rec["text"]
    if domain == "tool_use":
        return "\n".join(m["content"] or "" for m in rec["messages"] if m["role"] == "user")
    return rec["instruction"] + "\n" + rec.get("input", "")


def full_text(domain: str, rec: dict) -> str:
    if domain == "math":
        return rec["question"] + "\n" + rec["answer"]
    if domain == "code":
        return rec["text"] + "\n" + rec["code"] + "\n" + "\n".join(rec["test_list"])
    if domain == "tool_use":
        parts = []
        for m in rec["messages"]:
            parts.append(m.get("content") or "")
            for c in m.get("tool_calls") or []:
                parts.append(c["function"]["name"] + " " + c["function"]["arguments"])
        return "\n".join(parts)
    return prompt_text(domain, rec) + "\n" + rec.get("output", rec.get("reference", ""))


class _Timeout(Exception):
    pass


def run_tests(code: str, tests: list[str]) -> tuple[bool, list[str]]:
    """Exec the code and each assert in a fresh namespace; returns (defined_ok, failures)."""

    def alarm(signum, frame):
        raise _Timeout()

    old = signal.signal(signal.SIGALRM, alarm)
    ns: dict = {"__name__": "sample_task"}
    failures = []
    try:
        signal.alarm(5)
        try:
            exec(compile(code, "<solution>", "exec"), ns)
        except BaseException as exc:  # noqa: BLE001 - a broken sample may raise anything
            return False, [f"solution does not run: {type(exc).__name__}: {exc}"]
        for t in tests:
            try:
                exec(compile(t, "<test>", "exec"), ns)
            except BaseException as exc:  # noqa: BLE001
                failures.append(f"{t}  ->  {type(exc).__name__}: {exc}")
        return True, failures
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def schema_errors(value, schema: dict, path: str = "arguments") -> list[str]:
    """A small JSON-schema validator covering what the declared tools use."""
    errs = []
    t = schema.get("type")
    type_ok = {
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list),
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
    }
    if t and not type_ok[t](value):
        return [f"{path}: expected {t}, got {type(value).__name__} {value!r}"]
    if "enum" in schema and value not in schema["enum"]:
        errs.append(f"{path}: {value!r} is not one of {schema['enum']}")
    if "pattern" in schema and isinstance(value, str) and not re.search(schema["pattern"], value):
        errs.append(f"{path}: {value!r} does not match {schema['pattern']}")
    if "minimum" in schema and isinstance(value, (int, float)) and value < schema["minimum"]:
        errs.append(f"{path}: {value} < minimum {schema['minimum']}")
    if "maximum" in schema and isinstance(value, (int, float)) and value > schema["maximum"]:
        errs.append(f"{path}: {value} > maximum {schema['maximum']}")
    if t == "object":
        props = schema.get("properties", {})
        for r in schema.get("required", []):
            if r not in value:
                errs.append(f"{path}: missing required property {r!r}")
        for k, v in value.items():
            if k in props:
                errs += schema_errors(v, props[k], f"{path}.{k}")
            elif schema.get("additionalProperties") is False:
                errs.append(f"{path}: unexpected property {k!r}")
    if t == "array" and "items" in schema:
        for i, v in enumerate(value):
            errs += schema_errors(v, schema["items"], f"{path}[{i}]")
    return errs


def call_errors(call: dict, tools: dict[str, dict]) -> list[str]:
    fn = call.get("function", {})
    name = fn.get("name")
    if name not in tools:
        return [f"call to undeclared function {name!r}"]
    try:
        args = json.loads(fn.get("arguments"))
    except (TypeError, json.JSONDecodeError) as exc:
        return [f"{name}: arguments are not valid JSON ({exc})"]
    return [f"{name}: {e}" for e in schema_errors(args, tools[name]["function"]["parameters"])]


# ============================================================================ checks


class Checker:
    def __init__(self):
        self.problems: list[str] = []
        self.n_checks = 0

    def expect(self, ok: bool, where: str, message: str):
        self.n_checks += 1
        if not ok:
            self.problems.append(f"{where}: {message}")

    # ------------------------------------------------------------------ generic weak-kind checks
    def weak_text(self, where: str, kind: str, text: str, extra: dict):
        if kind == "empty_answer":
            self.expect(text == "", where, "empty_answer should be an empty string")
        elif kind == "refusal":
            self.expect(text == REFUSAL, where, "refusal should be exactly the refusal sentence")
        elif kind == "truncated_answer":
            self.expect(looks_truncated(text), where, f"truncated answer ends cleanly: {text[-40:]!r}")
            if "full" in extra:
                self.expect(
                    extra["full"].startswith(text) and len(text) < len(extra["full"]),
                    where,
                    "truncated text is not a strict prefix of the full text",
                )
        elif kind == "repetitive":
            self.expect(repeated_sentence(text), where, "no sentence is repeated three or more times")

    # ------------------------------------------------------------------ math
    def math_record(self, where: str, it: Item):
        rec = it.record
        self.expect(
            set(rec) == {"question", "answer"} and all(isinstance(v, str) for v in rec.values()),
            where,
            f"unexpected keys/types {sorted(rec)}",
        )
        self.expect(bool(rec["question"].strip()), where, "empty question")
        ans, expect = rec["answer"], it.extra["expect"]
        got = final_number(ans)
        if it.kind in (None, "near_duplicate"):
            self.expect(got is not None, where, "no final '#### n' line")
            self.expect(got == expect, where, f"final number {got} != expected {expect}")
            for e in equation_errors(ans):
                self.expect(False, where, e)
            self.expect(ans.count("####") == 1, where, "more than one '####'")
        elif it.kind == "wrong_answer":
            self.expect(got is not None and got != expect, where, f"wrong_answer has the right number {got}")
        elif it.kind == "repetitive":
            self.weak_text(where, it.kind, ans, it.extra)
        else:
            self.expect("####" not in ans, where, f"{it.kind} should not contain a final answer")
            self.weak_text(where, it.kind, ans, it.extra)

    # ------------------------------------------------------------------ code
    def code_record(self, where: str, it: Item):
        rec = it.record
        self.expect(list(rec) == ["text", "code", "task_id", "test_list"], where, f"unexpected keys {list(rec)}")
        self.expect(isinstance(rec["task_id"], int), where, "task_id is not an int")
        tests = rec["test_list"]
        self.expect(
            len(tests) == 3 and all(isinstance(t, str) and t.startswith("assert ") for t in tests),
            where,
            "test_list must hold three assert strings",
        )
        if it.kind in (None, "near_duplicate"):
            ok, failures = run_tests(rec["code"], tests)
            self.expect(ok and not failures, where, f"solution fails: {failures}")
            return
        ref = it.extra["reference"]
        ok, failures = run_tests(ref, tests)
        self.expect(ok and not failures, where, f"reference solution fails its asserts: {failures}")
        ok, failures = run_tests(rec["code"], tests)
        self.expect(not ok or failures, where, f"{it.kind} code unexpectedly passes all asserts")
        if it.kind == "wrong_answer":
            self.expect(ok, where, "wrong_answer code should run (and then fail asserts)")
        elif it.kind == "truncated_answer":
            try:
                compile(rec["code"], "<truncated>", "exec")
                self.expect(False, where, "truncated code compiles")
            except SyntaxError:
                self.n_checks += 1
        elif it.kind == "repetitive":
            lines = [ln for ln in rec["code"].splitlines() if ln.strip()]
            self.expect(any(lines.count(ln) >= 3 for ln in lines), where, "no line repeated three times")
        else:
            self.weak_text(where, it.kind, rec["code"], it.extra)

    # ------------------------------------------------------------------ tool use
    def tool_declarations(self, where: str, tools: list) -> dict[str, dict]:
        declared = {}
        for t in tools:
            fn = t.get("function", {})
            params = fn.get("parameters", {})
            self.expect(
                t.get("type") == "function"
                and isinstance(fn.get("name"), str)
                and isinstance(fn.get("description"), str)
                and params.get("type") == "object"
                and set(params.get("required", [])) <= set(params.get("properties", {})),
                where,
                f"malformed tool declaration {fn.get('name')!r}",
            )
            declared[fn.get("name")] = t
        return declared

    def tool_record(self, where: str, it: Item):
        rec = it.record
        self.expect(set(rec) == {"messages", "tools"}, where, f"unexpected keys {sorted(rec)}")
        declared = self.tool_declarations(where, rec["tools"])
        msgs = rec["messages"]
        roles = [m["role"] for m in msgs]
        self.expect(set(roles) <= {"system", "user", "assistant", "tool"}, where, f"bad roles {roles}")
        self.expect(roles[0] in ("system", "user") and "system" not in roles[1:], where, "system must come first")
        self.expect(
            roles[-1] == "assistant" and not msgs[-1].get("tool_calls"),
            where,
            "conversation must end with a plain assistant message",
        )
        bad_calls = []
        i = 0
        while i < len(msgs):
            m = msgs[i]
            if m["role"] == "assistant" and m.get("tool_calls"):
                self.expect(m["content"] is None, where, "assistant message with tool_calls should have content null")
                ids = []
                for call in m["tool_calls"]:
                    self.expect(
                        call.get("type") == "function"
                        and isinstance(call.get("id"), str)
                        and isinstance(call["function"].get("arguments"), str),
                        where,
                        "malformed tool call",
                    )
                    ids.append(call["id"])
                    bad_calls += call_errors(call, declared)
                answered = [x.get("tool_call_id") for x in msgs[i + 1 : i + 1 + len(ids)]]
                self.expect(
                    answered == ids and all(x["role"] == "tool" for x in msgs[i + 1 : i + 1 + len(ids)]),
                    where,
                    "each tool call must be followed by its tool message, in order",
                )
                i += 1 + len(ids)
                continue
            self.expect(m["role"] != "tool", where, "tool message without a preceding call")
            self.expect(isinstance(m.get("content"), str), where, f"{m['role']} content must be a string")
            i += 1
        final = msgs[-1].get("content") or ""
        if it.kind == "invalid_tool_call":
            self.expect(bool(bad_calls), where, "invalid_tool_call record has only valid calls")
        else:
            self.expect(not bad_calls, where, f"invalid tool call(s): {bad_calls}")
        if it.kind in (None, "near_duplicate", "invalid_tool_call", "unrelated_answer"):
            self.expect(
                bool(final.strip()) and not looks_truncated(final) and final != REFUSAL,
                where,
                f"final answer looks weak: {final[-60:]!r}",
            )
        else:
            self.weak_text(where, it.kind, final, it.extra)

    def tool_eval_record(self, where: str, it: Item):
        rec = it.record
        self.expect(set(rec) == {"messages", "tools", "expected_calls"}, where, f"unexpected keys {sorted(rec)}")
        declared = self.tool_declarations(where, rec["tools"])
        self.expect(
            rec["messages"][-1]["role"] == "user" and all(m["role"] in ("system", "user") for m in rec["messages"]),
            where,
            "eval messages must be system/user only, ending with the user",
        )
        for call in rec["expected_calls"]:
            fake = {"function": {"name": call["name"], "arguments": json.dumps(call["arguments"])}}
            for e in call_errors(fake, declared):
                self.expect(False, where, f"expected call invalid: {e}")

    # ------------------------------------------------------------------ general
    def general_record(self, where: str, it: Item, key: str = "output"):
        rec = it.record
        self.expect(
            list(rec) == ["instruction", "input", key] and all(isinstance(v, str) for v in rec.values()),
            where,
            f"unexpected keys/types {list(rec)}",
        )
        self.expect(bool(rec["instruction"].strip()), where, "empty instruction")
        out = rec[key]
        if it.kind in (None, "near_duplicate"):
            self.expect(bool(out.strip()) and CUT not in out, where, "empty output")
            self.expect(out == out.strip(), where, "output has leading/trailing whitespace")
            self.expect(not repeated_sentence(out), where, "output repeats a sentence")
        elif it.kind == "unrelated_answer":
            a, b = set(words(rec["instruction"] + " " + rec["input"])), set(words(out))
            stop = {
                "a",
                "an",
                "the",
                "to",
                "of",
                "and",
                "in",
                "is",
                "it",
                "for",
                "on",
                "you",
                "your",
                "my",
                "if",
                "do",
                "i",
                "how",
                "what",
                "with",
                "be",
                "are",
                "can",
                "or",
                "at",
                "by",
                "its",
                "was",
                "this",
            }
            overlap = (a & b) - stop
            self.expect(len(overlap) <= 1, where, f"unrelated answer shares words with the prompt: {overlap}")
        else:
            self.weak_text(where, it.kind, out, it.extra)

    # ------------------------------------------------------------------ pool-level
    def near_duplicates(self, domain: str, items: list[Item]):
        path = POOL_FILES[domain]
        texts = [full_text(domain, it.record) for it in items]
        index = {it.key: i for i, it in enumerate(items)}
        flagged = set()
        for i, it in enumerate(items):
            if it.kind == "near_duplicate":
                j = index[it.original]
                flagged.add((min(i, j), max(i, j)))
                s = similarity(texts[i], texts[j])
                self.expect(
                    NEAR_DUP_MIN <= s < 1.0 and texts[i] != texts[j],
                    f"{path}[{i}]",
                    f"near duplicate of [{j}] has similarity {s:.2f}",
                )
        if domain == "math":  # same numbers in two questions = the same problem reworded
            numbers = [tuple(sorted(re.findall(r"\d+(?:\.\d+)?", it.record["question"]))) for it in items]
        for i in range(len(items)):
            for j in range(i + 1, len(items)):
                if (i, j) in flagged:
                    continue
                if domain == "math":
                    self.expect(
                        numbers[i] != numbers[j],
                        f"{path}[{i}]",
                        f"same numbers as [{j}] but not flagged as a near duplicate",
                    )
                s = similarity(texts[i], texts[j])
                self.expect(
                    s < UNFLAGGED_MAX, f"{path}[{i}]", f"unflagged near duplicate of [{j}] (similarity {s:.2f})"
                )

    def eval_overlap(self, domain: str, pool: list[Item], evals: list[Item]):
        pool_prompts = [prompt_text(domain, it.record) for it in pool]
        pool_norm = {" ".join(words(p)) for p in pool_prompts}
        for i, it in enumerate(evals):
            p = prompt_text(domain, it.record)
            where = f"{EVAL_FILES[domain]}[{i}]"
            self.expect(" ".join(words(p)) not in pool_norm, where, "prompt also appears in the pool")
            best = max(similarity(p, q) for q in pool_prompts)
            self.expect(best < UNFLAGGED_MAX, where, f"too similar to a pool prompt ({best:.2f})")

    def run(self, rendered: dict[str, str], pools: dict[str, list[Item]], evals: dict[str, list[Item]]):
        # files on disk are exactly what the generator produces
        for rel, text in rendered.items():
            path = HERE / rel
            on_disk = path.read_text(encoding="utf-8") if path.exists() else None
            self.expect(on_disk == text, rel, "differs from the generator output (run make_sample_data.py)")
        total = sum(len(t.encode("utf-8")) for rel, t in rendered.items() if rel != README)
        self.expect(total < 1_000_000, "sizes", f"data files total {total} bytes")

        per_record = {
            "math": self.math_record,
            "code": self.code_record,
            "tool_use": self.tool_record,
            "general": self.general_record,
        }
        for d, items in pools.items():
            n_weak = sum(1 for it in items if it.kind)
            self.expect(
                0.10 <= n_weak / len(items) <= 0.16,
                POOL_FILES[d],
                f"{n_weak}/{len(items)} weak samples is outside 10-16%",
            )
            for i, it in enumerate(items):
                self.expect(it.kind is None or it.kind in WEAK_KINDS, POOL_FILES[d], f"unknown kind {it.kind}")
                per_record[d](f"{POOL_FILES[d]}[{i}]", it)
            self.near_duplicates(d, items)
            self.eval_overlap(d, items, evals[d])
        for d, items in evals.items():
            for i, it in enumerate(items):
                where = f"{EVAL_FILES[d]}[{i}]"
                if d == "math":
                    self.math_record(where, it)
                elif d == "code":
                    self.code_record(where, it)
                elif d == "tool_use":
                    self.tool_eval_record(where, it)
                else:
                    self.general_record(where, it, key="reference")
        # code: task ids unique, eval functions never defined in the pool
        ids = [it.record["task_id"] for it in pools["code"] + evals["code"]]
        self.expect(len(ids) == len(set(ids)), "code", "duplicate task_id")
        pool_funcs = {n for it in pools["code"] for n in re.findall(r"^def (\w+)", it.record["code"], re.M)}
        for i, it in enumerate(evals["code"]):
            funcs = set(re.findall(r"^def (\w+)", it.record["code"], re.M))
            self.expect(
                not funcs & pool_funcs, f"{EVAL_FILES['code']}[{i}]", f"function also in pool: {funcs & pool_funcs}"
            )
        # manifest agrees with the pools and the README tables are current
        data = json.loads(rendered[MANIFEST])
        for d, items in pools.items():
            entries = data["files"][POOL_FILES[d]]
            self.expect(
                [e["index"] for e in entries] == [i for i, it in enumerate(items) if it.kind],
                MANIFEST,
                f"indexes for {POOL_FILES[d]} disagree with the data",
            )
            self.expect(data["counts"][POOL_FILES[d]]["records"] == len(items), MANIFEST, "record count mismatch")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="verify the committed files; write nothing")
    args = ap.parse_args(argv)
    rendered, pools, evals = render_all()
    if not args.check:
        for rel, text in rendered.items():
            path = HERE / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        counts = ", ".join(f"{d} {len(v)}" for d, v in pools.items())
        print(
            f"wrote {len(rendered)} files (pools: {counts}; eval: "
            + ", ".join(f"{d} {len(v)}" for d, v in evals.items())
            + ")"
        )
        return 0
    checker = Checker()
    checker.run(rendered, pools, evals)
    if checker.problems:
        for p in checker.problems:
            print("FAIL", p)
        print(f"{len(checker.problems)} problem(s) in {checker.n_checks} checks")
        return 1
    n_pool = sum(len(v) for v in pools.values())
    n_eval = sum(len(v) for v in evals.values())
    n_weak = sum(1 for v in pools.values() for it in v if it.kind)
    print(f"ok: {checker.n_checks} checks passed ({n_pool} pool records, {n_weak} flagged weak, {n_eval} eval records)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
