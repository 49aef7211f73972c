"""Instruction-data formats: detection and normalisation into canonical OpenAI-style messages.

Every supported format is a `FormatSpec` in `FORMATS`. A spec knows how to recognise a record (`detect`),
how to turn one record into a `Normalized` sample (`normalize`), and, for flat formats whose fields are
plain strings, which keys make the user turn, the reply and the system prompt (`flat`). Flat formats
can be imported by a DuckDB fast path and by a cheaper Python path; both build messages the same way.

Conventions shared by every format (see docs/formats.md):
- messages are OpenAI style `{"role", "content"[, "name"][, "tool_calls"][, "tool_call_id"]}`; a system
  prompt is the first message *and* kept in `Normalized.system`;
- an instruction and its input are joined with a single newline (as LLaMA-Factory does);
- a reply that is JSON `null` means "no reply" (prompt-only eval sets); a missing reply key is an error;
- original fields that did not go into the messages are kept in `meta`;
- where an instruction and a non-empty input were joined, `meta["input_split"]` is the instruction's
  length, so both can be recovered (`split_user`);
- a preference pair (LLaMA-Factory `ranking: true`) ends its messages with the chosen reply and keeps the
  rejected reply, an assistant message, in `Normalized.rejected` (`preference_pair` splits them again).

Modules:
- `records`: `Normalized`, `RecordIssue`, the content hash, `input_split`, `preference_pair`;
- `fields`: `FieldError`, `NotFlat` and the field helpers the converters share;
- `registry`: `FormatSpec`, `FORMATS`, `register`, `make_context`;
- `flat`: flat records (`flat_row`), shared by the flat formats and the import's fast path;
- converters, each registering its formats: `instruction` (alpaca, alpaca_ranking, mapping, dolly,
  prompt_completion, prompt_only, self_instruct), `chat` (sharegpt, sharegpt_ranking, messages), `evalsets` (qa, problem_solution, mcq, mbpp,
  humaneval, svamp, asdiv), `function_calling` (bfcl, openfunctions, apibench);
- `detection`: `detect_format` with reasons, `suggest_domain`.
"""

from engine.data.formats import chat, evalsets, function_calling, instruction  # noqa: F401  (register formats)
from engine.data.formats.detection import detect_format, suggest_domain
from engine.data.formats.evalsets import (
    boxed_answer,
    humaneval_prompt,
    humaneval_test,
    mbpp_prompt,
    number_text,
    word_problem_answer,
)
from engine.data.formats.fields import FieldError, NotFlat, type_name
from engine.data.formats.flat import flat_row
from engine.data.formats.function_calling import parse_apibench_code
from engine.data.formats.records import (
    DOMAINS,
    INPUT_SPLIT,
    BigInt,
    Normalized,
    RecordIssue,
    content_hash,
    content_hash_text,
    dumps,
    json_text,
    preference_pair,
    split_user,
)
from engine.data.formats.registry import (
    FLAT_FORMATS,
    FORMATS,
    PRECEDENCE,
    FlatCols,
    FormatContext,
    FormatSpec,
    make_context,
    register,
)

# NotFlat is internal control flow (the fast import path falls back to Python); reported under its public path
NotFlat.__module__ = __name__

__all__ = [
    "BigInt",
    "DOMAINS",
    "FLAT_FORMATS",
    "FORMATS",
    "INPUT_SPLIT",
    "PRECEDENCE",
    "FieldError",
    "FlatCols",
    "FormatContext",
    "FormatSpec",
    "Normalized",
    "NotFlat",
    "RecordIssue",
    "boxed_answer",
    "content_hash",
    "content_hash_text",
    "detect_format",
    "dumps",
    "flat_row",
    "humaneval_prompt",
    "humaneval_test",
    "json_text",
    "make_context",
    "mbpp_prompt",
    "number_text",
    "parse_apibench_code",
    "preference_pair",
    "register",
    "split_user",
    "suggest_domain",
    "type_name",
    "word_problem_answer",
]
