"""Code operator: every Python code block of the answer parses (the standard library's `ast.parse`)."""

from __future__ import annotations

import ast
import warnings

from engine.quality.heuristics.registry import operator
from engine.quality.heuristics.sample import Sample, Value, empty_reason

PYTHON_LANGS = frozenset({"python", "py", "python3", "py3", "ipython", "pycon"})  # python2 code would not parse


def code_blocks(text: str) -> list[tuple[str, str, bool]]:
    """Fenced blocks of a markdown text as (language lower-cased, body, closed)."""
    out, lang, buf, inside = [], "", [], False
    for line in text.split("\n"):
        st = line.strip()
        if st.startswith("```"):
            if inside:
                out.append((lang, "\n".join(buf), True))
                inside, buf = False, []
            else:
                inside, lang, buf = True, st[3:].strip().split(" ")[0].lower(), []
            continue
        if inside:
            buf.append(line)
    if inside:
        out.append((lang, "\n".join(buf), False))
    return out


def _clean_python(code: str) -> str:
    """Strip REPL prompts (>>> / ...) when present and notebook magics (!cmd, %magic)."""
    lines = code.split("\n")
    if any(ln.lstrip().startswith(">>>") for ln in lines):
        kept = []
        for ln in lines:
            st = ln.lstrip()
            if st.startswith(">>> ") or st == ">>>":
                kept.append(st[4:])
            elif st.startswith("... ") or st == "...":
                kept.append(st[4:])
        lines = kept
    return "\n".join(ln for ln in lines if not ln.lstrip().startswith(("!", "%")))


def _parses(code: str) -> str | None:
    """None when `code` parses as Python 3, else a short error text."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ast.parse(_clean_python(code))
        return None
    except SyntaxError as e:
        return f"line {e.lineno}: {e.msg}"
    except (ValueError, RecursionError, MemoryError) as e:
        return f"{type(e).__name__}: {e}"[:200]


@operator(
    "h_code_parses",
    "1 when every Python code block of the response parses with ast.parse (blocks fenced as "
    "```python/py/python3/ipython/pycon; REPL prompts and !/% lines stripped), 0 when one does "
    "not (reason: block and error). When the response has no fences at all and the domain is "
    "'code', the whole response is parsed.",
    needs=frozenset({"response", "domain", "messages"}),
    value_range="{0, 1}",
    null_cases="no code (no fences, not code domain); no python code "
    "(fenced blocks in other languages only); empty answer; tool call",
)
def _code_parses(s: Sample) -> Value:
    if s.is_empty():
        return None, empty_reason(s)
    t = s.response
    blocks = code_blocks(t) if "```" in t else []
    if blocks:
        py = [b for b in blocks if b[0] in PYTHON_LANGS]
        if not py:
            return None, "no python code"
        for k, (_, body, _) in enumerate(py, 1):
            err = _parses(body)
            if err:
                return 0.0, f"block {k}: {err}"
        return 1.0, None
    if s.domain == "code":
        err = _parses(t)
        return (0.0, f"whole answer: {err}") if err else (1.0, None)
    return None, "no code"
