"""Explicit heuristic quality operators, stored as scores, and a separate keep/drop rule layer.

Two layers, kept apart on purpose:

* **Operators** (`OPERATORS`, names `h_*`) turn one sample into one number, or into NULL with a reason
  when the operator does not apply ("not math", "no tool calls", "empty answer"). Every operator has a
  `definition` and a `version`; both are stored with the metric through `engine.quality.scores.MetricDef`, so a
  stored value always says what it measures. `run_heuristics` computes them in id-ordered chunks, skips
  samples that already have a row for the operator's exact metric key and version (resumable), and
  commits every chunk (a cancelled or killed run keeps the finished chunks). A 1-valued flag may carry a
  reason too ("unclosed code fence", "contains 'as an ai language model'") so that the UI can say *why*.
* **Rules** (`Rule`, `h_filter_defaults`) read the stored values and decide keep/drop
  (`keep_mask`, `explain_filters`). Thresholds are Workbench's own defaults, not taken from any paper;
  the seed paper (Gu et al. 2025) only reports that explicit filters can induce capability conflicts
  while SuperFiltering (IFD) balances better, so these rules are for inspection and cleaning of broken
  records, not a claim about what the paper filtered.

What is hand-written and why:

* Tokenisation is a str/bytes translate + split (ASCII fast path) or one regex (other scripts); a
  tokenizer library would cost 10-100x more per sample and the operators only need word types.
* The refusal marker list is our own. The idea (a case-insensitive phrase list of refusals and
  "As an AI ..." disclaimers used to drop WizardLM/Alpaca records) comes from Cherry LLM's
  `cherry_seletion/filter.py` (tianyi-lab/Cherry_LLM @ 01fac8d). That list matches substrings anywhere,
  including very common openers ("I'm an", "I cannot", "It is impossible"), which flags many good
  answers; ours separates unambiguous disclaimers (matched anywhere) from refusal openers (matched only
  at the start of the answer). The markers are compiled into one prefix-trie regex (~5 us per KB).
* The truncation and final-number checks are text heuristics defined below; math-verify's parser
  answers a different question (is this answer equal to that one) and imports sympy, so it is not used
  for "is there a final number". `h_math_answer_correct` is not provided: samples carry no reference
  answer in a fixed place (it would live in importer-specific `meta`), so it would not be trivial.
* Python code is checked with the standard library's `ast.parse`; tool-call arguments are validated
  with the `jsonschema` library (validator class chosen from the schema's `$schema`, Draft 2020-12 by
  default; validators are cached per declared tools JSON).
"""

from __future__ import annotations

import ast
import json
import re
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from engine.core.jobs import CancelToken, ProgressFn, ProgressMeter
from engine.core.store import Store
from engine.quality.scores import MetricDef, register_metric, write_scores

Value = tuple[float | None, str | None]

# ------------------------------------------------------------------------------------------------
# The sample view operators see
# ------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Sample:
    """What an operator sees of one stored sample. `messages`/`tools` may be JSON text or parsed.

    `run_heuristics` only loads `messages` for samples whose messages mention "tool_calls" (the other
    operators use `instruction`/`response`); build a Sample by hand to call an operator directly.
    """

    id: int = 0
    instruction: str | None = None
    response: str | None = None
    domain: str = "general"
    messages: list | str | None = None
    tools: list | str | None = None
    _words: list | None = field(default=None, repr=False)
    _iwords: list | None = field(default=None, repr=False)
    _calls: tuple | None = field(default=None, repr=False)
    _empty: bool | None = field(default=None, repr=False)
    _letters: tuple | None = field(default=None, repr=False)
    _content: tuple | None = field(default=None, repr=False)

    # -- derived, cached ---------------------------------------------------------------------------
    def resp_words(self) -> list[str]:
        if self._words is None:
            self._words = words(self.response or "")
        return self._words

    def instr_words(self) -> list[str]:
        if self._iwords is None:
            self._iwords = words(self.instruction or "")
        return self._iwords

    def is_empty(self) -> bool:
        """No response, or a response without any letter or digit (any script)."""
        if self._empty is None:
            r = self.response
            self._empty = not r or (not r[:1].isalnum() and _ALNUM_RE.search(r) is None)
        return self._empty

    def letter_counts(self) -> tuple[int, int, int]:
        if self._letters is None:
            self._letters = _letter_counts(self.response or "")
        return self._letters

    def content_words(self) -> tuple[set, set]:
        """(response, instruction) word-type sets without STOPWORDS."""
        if self._content is None:
            self._content = (set(self.resp_words()) - STOPWORDS, set(self.instr_words()) - STOPWORDS)
        return self._content

    def _parse_calls(self) -> tuple[list, bool, str | None]:
        """(every tool call of every assistant turn, last assistant turn is a tool call, parse error)."""
        if self._calls is None:
            msgs = self.messages
            calls: list = []
            last_is_call = False
            err = None
            if isinstance(msgs, str):
                try:
                    msgs = json.loads(msgs)
                except ValueError as e:
                    msgs, err = None, f"messages are not JSON: {e}"
            if isinstance(msgs, list):
                for m in msgs:
                    if not isinstance(m, dict) or m.get("role") != "assistant":
                        continue
                    tc = m.get("tool_calls") or []
                    if isinstance(tc, dict):
                        tc = [tc]
                    if m.get("function_call"):  # legacy OpenAI single call
                        tc = list(tc) + [m["function_call"]]
                    calls.extend(tc)
                    last_is_call = bool(tc)
            self._calls = (calls, last_is_call, err)
        return self._calls

    def tool_calls(self) -> list:
        return self._parse_calls()[0]

    def ends_with_tool_call(self) -> bool:
        return self._parse_calls()[1]


# ------------------------------------------------------------------------------------------------
# Shared text helpers
# ------------------------------------------------------------------------------------------------

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af\u1100-\u11ff\u3130-\u318f"
_WORD_RE = re.compile(rf"[{_CJK}]|[^\W_{_CJK}]+")
_CJK_RE = re.compile(rf"[{_CJK}]")
_LETTER_RE = re.compile(r"[^\W\d_]")
_ALNUM_RE = re.compile(r"[^\W_]")
_ASCII_LETTER_RE = re.compile(r"[A-Za-z]")
_ASCII_WORD_TABLE = bytes(c if chr(c).isalnum() else 32 for c in range(256))
_ASCII_NONLETTERS = bytes(c for c in range(256) if not chr(c).isalpha() or c > 127)


def words(text: str) -> list[str]:
    """Lower-cased word tokens: maximal runs of letters/digits (underscore and punctuation separate),
    and every CJK ideograph, kana or hangul character on its own."""
    if not text:
        return []
    low = text.lower()
    if low.isascii():
        return low.encode("ascii").translate(_ASCII_WORD_TABLE).decode("ascii").split()
    return _WORD_RE.findall(low)


def _letter_counts(text: str) -> tuple[int, int, int]:
    """(letters, ASCII letters, CJK letters) of `text`; letters = str.isalpha characters."""
    if text.isascii():
        n = len(text.encode("ascii").translate(None, _ASCII_NONLETTERS))
        return n, n, 0
    n_letters = len(_LETTER_RE.findall(text))
    n_ascii = len(_ASCII_LETTER_RE.findall(text))
    n_cjk = len(_CJK_RE.findall(text))
    return n_letters, n_ascii, n_cjk


def _trie_regex(phrases: Iterable[str]) -> re.Pattern:
    """One regex matching any of `phrases`, factored as a prefix trie (much faster than a flat `a|b|c`)."""
    trie: dict = {}
    for p in phrases:
        node = trie
        for ch in p:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict) -> str:
        if list(node) == [""]:
            return ""
        alts, optional = [], False
        for k in sorted(node):
            if k == "":
                optional = True
                continue
            alts.append(re.escape(k) + build(node[k]))
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        return f"(?:{body})?" if optional else body

    return re.compile(build(trie))


def _empty_reason(s: Sample) -> str:
    return "tool call" if s.ends_with_tool_call() else "empty answer"


# ------------------------------------------------------------------------------------------------
# Operators
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Operator:
    """A named heuristic: `fn(Sample) -> (value, reason)`; NULL value always has a reason.

    `needs` names the Sample fields the operator reads ("instruction", "response", "domain",
    "messages", "tools"); `run_heuristics` only fetches those.
    """

    name: str
    fn: Callable[[Sample], Value]
    definition: str
    version: str = "1"
    params: dict = field(default_factory=dict)
    needs: frozenset = frozenset({"response"})
    value_range: str = ""
    null_cases: str = ""

    @property
    def metric(self) -> MetricDef:
        return MetricDef(self.name, "", dict(self.params), self.definition, self.version)

    def compute(self, s: Sample) -> Value:
        """The operator's value, never raising: an unexpected error becomes NULL + 'error: ...'."""
        try:
            v, r = self.fn(s)
        except Exception as e:  # noqa: BLE001 - one odd record must not stop a million-sample run
            return None, f"error: {type(e).__name__}: {e}"[:300]
        if v is None and not r:
            r = "not applicable"
        return v, r


OPERATORS: dict[str, Operator] = {}


def register_operator(op: Operator) -> Operator:
    """Add (or replace) an operator in the registry."""
    OPERATORS[op.name] = op
    return op


# -- lengths ---------------------------------------------------------------------------------------


def _resp_chars(s: Sample) -> Value:
    return float(len(s.response or "")), None


def _instr_chars(s: Sample) -> Value:
    return float(len(s.instruction or "")), None


def _resp_tokens_est(s: Sample) -> Value:
    t = s.response or ""
    if not t:
        return 0.0, None
    n_cjk = 0 if t.isascii() else len(_CJK_RE.findall(t))
    return float(n_cjk + -(-(len(t) - n_cjk) // 4)), None


# -- empty / truncated -----------------------------------------------------------------------------


def _empty_answer(s: Sample) -> Value:
    if s.is_empty():
        if s.ends_with_tool_call():
            return 0.0, "answer is a tool call"
        return 1.0, "no response" if s.response is None else "no letter or digit"
    return 0.0, None


_FENCE_LINE_RE = re.compile(r"^[ \t]*```", re.M)
_TERMINAL = set(".!?…。！？．」』\"'”’)]}>`*_~|$%")
_CONTINUATION = set(",;:([{-–—=+/\\&<×÷−·±^")
_NON_FINAL_WORDS = frozenset(
    """
a an the and or but nor of to for with from by at into onto than that which whose because although
though if whether is are was were be been being has have had will would shall should can could may
might must such their its our your my his her this these those as when while whereas via like
""".split()
)
_LIST_ITEM_RE = re.compile(r"^\s*(?:[-*+•]|\d{1,3}[.)]|[a-zA-Z][.)])\s")
_INNER_SENTENCE_END_RE = re.compile(r"[.!?。！？][\"')\]”’]*\s+\S")
_TRAILING_WORD_RE = re.compile(r"([^\W_]+)\W*$")


def _line_kind(line: str) -> str:
    st = line.lstrip()
    if st.startswith("#"):
        return "heading"
    if st.startswith("|"):
        return "table"
    if _LIST_ITEM_RE.match(line):
        return "list"
    return "prose"


def _code_bracket_depth(code: str) -> int:
    """Open-bracket depth at the end of `code`, ignoring quoted strings and #, // comments."""
    depth, i, n = 0, 0, len(code)
    pairs = {"(": 1, "[": 1, "{": 1, ")": -1, "]": -1, "}": -1}
    while i < n:
        ch = code[i]
        if ch in "\"'":
            j = i + 1
            while j < n and code[j] != ch and code[j] != "\n":
                j += 2 if code[j] == "\\" else 1
            i = j + 1
            continue
        if ch == "#" or (ch == "/" and i + 1 < n and code[i + 1] == "/"):
            j = code.find("\n", i)
            i = n if j < 0 else j
            continue
        depth += pairs.get(ch, 0)
        i += 1
    return depth


def _truncated_answer(s: Sample) -> Value:
    if s.is_empty():
        return None, _empty_reason(s)
    t = s.response.rstrip()
    n_fences = len(_FENCE_LINE_RE.findall(t))
    if n_fences % 2:
        return 1.0, "unclosed code fence"
    last = t[-1]
    if s.domain == "code" and n_fences == 0:
        # The whole answer is code: judge brackets and a dangling operator, not punctuation.
        if _code_bracket_depth(t) > 0:
            return 1.0, "unclosed bracket in code"
        if last in ",([{\\=+":
            return 1.0, f"code ends with '{last}'"
        return 0.0, None
    if last in _CONTINUATION:
        return 1.0, f"ends with '{last}'"
    if last in _TERMINAL or last.isdigit() or not last.isalpha():
        return 0.0, None
    # Ends with a letter and no closing punctuation.
    m = _TRAILING_WORD_RE.search(t[-64:])
    word = m.group(1).lower() if m else ""
    if word in _NON_FINAL_WORDS:
        return 1.0, f"ends with '{word}'"
    lines = _prose_lines(t)
    if not lines:
        return 0.0, None
    last_line = lines[-1].strip()
    kind = _line_kind(last_line)
    if kind == "heading":
        return 1.0, "ends with a heading"
    if kind not in ("prose", "list"):
        return 0.0, None
    n_words = len(last_line.split())
    if n_words < 4 and len(last_line) < 20:
        return 0.0, None  # a label, a name, a short list item
    if len(lines) >= 2 and lines[-2].rstrip().endswith(",") and len(lines[-2].split()) <= 4:
        return 0.0, None  # a letter's sign-off: "Kind regards,\nThe team"
    if kind == "prose" and n_words >= 12:
        return 1.0, "long sentence without final punctuation"
    # Does the author end the other lines of this kind (prose lines, or list items) with punctuation?
    prev = [ln.strip() for ln in lines[:-1] if _line_kind(ln) == kind and len(ln.split()) >= 4]
    if prev:
        punct = sum(1 for ln in prev if ln[-1] in _TERMINAL or ln[-1] == ":")
        # prose: most other lines punctuated; list items are often fragments, so all of them
        if (punct * 2 >= len(prev)) if kind == "prose" else (punct == len(prev)):
            return 1.0, ("last list item" if kind == "list" else "last sentence") + " without final punctuation"
        return 0.0, None
    if _INNER_SENTENCE_END_RE.search(last_line):
        return 1.0, "last sentence without final punctuation"
    return 0.0, None


def _prose_lines(text: str) -> list[str]:
    """Non-empty lines outside fenced code blocks (fence lines themselves dropped)."""
    out, inside = [], False
    for ln in text.split("\n"):
        if ln.lstrip().startswith("```"):
            inside = not inside
            continue
        if not inside and ln.strip():
            out.append(ln)
    return out


# -- repetition / refusal --------------------------------------------------------------------------

_NGRAM_N = 3


def _ngram_repetition(s: Sample) -> Value:
    if s.is_empty():
        return None, _empty_reason(s)
    w = s.resp_words()
    n = _NGRAM_N
    total = len(w) - n + 1
    if total < 1:
        return None, f"fewer than {n} words"
    if n == 3:
        distinct = len(set(zip(w, w[1:], w[2:])))
    else:
        distinct = len({tuple(w[i : i + n]) for i in range(total)})
    return 1.0 - distinct / total, None


# Unambiguous disclaimers / refusals: matched anywhere in the answer (lower-cased, ’ → ').
REFUSAL_ANYWHERE = (
    "as an ai language model",
    "as an ai model",
    "as an ai assistant",
    "as an ai,",
    "as an ai i ",
    "as a language model",
    "as a large language model",
    "as an artificial intelligence",
    "i am an ai language model",
    "i'm an ai language model",
    "i am just an ai",
    "i'm just an ai",
    "i am only an ai",
    "i'm only an ai",
    "i am an ai and",
    "i'm an ai and",
    "being an ai",
    "i cannot fulfill",
    "i can't fulfill",
    "i cannot comply",
    "i can't comply",
    "i won't comply",
    "i cannot assist with",
    "i can't assist with",
    "i cannot help with that",
    "i can't help with that",
    "i cannot help you with that",
    "i can't help you with that",
    "i am not able to help with",
    "i'm not able to help with",
    "i am unable to help with",
    "i'm unable to help with",
    "i am unable to assist",
    "i'm unable to assist",
    "i am not able to assist",
    "i'm not able to assist",
    "i must decline",
    "i have to decline",
    "i'm not comfortable providing",
    "i am not comfortable providing",
    "against my programming",
    "against my guidelines",
    "violates my guidelines",
    "my programming prohibits",
    "my knowledge cutoff",
    "my knowledge cut-off",
    "my training data only goes",
    "i do not have the ability to browse",
    "i don't have the ability to browse",
    "i don't have access to real-time",
    "i do not have access to real-time",
    "i don't have personal opinions",
    "i do not have personal opinions",
    "i don't have personal feelings",
    "i do not have personal feelings",
    "i don't have feelings",
    "i do not have feelings",
    # zh / es / pt
    "作为一个人工智能",
    "作为人工智能",
    "作为一个ai",
    "作为ai",
    "作为一个语言模型",
    "作为语言模型",
    "我无法提供",
    "我不能提供",
    "我无法帮助",
    "抱歉，我无法",
    "抱歉,我无法",
    "对不起，我不能",
    "como modelo de lenguaje",
    "como un modelo de lenguaje",
    "lo siento, pero no puedo",
    "como modelo de linguagem",
    "como um modelo de linguagem",
)
# Refusal openers: matched only within the first REFUSAL_OPENING_CHARS characters of the answer.
REFUSAL_OPENING = (
    "i'm sorry, but",
    "i am sorry, but",
    "sorry, but i",
    "sorry, i can't",
    "sorry, i cannot",
    "i'm sorry, i can't",
    "i'm sorry, i cannot",
    "i am sorry, i cannot",
    "i apologize, but",
    "i apologise, but",
    "my apologies, but",
    "i cannot",
    "i can't",
    "i can not",
    "i won't",
    "i will not be able",
    "i'm not able to",
    "i am not able to",
    "i'm unable",
    "i am unable",
    "unfortunately, i can",
    "unfortunately, i am",
    "unfortunately, i'm",
    "unfortunately i can",
    "it is not appropriate",
    "it's not appropriate",
    "it would not be appropriate",
    "it wouldn't be appropriate",
)
REFUSAL_OPENING_CHARS = 160
_REFUSAL_ANY_RE = _trie_regex(REFUSAL_ANYWHERE)
_REFUSAL_OPEN_RE = _trie_regex(REFUSAL_OPENING)
_QUOTE_TABLE = str.maketrans({"’": "'", "‘": "'"})


def _refusal(s: Sample) -> Value:
    if s.is_empty():
        return None, _empty_reason(s)
    low = s.response.lower()
    if "’" in low or "‘" in low:
        low = low.translate(_QUOTE_TABLE)
    m = _REFUSAL_ANY_RE.search(low)
    if m:
        return 1.0, f"contains '{m.group(0)}'"
    for m in _REFUSAL_OPEN_RE.finditer(low, 0, REFUSAL_OPENING_CHARS + 40):
        if m.start() >= REFUSAL_OPENING_CHARS:
            break
        before = low[: m.start()].rstrip(" \t\"'*_>#")
        if not before or before[-1] in ".!?:\n":
            return 1.0, f"opens with '{m.group(0)}'"
    return 0.0, None


# -- charset ---------------------------------------------------------------------------------------


def _ascii_share(s: Sample) -> Value:
    if s.is_empty():
        return None, _empty_reason(s)
    n, n_ascii, _ = s.letter_counts()
    if n == 0:
        return None, "no letters"
    return n_ascii / n, None


def _cjk_share(s: Sample) -> Value:
    if s.is_empty():
        return None, _empty_reason(s)
    n, _, n_cjk = s.letter_counts()
    if n == 0:
        return None, "no letters"
    return n_cjk / n, None


# -- instruction / response overlap ----------------------------------------------------------------

STOPWORDS = frozenset(
    """
a about above after again against all am an and any are as at be because been before being below
between both but by can could did do does doing down during each few for from further had has have
having he her here hers herself him himself his how i if in into is it its itself just me more most my
myself no nor not now of off on once only or other our ours ourselves out over own same she should so
some such than that the their theirs them themselves then there these they this those through to too
under until up very was we were what when where which while who whom why will with would you your
yours yourself yourselves also may might must shall s t d ll m re ve let lets
""".split()
)


def _overlap_sets(s: Sample) -> tuple[set, set] | Value:
    if s.is_empty():
        return None, _empty_reason(s)
    if not s.instruction or not s.instruction.strip():
        return None, "no instruction"
    r, i = s.content_words()
    if not r:
        return None, "no content words in answer"
    if not i:
        return None, "no content words in instruction"
    return r, i


def _overlap(s: Sample) -> Value:
    sets = _overlap_sets(s)
    if sets[0] is None:
        return sets
    r, i = sets
    return len(r & i) / len(r), None


def _jaccard(s: Sample) -> Value:
    sets = _overlap_sets(s)
    if sets[0] is None:
        return sets
    r, i = sets
    return len(r & i) / len(r | i), None


# -- code ------------------------------------------------------------------------------------------

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


def _code_parses(s: Sample) -> Value:
    if s.is_empty():
        return None, _empty_reason(s)
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


# -- math ------------------------------------------------------------------------------------------

_GSM8K_RE = re.compile(r"^\s*####\s*[^\n]*\d", re.M)
_BOXED_RE = re.compile(r"\\boxed\s*\{\s*[^}\s]")
_PROOF_RE = re.compile(r"\b(?:prove|proof|show that|demonstrate that|justify why)\b", re.I)
_SENTENCE_SPLIT_RE = re.compile(r"(?<=[.!?。！？])\s+")
MATH_DOMAINS = frozenset({"math"})


def _math_final_number(s: Sample) -> Value:
    if s.domain not in MATH_DOMAINS:
        return None, "not math"
    if s.is_empty():
        return None, _empty_reason(s)
    if s.instruction and _PROOF_RE.search(s.instruction):
        return None, "proof question"
    t = s.response
    if _GSM8K_RE.search(t):
        return 1.0, "#### answer line"
    if _BOXED_RE.search(t):
        return 1.0, "\\boxed{}"
    last_line = [ln for ln in t.strip().split("\n") if ln.strip()][-1]
    last_sentence = [p for p in _SENTENCE_SPLIT_RE.split(last_line.strip()) if p.strip()][-1]
    if any(ch.isdigit() for ch in last_sentence):
        return 1.0, "number in last sentence"
    return 0.0, "no number in the last sentence"


# -- tool calls ------------------------------------------------------------------------------------


def _loads_maybe_twice(x):
    if isinstance(x, str):
        x = json.loads(x)
        if isinstance(x, str):
            x = json.loads(x)
    return x


@lru_cache(maxsize=2048)
def _declared_tools(tools_json: str) -> dict[str, object] | str:
    """{name: validator or None (no schema)} for a tools JSON text; a str is an error message."""
    import jsonschema
    from jsonschema.validators import validator_for

    try:
        tools = _loads_maybe_twice(tools_json)
    except ValueError as e:
        return f"tools are not JSON: {e}"
    if tools is None:
        return {}
    if isinstance(tools, dict):
        tools = [tools]
    if not isinstance(tools, list):
        return "tools are not a list"
    out: dict[str, object] = {}
    for t in tools:
        if not isinstance(t, dict):
            continue
        fn = t.get("function") if isinstance(t.get("function"), dict) else t
        name = fn.get("name")
        if not isinstance(name, str):
            continue
        schema = fn.get("parameters")
        if isinstance(schema, str):
            try:
                schema = json.loads(schema)
            except ValueError:
                out[name] = f"declared parameters of '{name}' are not JSON"
                continue
        if schema is None or schema == {}:
            out[name] = None
            continue
        if not isinstance(schema, dict):
            out[name] = f"declared parameters of '{name}' are not a JSON schema object"
            continue
        cls = validator_for(schema, default=jsonschema.Draft202012Validator)
        try:
            cls.check_schema(schema)
        except jsonschema.SchemaError as e:
            out[name] = f"declared schema of '{name}' is invalid: {e.message}"[:300]
            continue
        out[name] = cls(schema)
    return out


def _tool_call_valid(s: Sample) -> Value:
    calls, _, err = s._parse_calls()
    if err:
        return 0.0, err
    if not calls:
        return None, "no tool calls"
    tools = s.tools
    if tools is not None and not isinstance(tools, str):
        tools = json.dumps(tools, sort_keys=True)
    declared = _declared_tools(tools) if tools else {}
    if isinstance(declared, str):
        return 0.0, declared
    from jsonschema.exceptions import best_match

    for k, call in enumerate(calls, 1):
        if not isinstance(call, dict):
            return 0.0, f"call {k} is not an object"
        fn = call.get("function") if isinstance(call.get("function"), dict) else call
        name = fn.get("name")
        if not isinstance(name, str) or not name:
            return 0.0, f"call {k} has no function name"
        if name not in declared:
            where = "no tools declared" if not declared else "not among declared tools"
            return 0.0, f"call {k}: function '{name}' is not declared ({where})"
        args = fn.get("arguments", fn.get("parameters", {}))
        if args is None:
            args = {}
        if isinstance(args, str):
            try:
                args = json.loads(args) if args.strip() else {}
            except ValueError as e:
                return 0.0, f"call {k} '{name}': arguments are not valid JSON ({e.msg} at char {e.pos})"
        if not isinstance(args, dict):
            return 0.0, f"call {k} '{name}': arguments are not a JSON object"
        v = declared[name]
        if isinstance(v, str):
            return 0.0, f"call {k}: {v}"
        if v is not None:
            e = best_match(v.iter_errors(args))
            if e is not None:
                path = "/".join(str(p) for p in e.absolute_path)
                at = f" at '{path}'" if path else ""
                return 0.0, f"call {k} '{name}'{at}: {e.message}"[:300]
    return 1.0, None


# -- the registry ----------------------------------------------------------------------------------

_R = frozenset({"response"})
_RM = frozenset({"response", "messages"})

for _op in [
    Operator(
        "h_resp_chars",
        _resp_chars,
        "Characters (Unicode code points) in the response (last assistant turn's content); 0 when there is none.",
        value_range=">= 0",
        null_cases="never",
    ),
    Operator(
        "h_resp_tokens_est",
        _resp_tokens_est,
        "Estimated tokens of the response, without a tokenizer: CJK characters count 1 each, every "
        "other character 1/4 (rounded up), i.e. n_cjk + ceil((n_chars - n_cjk) / 4).",
        value_range=">= 0",
        null_cases="never",
    ),
    Operator(
        "h_instr_chars",
        _instr_chars,
        "Characters (Unicode code points) in the instruction (first user turn's content); 0 when none.",
        needs=frozenset({"instruction"}),
        value_range=">= 0",
        null_cases="never",
    ),
    Operator(
        "h_empty_answer",
        _empty_answer,
        "1 when the response is missing or contains no letter or digit (any script) and the last "
        "assistant turn is not a tool call; else 0.",
        needs=_RM,
        value_range="{0, 1}",
        null_cases="never",
    ),
    Operator(
        "h_truncated_answer",
        _truncated_answer,
        "1 when the response looks cut off, checked in this order on the right-stripped text: (1) an "
        "odd number of ``` fence lines (unclosed block); (2) code-domain answer without fences: an "
        "unclosed bracket (quoted strings and #, // comments skipped) or a trailing , ( [ { \\ = +, else "
        "0; (3) a trailing continuation character , ; : ( [ { - – — = + / \\ & < × ÷ − · ± ^; "
        "(4) ending in a digit, a non-letter symbol or closing punctuation/bracket/quote/fence: 0; "
        "(5) ending in a letter: 1 when the last word is a function word that cannot end a sentence "
        "(the, and, of, to, is, ...), or the last line outside code blocks is a markdown heading, or it "
        "is a prose line of >= 12 words, or it is a prose line or list item of >= 4 words (or >= 20 "
        "chars) while most earlier prose lines (for a list item: all earlier list items) with >= 4 "
        "words end with punctuation (or, "
        "with no such lines, an earlier sentence on the same line does); a line after a short line "
        "ending with ',' (a letter's sign-off) and table rows are 0. Otherwise 0.",
        needs=frozenset({"response", "domain", "messages"}),
        value_range="{0, 1}",
        null_cases="empty answer; tool call (answer is a tool call)",
    ),
    Operator(
        "h_ngram_repetition",
        _ngram_repetition,
        f"Share of repeated word {_NGRAM_N}-grams in the response: 1 - distinct / total over all "
        f"overlapping {_NGRAM_N}-grams of lower-cased word tokens (letter/digit runs; each CJK "
        "character a token). 0 = no 3-gram occurs twice; 0.9 = most of the text repeats.",
        params={"n": _NGRAM_N},
        needs=_RM,
        value_range="[0, 1)",
        null_cases=f"empty answer; tool call; fewer than {_NGRAM_N} words",
    ),
    Operator(
        "h_refusal",
        _refusal,
        "1 when the lower-cased response (’ read as ') contains one of Workbench's refusal/'As an "
        "AI' disclaimer phrases anywhere (REFUSAL_ANYWHERE), or a refusal opener (REFUSAL_OPENING, "
        f'e.g. "i\'m sorry, but", "i cannot") at the start of a sentence that begins in its first '
        f"{REFUSAL_OPENING_CHARS} characters (start of text or after . ! ? : or a newline, ignoring "
        "quotes/markdown marks); else 0. Idea from Cherry LLM's filter.py (WizardLM phrase list); list ours.",
        params={"opening_chars": REFUSAL_OPENING_CHARS},
        needs=_RM,
        value_range="{0, 1}",
        null_cases="empty answer; tool call",
    ),
    Operator(
        "h_ascii_share",
        _ascii_share,
        "Share of the response's letters (str.isalpha characters) that are ASCII A-Z/a-z.",
        needs=_RM,
        value_range="[0, 1]",
        null_cases="empty answer; tool call; no letters",
    ),
    Operator(
        "h_cjk_share",
        _cjk_share,
        "Share of the response's letters that are CJK (Han ideographs, kana, hangul).",
        needs=_RM,
        value_range="[0, 1]",
        null_cases="empty answer; tool call; no letters",
    ),
    Operator(
        "h_instr_resp_overlap",
        _overlap,
        "Share of the response's content-word types (lower-cased word tokens minus an English "
        "stopword list) that also occur in the instruction: |R & I| / |R|. Low = answer shares no "
        "vocabulary with the question; near 1 = answer mostly restates it.",
        needs=frozenset({"instruction", "response", "messages"}),
        value_range="[0, 1]",
        null_cases="empty answer; tool call; no instruction; no content words in answer/instruction",
    ),
    Operator(
        "h_instr_resp_jaccard",
        _jaccard,
        "Jaccard similarity of the content-word type sets of instruction and response: "
        "|R & I| / |R | I| (same tokens as h_instr_resp_overlap).",
        needs=frozenset({"instruction", "response", "messages"}),
        value_range="[0, 1]",
        null_cases="empty answer; tool call; no instruction; no content words in answer/instruction",
    ),
    Operator(
        "h_code_parses",
        _code_parses,
        "1 when every Python code block of the response parses with ast.parse (blocks fenced as "
        "```python/py/python3/ipython/pycon; REPL prompts and !/% lines stripped), 0 when one does "
        "not (reason: block and error). When the response has no fences at all and the domain is "
        "'code', the whole response is parsed.",
        needs=frozenset({"response", "domain", "messages"}),
        value_range="{0, 1}",
        null_cases="no code (no fences, not code domain); no python code "
        "(fenced blocks in other languages only); empty answer; tool call",
    ),
    Operator(
        "h_math_final_number",
        _math_final_number,
        "Math domain only: 1 when the response states a final answer: a GSM8K '#### <...digit...>' "
        "line, a non-empty \\boxed{...}, or a digit in the last sentence of the last non-empty line; "
        "else 0.",
        needs=frozenset({"instruction", "response", "domain", "messages"}),
        value_range="{0, 1}",
        null_cases="not math (domain is not 'math'); proof question (the "
        "instruction says prove/proof/show that/demonstrate that/justify why); empty answer; tool call",
    ),
    Operator(
        "h_tool_call_valid",
        _tool_call_valid,
        "For samples whose assistant turns contain tool_calls (or a legacy function_call): 1 when every "
        "call names a function declared in the sample's tools and its arguments are a JSON object "
        "(a JSON string is parsed) that validates against the declared parameters schema with the "
        "jsonschema library (validator from $schema, default Draft 2020-12; a tool without parameters "
        "accepts any object); 0 otherwise, the reason naming the first failing call.",
        needs=frozenset({"messages", "tools"}),
        value_range="{0, 1}",
        null_cases="no tool calls",
    ),
]:
    register_operator(_op)


# ------------------------------------------------------------------------------------------------
# Running operators over the store
# ------------------------------------------------------------------------------------------------


def _select(names: Iterable[str] | None) -> list[Operator]:
    if names is None:
        return list(OPERATORS.values())
    if isinstance(names, str):
        names = [names]
    out = []
    for n in names:
        if n not in OPERATORS:
            raise KeyError(f"unknown heuristic {n!r}; known: {', '.join(OPERATORS)}")
        out.append(OPERATORS[n])
    return out


def _pool_ids(con, pool) -> list[int] | None:
    """None (all pools) or a list of pool ids from an id, a name, or a list of either."""
    if pool is None:
        return None
    items = pool if isinstance(pool, (list, tuple, set)) else [pool]
    out = []
    for p in items:
        if isinstance(p, str) and not p.isdigit():
            row = con.execute("SELECT id FROM pools WHERE name = ?", [p]).fetchall()
            if not row:
                raise KeyError(f"no pool named {p!r}")
            out.append(int(row[0][0]))
        else:
            out.append(int(p))
    return out


def _select_sql(needs: set[str]) -> str:
    cols = ["id"]
    for c in ("instruction", "response", "domain"):
        if c in needs:
            cols.append(c)
    if "messages" in needs:
        # Only tool-call samples need their messages parsed; the rest get NULL (cheap to fetch).
        cols.append(
            "CASE WHEN messages::VARCHAR LIKE '%\"tool_calls\"%' OR messages::VARCHAR LIKE "
            "'%\"function_call\"%' THEN messages::VARCHAR END AS messages"
        )
    if "tools" in needs:
        cols.append("tools::VARCHAR AS tools")
    return ", ".join(cols)


def run_heuristics(
    store: Store,
    *,
    names: Iterable[str] | None = None,
    pool_ids: Sequence[int] | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
    chunk: int = 5000,
) -> dict[str, int]:
    """Compute heuristic operators for the samples of `pool_ids` (all pools when None).

    Samples are read in id order, `chunk` at a time, fetching only the columns the chosen operators
    need. A sample that already has a stored row (value or NULL+reason) for an operator's exact metric
    key and version is skipped for that operator, so a second run recomputes nothing and a run after a
    cancel or crash finishes only what is left. Each chunk's scores for all operators are written in one
    transaction through `engine.quality.scores.write_scores`. Progress is reported in 'samples'; `cancel` is
    checked between chunks (raises `engine.core.jobs.Cancelled`, leaving whole chunks behind).
    Returns {operator name: rows written in this run}.
    """
    import numpy as np

    ops = _select(names)
    chunk = max(int(chunk), 1)
    con = store.cursor()
    try:
        with store.write_lock:
            for op in ops:
                register_metric(store, op.metric, con=con)
        where, params = "", []
        if pool_ids is not None:
            pool_ids = [int(p) for p in pool_ids]
            if not pool_ids:
                return {op.name: 0 for op in ops}
            where, params = "WHERE pool_id IN (SELECT unnest($pools::INTEGER[]))", [pool_ids]
        ids = con.sql(
            f"SELECT id FROM samples {where} ORDER BY id", params={"pools": pool_ids} if params else None
        ).to_arrow_table()
        ids = ids.column("id").to_numpy()
        # Which samples does each operator still need? (same test as engine.quality.scores.scored_ids)
        need: dict[str, np.ndarray] = {}
        for op in ops:
            m = op.metric
            done = (
                con.sql(
                    "SELECT sample_id FROM scores WHERE metric = $m AND model = $mo AND "
                    "params_hash = $h AND version = $v",
                    params={"m": m.metric, "mo": m.model, "h": m.params_hash, "v": m.version},
                )
                .to_arrow_table()
                .column("sample_id")
                .to_numpy()
            )
            need[op.name] = ~np.isin(ids, done) if len(done) else np.ones(len(ids), bool)
        any_need = np.zeros(len(ids), bool)
        for v in need.values():
            any_need |= v
        todo = ids[any_need]
        need = {k: v[any_need] for k, v in need.items()}
        written = {op.name: 0 for op in ops}
        meter = ProgressMeter(progress, total=int(len(todo)), unit="samples")
        meter.report(force=True)
        for start in range(0, len(todo), chunk):
            if cancel is not None:
                cancel.check()
            cids = todo[start : start + chunk]
            live = [op for op in ops if need[op.name][start : start + chunk].any()]
            needs = set().union(*(op.needs for op in live))
            lo, hi = int(cids[0]), int(cids[-1])
            sel = _select_sql(needs)
            if hi - lo + 1 == len(cids):
                tbl = con.sql(
                    f"SELECT {sel} FROM samples WHERE id BETWEEN $lo AND $hi ORDER BY id", params={"lo": lo, "hi": hi}
                ).to_arrow_table()
            else:
                tbl = con.sql(
                    f"SELECT {sel} FROM samples WHERE id BETWEEN $lo AND $hi AND id IN "
                    "(SELECT unnest($ids::BIGINT[])) ORDER BY id",
                    params={"lo": lo, "hi": hi, "ids": cids.tolist()},
                ).to_arrow_table()
            cols = {c: tbl.column(c).to_pylist() for c in tbl.column_names}
            n = tbl.num_rows
            got = np.asarray(cols["id"], dtype=np.int64)
            pos = np.searchsorted(cids, got)  # rows deleted meanwhile simply do not come back
            empty = [None] * n
            samples = [
                Sample(i, a, b, d or "general", m, t)
                for i, a, b, d, m, t in zip(
                    cols["id"],
                    cols.get("instruction", empty),
                    cols.get("response", empty),
                    cols.get("domain", empty),
                    cols.get("messages", empty),
                    cols.get("tools", empty),
                )
            ]
            results = []
            for op in live:
                mask = need[op.name][start : start + chunk][pos]
                f = op.compute
                rows = [(s.id, *f(s)) for s, want in zip(samples, mask.tolist()) if want]
                results.append((op, rows))
            with store.write_lock:
                con.execute("BEGIN TRANSACTION")
                try:
                    for op, rows in results:
                        written[op.name] += write_scores(store, op.metric, rows, con=con)
                    con.execute("COMMIT")
                except BaseException:
                    con.execute("ROLLBACK")
                    raise
            meter.advance(len(cids))
        meter.report(force=True)
        return written
    finally:
        con.close()


def compute(name: str, sample: Sample | dict) -> Value:
    """Convenience: one operator on one sample (a Sample or a dict of its fields)."""
    s = sample if isinstance(sample, Sample) else Sample(**sample)
    return OPERATORS[name].compute(s)


# ------------------------------------------------------------------------------------------------
# Keep / drop rules over stored values
# ------------------------------------------------------------------------------------------------

_OPS = {">": ">", ">=": ">=", "<": "<", "<=": "<=", "==": "=", "!=": "<>"}


@dataclass(frozen=True)
class Rule:
    """Drop a sample when `metric <op> threshold` holds for its stored value.

    A NULL value (operator does not apply) never drops; a sample without a stored row for the metric
    is kept and counted as `missing`. `domains` limits the rule to those sample domains. For an `h_*`
    operator the rule reads that operator's current metric key and version; for any other metric name
    it reads the most recent stored row (optionally of `model`).
    """

    name: str
    metric: str
    op: str
    threshold: float
    domains: tuple[str, ...] | None = None
    description: str = ""
    model: str | None = None

    def __post_init__(self):
        if self.op not in _OPS:
            raise ValueError(f"rule {self.name}: unknown comparison {self.op!r}; use one of {list(_OPS)}")

    def drops(self, value: float | None, domain: str | None = None) -> bool:
        """The rule applied to one value in Python (same semantics as the SQL)."""
        if value is None or (self.domains is not None and domain not in self.domains):
            return False
        t = self.threshold
        return {">": value > t, ">=": value >= t, "<": value < t, "<=": value <= t, "==": value == t, "!=": value != t}[
            self.op
        ]


# Workbench's own defaults (not from any paper): drop only records that are broken on their face.
h_filter_defaults: list[Rule] = [
    Rule("empty", "h_empty_answer", "==", 1, description="answer is empty"),
    Rule("refusal", "h_refusal", "==", 1, description="answer is a refusal or 'As an AI' disclaimer"),
    Rule(
        "repetitive",
        "h_ngram_repetition",
        ">",
        0.5,
        description="more than half of the answer's word 3-grams repeat earlier ones",
    ),
    Rule("code_unparsable", "h_code_parses", "==", 0, description="a Python code block does not parse"),
    Rule(
        "tool_call_invalid",
        "h_tool_call_valid",
        "==",
        0,
        description="a tool call is undeclared, not JSON, or fails the tool's schema",
    ),
    Rule(
        "math_no_final_number",
        "h_math_final_number",
        "==",
        0,
        domains=("math",),
        description="math answer without a final number",
    ),
]


def _rules_query(con, rules: Sequence[Rule], pool, include_excluded: bool) -> tuple[str, list]:
    """SQL (with ? params) giving id, domain, and per rule r{i} (drops) and m{i} (missing)."""
    if not rules:
        raise ValueError("no rules given")
    aggs, params = [], []
    metrics = []
    for i, r in enumerate(rules):
        op = OPERATORS.get(r.metric)
        if op is not None and r.model in (None, ""):
            m = op.metric
            cond = "metric = ? AND model = ? AND params_hash = ? AND version = ?"
            cp = [m.metric, m.model, m.params_hash, m.version]
            aggs.append(f"max(value) FILTER (WHERE {cond}) AS v{i}, count(*) FILTER (WHERE {cond}) AS c{i}")
            params += cp + cp
        else:
            cond = "metric = ?" + (" AND model = ?" if r.model is not None else "")
            cp = [r.metric] + ([r.model] if r.model is not None else [])
            aggs.append(
                f"arg_max(value, created_at) FILTER (WHERE {cond}) AS v{i}, count(*) FILTER (WHERE {cond}) AS c{i}"
            )
            params += cp + cp
        metrics.append(r.metric)
    ph = ", ".join("?" for _ in set(metrics))
    params += sorted(set(metrics))
    sel = []
    for i, r in enumerate(rules):
        dom = ""
        if r.domains is not None:
            dom = " AND s.domain IN (" + ", ".join("?" for _ in r.domains) + ")"
        sel.append(
            (f"coalesce(sc.v{i} {_OPS[r.op]} ?{dom}, false) AS r{i}", [float(r.threshold)] + list(r.domains or []))
        )
        sel.append((f"(coalesce(sc.c{i}, 0) = 0{dom}) AS m{i}", list(r.domains or [])))
    where = []
    pids = _pool_ids(con, pool)
    if pids is not None:
        where.append("s.pool_id IN (" + ", ".join("?" for _ in pids) + ")")
    if not include_excluded:
        where.append("NOT s.excluded")
    sql = (
        f"WITH sc AS (SELECT sample_id, {', '.join(aggs)} FROM scores WHERE metric IN ({ph}) "
        f"GROUP BY sample_id) SELECT s.id, s.domain, {', '.join(x for x, _ in sel)} "
        f"FROM samples s LEFT JOIN sc ON sc.sample_id = s.id" + (" WHERE " + " AND ".join(where) if where else "")
    )
    for _, p in sel:
        params += p
    params += list(pids or [])
    return sql, params


def keep_mask(store: Store, rules: Sequence[Rule] = h_filter_defaults, *, pool=None, include_excluded: bool = True):
    """A pyarrow table (id, domain, keep, one boolean column per rule name = 'this rule drops it'),
    ordered by id. `pool` is a pool id, a pool name or a list of either (None: all)."""
    con = store.cursor()
    try:
        sql, params = _rules_query(con, rules, pool, include_excluded)
        drop_any = " OR ".join(f"r{i}" for i in range(len(rules)))
        cols = ", ".join(f'r{i} AS "{r.name}"' for i, r in enumerate(rules))
        rel = con.sql(f"SELECT id, domain, NOT ({drop_any}) AS keep, {cols} FROM ({sql}) ORDER BY id", params=params)
        return rel.to_arrow_table()
    finally:
        con.close()


@dataclass
class RuleCount:
    rule: str
    dropped: int  # samples this rule drops (a sample can be dropped by several rules)
    only: int  # samples dropped by this rule and no other
    missing: int  # samples the rule applies to that have no stored score for its metric


@dataclass
class DomainCounts:
    domain: str
    total: int
    kept: int
    dropped: int
    rules: dict[str, RuleCount]


def explain_filters(
    store: Store, rules: Sequence[Rule] = h_filter_defaults, pool=None, *, include_excluded: bool = True
) -> dict[str, DomainCounts]:
    """Per domain: how many samples the rules keep and drop, and what each rule drops.

    Returns {domain: DomainCounts}; sum over domains for the total. `missing` counts samples a rule
    could not judge because its metric was never computed for them (they are kept).
    """
    con = store.cursor()
    try:
        sql, params = _rules_query(con, rules, pool, include_excluded)
        n = len(rules)
        drop_any = " OR ".join(f"r{i}" for i in range(n))
        per = []
        for i in range(n):
            others = " OR ".join(f"r{j}" for j in range(n) if j != i) or "false"
            per.append(
                f"count(*) FILTER (WHERE r{i}), count(*) FILTER (WHERE r{i} AND NOT ({others})), "
                f"count(*) FILTER (WHERE m{i})"
            )
        q = (
            f"SELECT domain, count(*), count(*) FILTER (WHERE {drop_any}), {', '.join(per)} "
            f"FROM ({sql}) GROUP BY domain ORDER BY domain"
        )
        out: dict[str, DomainCounts] = {}
        for row in con.execute(q, params).fetchall():
            dom, total, dropped = row[0], int(row[1]), int(row[2])
            rc = {}
            for i, r in enumerate(rules):
                d, o, m = row[3 + 3 * i : 6 + 3 * i]
                rc[r.name] = RuleCount(r.name, int(d), int(o), int(m))
            out[dom] = DomainCounts(dom, total, total - dropped, dropped, rc)
        return out
    finally:
        con.close()


def format_explain(counts: dict[str, DomainCounts]) -> str:
    """Plain-text table of `explain_filters` output (one row per domain and rule)."""
    lines = [f"{'domain':<12} {'total':>9} {'kept':>9} {'dropped':>9}  per rule: dropped (only / missing)"]
    for d in counts.values():
        per = "; ".join(f"{r.rule} {r.dropped} ({r.only}/{r.missing})" for r in d.rules.values())
        lines.append(f"{d.domain:<12} {d.total:>9,} {d.kept:>9,} {d.dropped:>9,}  {per}")
    return "\n".join(lines)


__all__ = [
    "OPERATORS",
    "Operator",
    "Rule",
    "RuleCount",
    "DomainCounts",
    "Sample",
    "compute",
    "explain_filters",
    "format_explain",
    "h_filter_defaults",
    "keep_mask",
    "register_operator",
    "run_heuristics",
    "words",
    "code_blocks",
    "REFUSAL_ANYWHERE",
    "REFUSAL_OPENING",
    "STOPWORDS",
]
