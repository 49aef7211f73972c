"""Refusal operator: refusals and "As an AI ..." disclaimers, from two phrase lists.

The marker list is our own. The idea (a case-insensitive phrase list of refusals and "As an AI ..."
disclaimers used to drop WizardLM/Alpaca records) comes from Cherry LLM's `cherry_seletion/filter.py`
(tianyi-lab/Cherry_LLM @ 01fac8d). That list matches substrings anywhere, including very common openers
("I'm an", "I cannot", "It is impossible"), which flags many good answers; ours separates unambiguous
disclaimers (matched anywhere) from refusal openers (matched only at the start of the answer). The
markers are compiled into one prefix-trie regex (~5 us per KB).
"""

from __future__ import annotations

from engine.quality.heuristics.registry import RESPONSE_MESSAGES, operator
from engine.quality.heuristics.sample import Sample, Value, empty_reason
from engine.quality.heuristics.text import trie_regex

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
_REFUSAL_ANY_RE = trie_regex(REFUSAL_ANYWHERE)
_REFUSAL_OPEN_RE = trie_regex(REFUSAL_OPENING)
_QUOTE_TABLE = str.maketrans({"’": "'", "‘": "'"})


@operator(
    "h_refusal",
    "1 when the lower-cased response (’ read as ') contains one of Workbench's refusal/'As an "
    "AI' disclaimer phrases anywhere (REFUSAL_ANYWHERE), or a refusal opener (REFUSAL_OPENING, "
    f'e.g. "i\'m sorry, but", "i cannot") at the start of a sentence that begins in its first '
    f"{REFUSAL_OPENING_CHARS} characters (start of text or after . ! ? : or a newline, ignoring "
    "quotes/markdown marks); else 0. Idea from Cherry LLM's filter.py (WizardLM phrase list); list ours.",
    params={"opening_chars": REFUSAL_OPENING_CHARS},
    needs=RESPONSE_MESSAGES,
    value_range="{0, 1}",
    null_cases="empty answer; tool call",
)
def _refusal(s: Sample) -> Value:
    if s.is_empty():
        return None, empty_reason(s)
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
