"""Shared text helpers of the heuristic operators: word tokens, letter counts, stopwords, phrase regexes.

Tokenisation is a str/bytes translate + split (ASCII fast path) or one regex (other scripts); a tokenizer
library would cost 10-100x more per sample and the operators only need word types.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af\u1100-\u11ff\u3130-\u318f"
_WORD_RE = re.compile(rf"[{_CJK}]|[^\W_{_CJK}]+")
CJK_RE = re.compile(rf"[{_CJK}]")
_LETTER_RE = re.compile(r"[^\W\d_]")
ALNUM_RE = re.compile(r"[^\W_]")
_ASCII_LETTER_RE = re.compile(r"[A-Za-z]")
_ASCII_WORD_TABLE = bytes(c if chr(c).isalnum() else 32 for c in range(256))
_ASCII_NONLETTERS = bytes(c for c in range(256) if not chr(c).isalpha() or c > 127)

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


def words(text: str) -> list[str]:
    """Lower-cased word tokens: maximal runs of letters/digits (underscore and punctuation separate),
    and every CJK ideograph, kana or hangul character on its own."""
    if not text:
        return []
    low = text.lower()
    if low.isascii():
        return low.encode("ascii").translate(_ASCII_WORD_TABLE).decode("ascii").split()
    return _WORD_RE.findall(low)


def letter_counts(text: str) -> tuple[int, int, int]:
    """(letters, ASCII letters, CJK letters) of `text`; letters = str.isalpha characters."""
    if text.isascii():
        n = len(text.encode("ascii").translate(None, _ASCII_NONLETTERS))
        return n, n, 0
    n_letters = len(_LETTER_RE.findall(text))
    n_ascii = len(_ASCII_LETTER_RE.findall(text))
    n_cjk = len(CJK_RE.findall(text))
    return n_letters, n_ascii, n_cjk


def trie_regex(phrases: Iterable[str]) -> re.Pattern:
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
