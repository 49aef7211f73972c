"""The code scorer: the code of a model output (`extract_code`, `with_prompt`) run with the task's asserts in
the sandbox (`check_code`)."""

from __future__ import annotations

import re

from engine.evaluation.scorer_types import AnswerCheckError, Check

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.S)


def extract_code(output: str) -> str:
    """The code in a model output: the first fenced python block defining a function, else the first fenced
    block, else the whole output."""
    if not output:
        return ""
    blocks = [(lang.lower(), body) for lang, body in _FENCE.findall(output)]
    if not blocks:
        return output.strip("\n")
    for lang, body in blocks:
        if lang in ("", "python", "py", "python3") and re.search(r"^\s*def \w+\(", body, re.M):
            return body
    return blocks[0][1]


def with_prompt(code: str, prompt: str, entry_point: str | None) -> str:
    """HumanEval-style items (a `prompt` holding imports, helpers and the entry point's signature and
    docstring): extracted code that does not define `entry_point` is a completion of the prompt's function
    body, so the program is prompt + code; code that defines it (the whole function) runs after the prompt
    (prompt + newline + code: the prompt's imports and helpers stay available and the model's definition
    replaces the prompt's docstring-only stub). No prompt: the code as it is."""
    if not prompt:
        return code
    if entry_point and re.search(rf"^[ \t]*(?:async[ \t]+)?def[ \t]+{re.escape(entry_point)}[ \t]*\(", code, re.M):
        return prompt.rstrip("\n") + "\n\n\n" + code
    return prompt + code


def check_code(
    output: str, tests: list[str], *, setup: str = "", limits=None, prompt: str = "", entry_point: str | None = None
) -> Check:
    """Run the output's code (after `prompt`, see `with_prompt`) and the asserts in the sandbox; correct =
    all pass, score = share passed."""
    from engine.evaluation.sandbox import SandboxUnavailable, run_code

    if not isinstance(tests, list) or not tests or not all(isinstance(t, str) for t in tests):
        raise AnswerCheckError("code: the reference needs a non-empty list of assert statements (test_list)")
    code = with_prompt(extract_code(output or ""), prompt or "", entry_point)
    try:
        r = run_code(code, tests, setup=setup or "", limits=limits)
    except SandboxUnavailable as e:
        raise AnswerCheckError(f"code: {e}") from e
    details = {
        "status": r.status,
        "n_passed": r.n_passed,
        "n_tests": r.n_tests,
        "error": r.error,
        "seconds": round(r.seconds, 3),
        "isolation": r.isolation,
        "remote_answers": r.remote_answers,
    }
    return Check(r.passed, code, r.n_passed / max(r.n_tests, 1), details)
