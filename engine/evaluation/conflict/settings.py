"""Whether two runs' evaluations are comparable: differing generation settings and prompts, in words."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.evaluation.conflict.rates import SettingsMismatch

if TYPE_CHECKING:
    from engine.core.store import Store


def settings_differences(store: Store | None, a: dict[int, dict], b: dict[int, dict]) -> list[dict]:
    """The settings that differ between the evaluations behind the items two runs share (a, b: item_results
    rows): [{setting, eval_set, run_value, other_value, evaluations}] from the recorded settings (only those
    both evaluations recorded are compared), and {setting: 'prompt (chat template)', items, of} when the
    rendered prompts of shared items differ."""
    from engine.evaluation.evaluate import evaluation_settings

    shared = [k for k in a if k in b]
    pairs = sorted(
        {(a[k].get("evaluation_id"), b[k].get("evaluation_id")) for k in shared} - {(None, None)},
        key=lambda p: (p[0] or -1, p[1] or -1),
    )
    recorded = evaluation_settings(store, [x for p in pairs for x in p]) if store is not None else {}
    out: list[dict] = []
    seen = set()
    for ea, eb in pairs:
        if ea not in recorded or eb not in recorded or ea == eb:
            continue
        sa, sb = recorded[ea]["settings"], recorded[eb]["settings"]
        for key in sorted(set(sa) & set(sb)):
            if sa[key] != sb[key] and (recorded[ea]["eval_set"], key) not in seen:
                seen.add((recorded[ea]["eval_set"], key))
                out.append(
                    {
                        "setting": key,
                        "eval_set": recorded[ea]["eval_set"],
                        "run_value": sa[key],
                        "other_value": sb[key],
                        "evaluations": [ea, eb],
                    }
                )
    differ = [
        k
        for k in shared
        if a[k].get("prompt") is not None and b[k].get("prompt") is not None and a[k]["prompt"] != b[k]["prompt"]
    ]
    if differ:
        out.append(
            {
                "setting": "prompt (chat template)",
                "eval_set": a[differ[0]].get("eval_set"),
                "run_value": a[differ[0]]["prompt"][-80:],
                "other_value": b[differ[0]]["prompt"][-80:],
                "items": len(differ),
                "of": len(shared),
            }
        )
    return out


def mismatch_text(x: dict) -> str:
    """One settings difference in words."""
    who = f"run {x.get('run', '?')} and {x.get('role', 'the other run')} (run {x.get('other_run', '?')})"
    where = (f"{x['domain']}: " if x.get("domain") else "") + who
    if "items" in x:
        return (
            f"{where} were evaluated with different prompts (chat template) on {x['items']} of {x['of']} "
            f"shared items of {x.get('eval_set')}"
        )
    return (
        f"{where} were evaluated with a different {x['setting']} on {x.get('eval_set')}: "
        f"{x['run_value']!r} vs {x['other_value']!r}"
    )


def _settings_check(store: Store, mismatches: list[dict], warnings: list[str], a: dict, b: dict, **who) -> None:
    """Record (and word as warnings) the settings differences between two runs' evaluations of shared items."""
    for x in settings_differences(store, a, b):
        x = who | x
        mismatches.append(x)
        warnings.append(mismatch_text(x))


def _refuse_if_strict(strict: bool, mismatches: list[dict]) -> None:
    if strict and mismatches:
        names = ", ".join(dict.fromkeys(x["setting"] for x in mismatches))
        raise SettingsMismatch(
            f"refused (strict): the evaluations compared differ in {names}: "
            + "; ".join(mismatch_text(x) for x in mismatches)
            + ". Evaluate both runs with the same settings, or leave strict off to get the "
            "numbers with a warning",
            mismatches,
        )
