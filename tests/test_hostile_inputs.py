"""Hostile inputs through the real CLI (a subprocess per input, tests/helpers.py `wb`) on a small real store:
filter expressions, --sort keys, --score ranges, names for everything a person names, mixture recipes and a --db
that is no store. Each must end in exit 1, 2 or 3 with a one-line message naming the field or the problem, no
traceback, and the store exactly as it was (row counts of every table a command writes, a content hash of the
samples and their tags, the pool names) with nothing written beside it.

NUL cannot be passed in argv at all (the OS ends an argument at it), so NUL reaches the CLI only through files
(a recipe below) and is checked through the engine calls the CLI makes (test_nul_reaches_the_same_checks).

The last test is the app's half: an OSError in an engine call from a screen (Browse's export into a path under a
regular file) is an error notification, and the app stays up.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from engine.core.store import Store
from tests.helpers import SAMPLE, wb

TABLES = [
    "pools",
    "imports",
    "samples",
    "sample_tags",
    "scores",
    "mixtures",
    "mixture_items",
    "selections",
    "selection_items",
    "domain_rules",
    "clusterings",
    "interpolation_sets",
    "runs",
]


@pytest.fixture(scope="module")
def hostile_store(tmp_path_factory) -> Path:
    """Pools m (80 math) and c (80 code), IFD scores of model 'm', a tag, a saved mixture m1 and a selection s1;
    a copy of math.jsonl to import (in.jsonl) and an empty folder out/ for exports."""
    from engine.data.ingest import import_file
    from engine.data.query import Filter, bulk_tag
    from engine.mixtures import Component, Recipe, save
    from engine.quality.scores import MetricDef, write_scores
    from engine.quality.selection import superfiltering_select

    d = tmp_path_factory.mktemp("hostile")
    db = d / "s.duckdb"
    with Store(db) as st:
        import_file(st, SAMPLE / "math.jsonl", pool="m", domain="math")
        import_file(st, SAMPLE / "code.jsonl", pool="c", domain="code")
        ids = [r[0] for r in st.con.execute("SELECT id FROM samples ORDER BY id").fetchall()]
        write_scores(st, MetricDef("ifd", "m", definition="test"), [(s, (s % 10) / 10, None) for s in ids])
        bulk_tag(st, Filter(expression="n_tokens > 100"), "long")
        save(st, "m1", Recipe([Component("domain:math", "domain", "math")], budget=10))
        superfiltering_select(st, "s1", rate=0.5)
    shutil.copy(SAMPLE / "math.jsonl", d / "in.jsonl")
    (d / "out").mkdir()
    return db


def state(db: Path) -> dict:
    """What a failed command must leave as it was."""
    with Store(db, read_only=True) as st:
        q = st.con.execute
        out = {t: q(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in TABLES}
        out["samples_hash"] = q(
            "SELECT md5(string_agg(concat_ws('|', id, pool_id, domain, domain_source, excluded, content_hash, "
            "messages::VARCHAR), chr(10) ORDER BY id)) FROM samples"
        ).fetchall()[0][0]
        out["tags"] = q(
            "SELECT md5(string_agg(sample_id || ':' || tag, ',' ORDER BY sample_id, tag)) FROM sample_tags"
        ).fetchall()[0][0]
        out["pools"] = q("SELECT list(name ORDER BY id) FROM pools").fetchall()[0][0]
    out["files"] = sorted(str(p.relative_to(db.parent)) for p in db.parent.rglob("*") if "cfg" not in p.parts)
    return out


def refused(db: Path, args: list[str], *want: str, codes=(1, 2, 3)) -> str:
    """Run `workbench ARGS` on db; assert it is refused cleanly (see the module docstring); returns stderr."""
    before = state(db)
    r = wb(db, *args, check=False)
    err = r.stderr
    assert r.returncode in codes, (args, r.returncode, r.stdout[-500:], err[-2000:])
    assert "Traceback" not in err, err
    last = err.strip().split("\n")[-1]
    assert last.startswith("workbench"), err  # ours (or argparse's "workbench CMD: error: ..."), not a library's
    assert len(err) < 2500, f"a {len(err):,}-character error message"
    low = err.lower()
    for w in want:
        assert w.lower() in low, (args, w, err)
    assert "\x1b" not in err and "\u202e" not in err, "an escape or an override reached the terminal raw"
    assert state(db) == before, args
    return err


def cases(table: dict, quick: set[str]) -> list:
    """pytest params of {id: (args..., want)}; those not in `quick` run only in the full suite (a subprocess each)."""
    return [pytest.param(*v, id=k, marks=() if k in quick else pytest.mark.slow) for k, v in table.items()]


# --- filter expressions (query --where; tag/exclude/set-domain with a filter write)

FILTERS = {
    "inject": ("1; DROP TABLE samples", "unexpected ';'"),
    "inject-after": ("domain = 'math'; DROP TABLE samples; --", "unexpected ';'"),
    "comment": ("domain = 'a' or 1=1 --", "comments ('--') are not allowed"),
    "quote": ("domain = 'math", "unterminated string"),
    "double-quote": ('domain = "math', "unterminated string"),
    "open-paren": ("(n_tokens > 1", "unclosed '('"),
    "close-paren": ("n_tokens > 1)", "unbalanced ')'"),
    "parens-only": ("((((", "expected a field name"),
    "10k": ("x" * 10_000, "expression is too long (10000 characters"),
    "10k-nested": ("(" * 5000 + "1" + ")" * 5000, "too long"),
    "unknown-field": ("nope = 1", "unknown field 'nope'"),
    "unknown-score": ("score.nope < 1", "unknown score metric 'nope'"),
    "rtl": ("\u202e", "unexpected character '\\u202e'"),
    "rtl-after": ("domain = 'math' \u202e", "unexpected character '\\u202e'"),
    "ansi": ("\x1b[31m", "unexpected character '\\x1b'"),
    "huge-number": ("n_tokens > 1e400", "number out of range"),
    "empty": ("", "--where: empty"),
    "spaces": ("   ", "--where: empty"),
}


@pytest.mark.parametrize(
    "expr,want", cases(FILTERS, {"inject", "quote", "open-paren", "10k", "unknown-field", "rtl", "empty"})
)
def test_hostile_filter_expressions(hostile_store, expr, want):
    refused(hostile_store, ["query", "--where", expr, "--count"], want)


WRITING = {
    "tag-inject": (["tag", "hard", "--where", "1; DROP TABLE samples"], "unexpected ';'"),
    "tag-empty-where": (["tag", "hard", "--where", ""], "--where: empty"),  # "$EMPTY" would have tagged everything
    "exclude-blank-text": (["exclude", "--text", " "], "--text: empty"),
    "exclude-parens": (["exclude", "--where", "(("], "expected a field name"),
    "set-domain": (["set-domain", "x", "--where", "domain = 'math"], "unterminated string"),
    "export": (["export", "OUT", "--where", "nope > 1"], "unknown field 'nope'"),
    "pool-10k": (["query", "--pool", "x" * 10_000, "--count"], "no pool named 'xxxx"),  # quoted, cut short
    "pool-inject": (["query", "--pool", "1; DROP TABLE samples", "--count"], "no pool named '1; drop table samples'"),
}


@pytest.mark.parametrize("args,want", cases(WRITING, {"tag-inject", "tag-empty-where", "pool-10k"}))
def test_hostile_filters_on_commands_that_write(hostile_store, args, want):
    args = [str(hostile_store.parent / "out" / "o.jsonl") if a == "OUT" else a for a in args]
    refused(hostile_store, args, want)


def test_filter_values_are_data_not_syntax(hostile_store):
    """Inside quotes the same text is a value: it is compared, never run, and matches what it should."""
    for expr in ("instruction = '1; DROP TABLE samples'", "domain = '\u202emath'", "text ~ '\x1b[31m'"):
        before = state(hostile_store)
        r = wb(hostile_store, "query", "--where", expr, "--count")
        assert r.stdout.strip() == "0" and state(hostile_store) == before


# --- --sort and --score


SORTS = {
    "inject": ("id:desc; DROP", "direction 'desc; drop'"),
    "unknown": ("nope", "no key 'nope'; sortable columns: id"),
    "sideways": ("id:sideways", "direction 'sideways'; a direction is asc or desc"),
    "empty": ("", "no key ''"),
    "colon": (":", "no key ''"),
    "unknown-score": ("score.nope", "no key 'score.nope'"),
    "rtl": ("id\u202e", "no key 'id\\u202e'"),
}


@pytest.mark.parametrize("spec,want", cases(SORTS, {"inject", "unknown", "sideways", "empty"}))
def test_hostile_sort_keys(hostile_store, spec, want):
    refused(hostile_store, ["query", "--sort", spec, "--count"], want)


SCORES = {
    "unknown": (["query", "--score", "nope::1"], "no metric 'nope'; metrics with scores: ifd"),
    "empty-metric": (["query", "--score", "::"], "no metric ''"),
    "empty": (["query", "--score", ""], "expected metric:min:max"),
    "four-parts": (["query", "--score", "ifd:1:2:3"], "expected metric:min:max"),
    "words": (["query", "--score", "ifd:a:b"], "bounds must be numbers"),
    "nan": (["query", "--score", "ifd:nan:"], "minimum nan is not a finite number"),
    "inf": (["query", "--score", "ifd::inf"], "maximum inf is not a finite number"),
    "overflow": (["query", "--score", "ifd:1e999:"], "not a finite number"),
    "min-above-max": (["query", "--score", "ifd:2:1"], "minimum 2.0 is above maximum 1.0"),
    # these three were accepted: matched nothing, saved an empty selection, printed a table of zeros
    "exclude-min-above-max": (["exclude", "--score", "ifd:0.9:0.1"], "minimum 0.9 is above maximum 0.1"),
    "select-nan": (["select", "s9", "--score", "ifd:nan:"], "not a finite number"),
    "scores-unknown": (["scores", "nope"], "no metric 'nope'; metrics with scores: ifd"),
    "scores-rtl": (["scores", "\u202e"], "no metric '\\u202e'"),
    "keep-nan": (["scores", "ifd", "--keep", "< nan"], "'nan' is not a finite number"),
    "keep-inject": (["scores", "ifd", "--keep", "1; DROP"], "--keep '1; drop'"),
    "score-where": (["score", "--metric", "heuristics", "--where", "1; DROP TABLE samples"], "unexpected ';'"),
    "score-empty-metric": (["score", "--metric", ""], "unknown metric group"),
}


@pytest.mark.parametrize(
    "args,want", cases(SCORES, {"unknown", "empty", "words", "nan", "min-above-max", "scores-unknown", "score-where"})
)
def test_hostile_score_arguments(hostile_store, args, want):
    refused(hostile_store, args + (["--count"] if args[0] == "query" else []), want)


# --- names: one rule for every name (engine.core.names)

NAMES = {
    "10k": ("n" * 10_000, "10,000 characters long"),
    "newline": ("a\nb", "U+000A"),
    "ansi": ("\x1b[31mred", "U+001B"),
    "blank": ("", "empty"),
    "spaces": ("   ", "only spaces"),
    "rtl": ("\u202eevil", "U+202E (right-to-left override)"),
    "dash": ("-lead", "starts with '-'"),
    "linesep": ("ok\u2028x", "U+2028"),
}
# command: (the field its message names, its arguments around the name; `--` or `--opt=` lets '-lead' through)
NAMED = {
    "import-pool": ("pool name", lambda n, d: ["import", str(d / "in.jsonl"), f"--pool={n}"]),
    "pool-rename": ("pool name", lambda n, d: ["pool", "rename", "m", "--", n]),
    "tag": ("tag", lambda n, d: ["tag", "--pool", "m", "--", n]),
    "mix-save": ("mixture name", lambda n, d: ["mix", "save", "-c", "domain:math", "--budget", "5", "--", n]),
    "select": ("selection name", lambda n, d: ["select", "--rate", "0.5", "--", n]),
    "cluster": ("clustering name", lambda n, d: ["cluster", "--", n]),
    "export-dataset-name": (
        "dataset name",
        lambda n, d: ["export", str(d / "out" / "o.jsonl"), "--dataset-info", str(d / "out"), f"--dataset-name={n}"],
    ),
    "mix-export-dataset-name": (
        "dataset name",
        lambda n, d: [
            "mix",
            "export",
            "m1",
            str(d / "out" / "m.jsonl"),
            "--dataset-info",
            str(d / "out"),
            f"--dataset-name={n}",
        ],
    ),
    "set-domain": ("domain", lambda n, d: ["set-domain", "--pool", "m", "--", n]),
    "pool-set-domain": ("domain", lambda n, d: ["pool", "set-domain", "m", "--", n]),
    "rules-add": ("rule name", lambda n, d: ["rules", "add", "--add-tag", "x", "--", n, "domain = 'math'"]),
    "interpolate-create": (
        "interpolation set name",
        lambda n, d: ["interpolate", "create", "--a", "domain:math", "--b", "domain:code", "--pairs", "5", "--", n],
    ),
    "train-name": ("run name", lambda n, d: ["train", "m1", f"--name={n}"]),
    "mix-component-domain": ("component domain", lambda n, d: ["mix", "save", "mz", "-c", f"domain:math | domain {n}"]),
}
# the quick loop: the commands the issue names with one name, every name with one command; the rest is slow
QUICK_NAMED = {"import-pool", "pool-rename", "tag", "mix-save", "select", "cluster", "export-dataset-name"}
NAME_CASES = [
    pytest.param(
        cmd,
        name,
        marks=() if (name == "rtl" and cmd in QUICK_NAMED) or cmd == "pool-rename" else pytest.mark.slow,
        id=f"{cmd}-{name}",
    )
    for cmd in NAMED
    for name in NAMES
    if not (cmd == "mix-component-domain" and name in ("blank", "spaces", "newline"))  # `| domain` needs a value
]


@pytest.mark.parametrize("cmd,name", NAME_CASES)
def test_hostile_names(hostile_store, cmd, name):
    field, build = NAMED[cmd]
    value, why = NAMES[name]
    refused(hostile_store, build(value, hostile_store.parent), f"{field}: ", why)


def test_a_name_that_only_differs_by_spaces_is_the_same_name(hostile_store):
    refused(hostile_store, ["pool", "rename", "m", "  c  "], "a pool named 'c' already exists")


# --- selections, mixtures and recipes that used to be saved empty or crash


SELECTIONS_AND_MIXTURES = {
    # each of these was accepted: an empty selection saved, everything kept, an empty mixture saved
    "n-negative": (["select", "s9", "--n", "-3"], "n must be a whole number of samples per group, 1 or more; got -3"),
    "n-zero": (["select", "s9", "--n", "0"], "got 0"),
    "threshold-nan": (["select", "s9", "--threshold", "nan"], "threshold must be a number"),
    "unknown-model": (
        ["select", "s9", "--model", "\u202e"],
        "model '\\u202e': no ifd values of this scorer; models with ifd values: m",
    ),
    "component-name": (
        ["mix", "save", "mz", "-c", "domain:math | name \u202e"],
        "component name: '\\u202e' has u+202e",
    ),
    "nothing-matches": (["mix", "save", "mz", "-c", "domain:nope", "--budget", "5"], "resolves to no items"),
    "budget-0": (["mix", "save", "mz", "-c", "domain:math", "--budget", "0"], "its budget is 0"),
    # and these were refused already
    "rate-nan": (["select", "s9", "--rate", "nan"], "rate must be in (0, 1]"),
    "taken": (["select", "s1", "--rate", "0.5"], "a selection named 's1' exists"),
    "component-inject": (["mix", "save", "mz", "-c", "domain:math | where 1; DROP TABLE samples"], "unexpected ';'"),
    "component-kind": (["mix", "save", "mz", "-c", "nope:math"], "expected kind:ref"),
    "prop-nan": (["mix", "save", "mz", "-c", "domain:math", "--prop", "math=nan"], "bad value 'nan'"),
    "at": (["mix", "save", "a@b", "-c", "domain:math"], "cannot contain '@'"),
    "show-10k": (["mix", "show", "x" * 10_000], "no mixture 'xxxx"),
}


@pytest.mark.parametrize(
    "args,want",
    cases(
        SELECTIONS_AND_MIXTURES, {"n-negative", "threshold-nan", "unknown-model", "component-name", "nothing-matches"}
    ),
)
def test_hostile_selection_and_mixture_arguments(hostile_store, args, want):
    refused(hostile_store, args, want)


COMPONENT = {"kind": "domain", "ref": "math"}
RECIPES = {  # each crashed with a traceback, or was saved as something else (str(["math"]) as a domain)
    "list": ([1], "a recipe is a json object, not list"),
    "proportions-list": ({"components": [COMPONENT], "proportions": [1]}, "proportions: expected an object, not list"),
    "components-str": ({"components": "domain:math"}, "components: expected a list, not str"),
    "filter-int": ({"components": [dict(COMPONENT, filter=5)]}, "component 1: filter must be text, not int"),
    "ref-list": ({"components": [dict(COMPONENT, ref=["math"])]}, "component 1: ref must be text or a pool id"),
    "name-list": ({"components": [dict(COMPONENT, name=["x"])]}, "component 1: name must be text"),
    "domain-nul": ({"components": [dict(COMPONENT, domain="a\u0000b")]}, "component domain: 'a\\x00b' has u+0000"),
    "replay-list": (
        {"components": [COMPONENT], "stages": [{"name": "s", "domains": ["math"], "replay": [1]}]},
        "replay must be",
    ),
    "domains-str": (
        {"components": [COMPONENT], "stages": [{"name": "s", "domains": "math"}]},
        "domains must be a list",
    ),
    "derived-int": ({"components": [COMPONENT], "derived": 5}, "derived: expected an object"),
    "derived-id": ({"components": [COMPONENT], "derived": {"mixture_id": "x", "domain": "math"}}, "derived: expected"),
    "budget": ({"components": [COMPONENT], "budget": -1}, "budget must be a whole number >= 0"),
}


@pytest.mark.parametrize("recipe,want", cases(RECIPES, {"list", "proportions-list", "filter-int", "domain-nul"}))
def test_hostile_recipe_files(hostile_store, tmp_path, recipe, want):
    path = tmp_path / "recipe.json"
    path.write_text(json.dumps(recipe))
    refused(hostile_store, ["mix", "save", "mz", "--recipe", str(path)], want)


# --- the store itself


@pytest.mark.parametrize(
    "suffix", [".json", pytest.param(".csv", marks=pytest.mark.slow), pytest.param(".duckdb", marks=pytest.mark.slow)]
)
def test_a_db_that_is_no_store_is_refused_not_replaced_by_memory(tmp_path, suffix):
    """DuckDB opens an existing .json or .csv file as an in-memory database with a view of it: a write there
    reported success and was gone at exit. Now every command refuses the file (exit 3) and leaves it alone."""
    db = tmp_path / f"data{suffix}"
    db.write_text('{"instruction": "q", "output": "a"}\n' if suffix != ".csv" else "a,b\n1,2\n")
    before = db.read_bytes()
    for args in (["pools"], ["tag", "x"], ["query", "--count"]):
        r = wb(db, *args, check=False)
        assert r.returncode == 3 and "Traceback" not in r.stderr, r.stderr
        assert "not a DuckDB database file" in r.stderr and str(db) in r.stderr
    assert db.read_bytes() == before and not (tmp_path / f"data{suffix}.wal").exists()


def test_nul_reaches_the_same_checks(hostile_store):
    """NUL cannot be in argv; the engine calls behind the CLI refuse it the same way (a file can carry it)."""
    from engine.core.errors import InputError
    from engine.core.names import check_name
    from engine.data.query import Browser, Filter, parse_sort

    with pytest.raises(InputError, match=r"pool name: 'a\\x00b' has U\+0000"):
        check_name("a\x00b", "pool name")
    with Store(hostile_store, read_only=True) as st:
        with pytest.raises(InputError, match=r"unexpected character '\\x00'"):
            Browser(st, Filter(expression="domain = 'math'\x00")).count()
        assert Browser(st, Filter(expression="domain = 'a\x00b'")).count() == 0  # inside quotes: a value
        with pytest.raises(InputError, match="no key 'id\\\\x00'"):
            parse_sort(["id\x00"], [])


# --- the app: an OSError in a screen's engine call is a notification, and the app stays up


def test_an_os_error_in_a_screen_is_a_notification_and_the_app_stays_up(hostile_store, tmp_path):
    from textual.widgets import Input

    from screens.browse import BrowseScreen
    from screens.export_dialog import ExportDialog
    from tests.helpers import run_app, wait_for, wait_screen
    from workbench.app import WorkbenchApp

    db = tmp_path / "app.duckdb"
    shutil.copy(hostile_store, db)
    blocker = tmp_path / "a-file"
    blocker.write_text("a regular file, not a folder")
    target = blocker / "sub" / "x.jsonl"

    async def body(pilot, app):
        await pilot.press("2")
        screen = await wait_screen(pilot, app, BrowseScreen, what="browse")
        await wait_for(pilot, lambda: screen.filter is not None and not screen.querying, what="query")
        for attempt in range(2):  # twice: the first error leaves the screen working
            await pilot.press("o")
            dlg = await wait_screen(pilot, app, ExportDialog, what="export form")
            dlg.query_one("#ex-path", Input).value = str(target)
            dlg.query_one("#ok").press()

            def failed(k=attempt + 1):
                bad = [n for n in app._notifications if n.severity == "error" and "Export failed" in (n.title or "")]
                return len(bad) >= k

            await wait_for(pilot, failed, what="error notification")
            assert app.is_running and isinstance(app.screen, BrowseScreen)
        note = [n for n in app._notifications if n.severity == "error"][-1]
        assert str(blocker) in str(note.message) and "Traceback" not in str(note.message)
        assert blocker.read_text() == "a regular file, not a folder"
        # the screen still works: a filter query after the failures
        screen.query_one("#f-expr", Input).value = "domain = 'code'"
        await pilot.press("slash", "enter")
        await wait_for(pilot, lambda: not screen.querying and screen.count == 80, what="filtered")

    run_app(WorkbenchApp(db_path=db), body, notifications=True)


def test_a_result_handler_that_fails_is_a_notification_not_a_crash(hostile_store, tmp_path):
    """What runs on the UI thread around an engine call (the handler of its result, a job's on_done, a child job's
    progress poll) can hit an OSError too (a file under a regular file here): an error notification, the job
    marked failed, the app up."""
    from screens.scores import ScoresScreen
    from tests.helpers import run_app, wait_for, wait_screen
    from workbench.app import WorkbenchApp

    db = tmp_path / "app.duckdb"
    shutil.copy(hostile_store, db)
    blocker = tmp_path / "a-file"
    blocker.write_text("a regular file, not a folder")

    def read_under_the_file(*_args):
        return (blocker / "progress.json").read_text()

    async def body(pilot, app):
        await pilot.press("3")
        screen = await wait_screen(pilot, app, ScoresScreen, what="scores")
        panel = screen.panel

        def errors() -> list[str]:
            return [str(n.message) for n in app._notifications if n.severity == "error"]

        screen.run_engine(lambda: 1, read_under_the_file)  # the engine call is fine, its result handler fails
        await wait_for(pilot, lambda: len(errors()) == 1, what="handler error")
        panel.run("probe", lambda progress, token: 1, read_under_the_file)  # a thread job's on_done fails
        await wait_for(pilot, lambda: len(errors()) == 2 and panel.job is None, what="on_done error")
        assert panel.state == "failed"
        panel.start("probe", "probe: running")  # a child job whose progress reader fails
        panel.poll(0.05, read_under_the_file)
        await wait_for(pilot, lambda: len(errors()) == 3 and panel.job is None, what="poll error")
        assert all("NotADirectoryError" in e and str(blocker) in e for e in errors())
        await pilot.pause(0.3)
        assert len(errors()) == 3  # the failed poll stopped: one notification, not one per tick
        assert app.is_running and app.screen is screen
        await pilot.press("2")  # and the app goes on
        await wait_for(pilot, lambda: type(app.screen).__name__ == "BrowseScreen", what="browse")

    run_app(WorkbenchApp(db_path=db), body, notifications=True)
