"""The filter language: parsing, errors, semantics on a real DuckDB store, and injection attempts."""

from __future__ import annotations

import pytest

from engine.core.store import Store
from engine.data.filters import FIELDS, MAX_DEPTH, MAX_LENGTH, FilterError, compile_expression, tokenize
from tests.helpers import insert_pool, insert_sample

TABLES = ["pools", "samples", "sample_tags", "scores", "domain_rules"]


_pool = insert_pool


def _sample(con, sid, *args, n_tokens=None, **kw):
    """A sample row whose n_tokens defaults to 10 x its id."""
    insert_sample(con, sid, *args, n_tokens=sid * 10 if n_tokens is None else n_tokens, **kw)


@pytest.fixture(scope="module")
def fstore(tmp_path_factory):
    """A small (read-only in these tests) store: 8 samples over 2 pools with tags, scores, a system prompt, tools, NULLs."""
    st = Store(tmp_path_factory.mktemp("filters") / "filters.duckdb")
    con = st.cursor()
    _pool(con, 1, "alpaca")
    _pool(con, 2, "gsm8k", "math")
    _sample(con, 1, 1, "Write a Python function", "def f(): pass", domain="code", tags=["good", "py"])
    _sample(con, 2, 1, "Tell me a joke", "Why did...", system="You are FUNNY", tags=["good"])
    _sample(con, 3, 2, "What is 2+2?", "4", domain="math", tags=["checked"], excluded=True)
    _sample(con, 4, 2, "Solve x^2 = 4", "x = 2 or x = -2", domain="math", n_tokens=5)
    _sample(
        con,
        5,
        1,
        "Call the weather tool",
        "{...}",
        domain="tool_use",
        tools=[{"name": "weather"}],
        source_file="tools.jsonl",
    )
    _sample(con, 6, 1, None, "orphan response", system=None)
    _sample(con, 7, 1, "x'; DROP TABLE samples; --", "literal", tags=["it's"])
    _sample(con, 8, 1, "back\\slash and 50% off_", "ok", tools=[])
    # scores: ifd for 1..4; sample 2 has an older and a newer model; sample 4's latest value is NULL
    con.execute(
        "INSERT INTO scores (sample_id, metric, model, value, created_at) VALUES"
        " (1, 'ifd', 'a', 0.9, '2024-01-01'), (2, 'ifd', 'a', 0.1, '2024-01-01'),"
        " (2, 'ifd', 'b', 0.6, '2024-02-01'), (3, 'ifd', 'a', 0.3, '2024-01-01'),"
        " (4, 'ifd', 'a', 0.8, '2024-01-01'), (4, 'ifd', 'a', NULL, '2024-03-01'),"
        " (1, 'ppl', 'a', 12.0, '2024-01-01')"
    )
    con.close()
    yield st
    st.close()


def ids(st, expr, metrics=("ifd", "ppl")):
    sql, params = compile_expression(expr, score_metrics=metrics)
    con = st.cursor()
    try:
        return [r[0] for r in con.execute(f"SELECT s.id FROM samples s WHERE {sql} ORDER BY s.id", params).fetchall()]
    finally:
        con.close()


def table_counts(st):
    con = st.cursor()
    try:
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
    finally:
        con.close()


def _rejected_and_unchanged(st, query) -> None:
    """query() raises FilterError and no table of st changes."""
    before = table_counts(st)
    with pytest.raises(FilterError):
        query()
    assert table_counts(st) == before


# -- compile ------------------------------------------------------------------------------------------


def test_literals_become_parameters():
    sql, params = compile_expression("domain = 'math' AND n_tokens >= 512 AND instruction LIKE '%sql%'")
    assert "math" not in sql and "512" not in sql and "%sql%" not in sql
    assert params == ["math", 512, "%sql%"]
    assert sql.count("?") == 3


def test_blank_expression_is_true():
    assert compile_expression("   ") == ("TRUE", [])


def test_keywords_case_insensitive_and_field_names_too():
    a = compile_expression("DOMAIN = 'x' and NOT Excluded Or tag In ('a')")
    b = compile_expression("domain = 'x' AND NOT excluded OR tag IN ('a')")
    assert a == b


@pytest.mark.parametrize(
    "text,value",
    [
        ("'it''s'", "it's"),
        ('"say ""hi"""', 'say "hi"'),
        (r"'a\'b'", "a'b"),
        (r'"a\"b"', 'a"b'),
        (r"'back\\slash'", "back\\slash"),
        (r"'tab\there'", "tab\there"),
        (r"'50\%'", "50\\%"),
        ("'‘curly’ inside is fine'", "‘curly’ inside is fine"),
    ],
)
def test_string_escapes(text, value):
    toks = tokenize(f"instruction = {text}")
    assert toks[2].kind == "string" and toks[2].value == value


@pytest.mark.parametrize(
    "text,value", [("42", 42), ("-3", -3), ("0.5", 0.5), (".5", 0.5), ("1e3", 1000.0), ("-2.5E-1", -0.25)]
)
def test_numbers(text, value):
    assert compile_expression(f"n_tokens > {text}")[1] == [value]


@pytest.mark.parametrize(
    "expr,pos,fragment",
    [
        ("instrction = 'x'", 0, "did you mean 'instruction'"),
        ("domain = 5", 9, "put the value in quotes"),
        ("n_tokens = '5'", 11, "is a number"),
        ("excluded = 1", 11, "true or false"),
        ("excluded > true", 9, "use = or !="),
        ("n_chars LIKE '%'", 8, "not text"),
        ("domain = 'x' AND", 16, "expected a field name"),
        ("(domain = 'x'", 0, "unclosed '('"),
        ("domain = 'x')", 12, "unbalanced ')'"),
        ("domain = 'abc", 9, "unterminated string"),
        ("domain == 'x'", 8, "expected a value"),
        ("domain = NULL", 9, "IS NULL"),
        ("domain", 0, "needs a comparison"),
        ("domain 'x'", 7, "expected an operator"),
        ("score.nope > 1", 6, "unknown score metric"),
        ("score.ifx > 1", 6, "did you mean 'score.ifd'"),
        ("score > 1", 0, "score.NAME"),
        ("tags < 'a'", 5, "supports"),
        ("text BETWEEN 'a' AND 'b'", 5, "supports"),
        ("n_tokens IN (1, 'a')", 16, "is a number"),
        ("n_tokens > 5abc", 11, "bad number"),
        ("n_tokens > 99999999999999999999999", 11, "out of range"),
        ("domain = 'x' domain = 'y'", 13, "expected AND, OR"),
        ("domain @ 'x'", 7, "unexpected character '@'"),
        ("id BETWEEN 1 OR 2", 13, "expected AND"),
    ],
)
def test_errors_carry_position_and_help(expr, pos, fragment):
    with pytest.raises(FilterError) as ei:
        compile_expression(expr, score_metrics=["ifd"])
    assert ei.value.position == pos, str(ei.value)
    assert fragment in str(ei.value)
    assert f"at {pos}" in str(ei.value)


def test_unknown_field_lists_fields_without_close_match():
    with pytest.raises(FilterError) as ei:
        compile_expression("zzzzqqq = 1")
    assert "fields are:" in str(ei.value) and "instruction" in str(ei.value)


def test_limits():
    with pytest.raises(FilterError, match="too long"):
        compile_expression("id = 1 OR " * 500 + "id = 1")
    assert len("id = 1 OR " * 500) > MAX_LENGTH
    deep = "(" * (MAX_DEPTH + 2) + "id = 1" + ")" * (MAX_DEPTH + 2)
    with pytest.raises(FilterError, match="nested too deeply"):
        compile_expression(deep)
    ok = "(" * 10 + "id = 1" + ")" * 10
    assert compile_expression(ok)[1] == [1]
    with pytest.raises(FilterError, match="too many conditions"):
        compile_expression(" OR ".join(["id=1"] * 201))
    with pytest.raises(FilterError, match="IN list too long"):
        compile_expression("id IN (" + ",".join(["1"] * 1001) + ")")


def test_fields_whitelist_has_the_documented_names():
    for name in [
        "id",
        "pool",
        "pool_id",
        "domain",
        "instruction",
        "response",
        "text",
        "system",
        "n_chars",
        "n_tokens",
        "n_turns",
        "tag",
        "tags",
        "excluded",
        "source_file",
        "record_index",
        "has_tools",
        "domain_source",
    ]:
        assert name in FIELDS


# -- semantics on a real store ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expr,expected",
    [
        ("domain = 'math'", [3, 4]),
        ("domain != 'general'", [1, 3, 4, 5]),
        ("domain <> 'general'", [1, 3, 4, 5]),
        ("domain IN ('code', 'tool_use')", [1, 5]),
        ("domain NOT IN ('general', 'math')", [1, 5]),
        ("pool = 'gsm8k'", [3, 4]),
        ("pool != 'gsm8k'", [1, 2, 5, 6, 7, 8]),
        ("pool contains 'GSM'", [3, 4]),
        ("pool_id = 2", [3, 4]),
        ("n_tokens > 60", [7, 8]),
        ("n_tokens <= 20", [1, 2, 4]),
        ("n_tokens BETWEEN 20 AND 50", [2, 3, 5]),
        ("n_tokens NOT BETWEEN 20 AND 50", [1, 4, 6, 7, 8]),
        ("id >= 7 OR id < 2", [1, 7, 8]),
        ("instruction LIKE 'Write%'", [1]),
        ("instruction LIKE 'write%'", []),
        ("instruction ILIKE 'write%'", [1]),
        ("instruction NOT ILIKE '%a%'", [4]),  # NULL instruction (6) is not a match for NOT ILIKE
        ("NOT instruction ILIKE '%a%'", [4, 6]),  # ... but NOT flips "false" into "true"
        ("instruction contains 'PYTHON'", [1]),
        ("instruction ~ 'python'", [1]),
        ("instruction !~ 'a'", [4]),
        ("instruction NOT CONTAINS 'a'", [4]),
        ("instruction IS NULL", [6]),
        ("instruction IS NOT NULL", [1, 2, 3, 4, 5, 7, 8]),
        ("system = 'You are FUNNY'", [2]),
        ("system != 'x'", [2]),
        ("NOT system = 'x'", [1, 2, 3, 4, 5, 6, 7, 8]),
        ("text ~ 'funny'", [2]),
        ("text contains 'ORPHAN'", [6]),
        ("text ~ 'x'", [4, 7]),
        ("text !~ 'a'", [4]),  # none of instruction, response, system has an a
        ("text IS NULL", []),
        ("tag = 'good'", [1, 2]),
        ("tags = 'good'", [1, 2]),
        ("tag != 'good'", [3, 4, 5, 6, 7, 8]),
        ("tags IN ('py', 'checked')", [1, 3]),
        ("tags NOT IN ('good', 'checked')", [4, 5, 6, 7, 8]),
        ("tag LIKE 'ch%'", [3]),
        ("tag = 'it''s'", [7]),
        ("tags IS NULL", [4, 5, 6, 8]),
        ("tags IS NOT NULL", [1, 2, 3, 7]),
        ("excluded", [3]),
        ("NOT excluded", [1, 2, 4, 5, 6, 7, 8]),
        ("excluded = false", [1, 2, 4, 5, 6, 7, 8]),
        ("has_tools", [5]),  # an empty tools list (8) does not count
        ("has_tools = false AND pool = 'alpaca'", [1, 2, 6, 7, 8]),
        ("source_file = 'tools.jsonl'", [5]),
        ("record_index = 0", [1]),
        ("domain_source = 'pool'", [1, 2, 3, 4, 5, 6, 7, 8]),
        ("(domain = 'math' OR tag = 'py') AND NOT excluded", [1, 4]),
        ("domain = 'math' OR tag = 'py' AND NOT excluded", [1, 3, 4]),  # AND binds tighter
        ("NOT (domain = 'math' OR domain = 'code')", [2, 5, 6, 7, 8]),
        ("NOT NOT domain = 'math'", [3, 4]),
        ("instruction contains '50%'", [8]),
        ("instruction LIKE '%50%off%'", [8]),
        ("instruction contains '\\\\'", [8]),
        ("instruction contains 'back\\slash'", [8]),
    ],
)
def test_semantics(fstore, expr, expected):
    assert ids(fstore, expr) == expected


@pytest.mark.parametrize(
    "expr,expected",
    [
        ("score.ifd > 0.5", [1, 2]),  # sample 2: the newer model's 0.6 counts, not the older 0.1
        ("ifd > 0.5", [1, 2]),  # bare metric name
        ("score.ifd < 0.2", []),
        ("score.ifd BETWEEN 0.25 AND 0.65", [2, 3]),
        ("score.ifd IS NULL", [4, 5, 6, 7, 8]),  # sample 4's latest value is NULL
        ("score.ifd IS NOT NULL", [1, 2, 3]),
        ("score.ifd != 0.9", [2, 3]),  # NULL scores fail comparisons, negative ones too
        ("score.ifd NOT IN (0.9)", [2, 3]),
        ("NOT score.ifd > 0.5", [3, 4, 5, 6, 7, 8]),  # NOT flips the failed comparisons
        ('score."ppl" >= 12', [1]),
        ("score.ifd > 0.5 AND score.ppl > 10", [1]),
        ("IFD > 0.5", [1, 2]),  # metric names match case-insensitively when unambiguous
    ],
)
def test_score_semantics(fstore, expr, expected):
    assert ids(fstore, expr) == expected


def test_metric_name_that_is_also_a_field_means_the_field():
    sql, _ = compile_expression("n_tokens > 1", score_metrics=["n_tokens"])
    assert "s.n_tokens" in sql and "scores" not in sql
    sql, params = compile_expression("score.n_tokens > 1", score_metrics=["n_tokens"])
    assert "scores" in sql and params == ["n_tokens", 1]


# -- injection attempts -------------------------------------------------------------------------------

INJECTIONS = [
    "domain = 'x'; DROP TABLE samples; --'",
    "1=1) OR (1=1",
    "domain = x' OR '1'='1",
    "domain = 'x' OR '1'='1'",
    "domain = ‘x’ OR ‘1’=‘1’",
    "domain = “math”",
    "domain = 'math' -- AND excluded",
    "domain = 'math' /* comment */",
    "domain = 'math'; DELETE FROM samples",
    "read_csv('/etc/passwd')",
    "domain = read_csv('x')",
    "id IN (SELECT id FROM samples)",
    "domain = 'a' UNION SELECT * FROM pools",
    "pool = 'x' OR pools.name = 'y'",
    "score.ifd > 0 OR 1=1",
    "samples.id = 1",
    "domain = \\'x\\'",
    "domain = 'math' \\",
    "exists(select 1)",
    "domain = $1",
    "domain = ?",
    "domain = 'x' || 'y'",
    "n_tokens > 1 + 1",
    "domain = CAST('x' AS VARCHAR)",
]


@pytest.mark.parametrize("expr", INJECTIONS)
def test_injection_attempts_are_rejected(fstore, expr):
    _rejected_and_unchanged(fstore, lambda: ids(fstore, expr))


# These are valid filters whose string literals merely *look* like SQL: they must be matched as text.
LITERAL_LOOKALIKES = [
    ("instruction = 'x''; DROP TABLE samples; --'", [7]),
    ('instruction = "x\'; DROP TABLE samples; --"', [7]),
    (r"instruction = 'x\'; DROP TABLE samples; --'", [7]),
    ("domain = 'x'' OR ''1''=''1'", []),
    (r"domain = 'x\' OR 1=1 --'", []),
    ("text contains '/* */' OR text contains '--'", [7]),
    ("text ~ 'read_csv(''x'')'", []),
    ("domain IN ('math', '''); DROP TABLE pools; --')", [3, 4]),
    ("domain IN ('math', ''); DROP TABLE pools; --')", None),  # '' closes, then ';' is refused
    ("tag = 'good'' OR 1=1 --'", []),
    ("pool = 'alpaca''; DELETE FROM pools; --'", []),
    ("text ~ ';'", [7]),
    ("instruction LIKE '%DROP%'", [7]),
    ("domain = '\\'", None),  # backslash-quote is an escaped quote: unterminated
    ("domain = '\\\\'", []),
    ("domain = 'math\\' OR 1=1", None),  # backslash-quote keeps the string open: unterminated
]


@pytest.mark.parametrize("expr,expected", LITERAL_LOOKALIKES)
def test_sql_lookalike_literals_stay_literals(fstore, expr, expected):
    before = table_counts(fstore)
    if expected is None:
        with pytest.raises(FilterError):
            ids(fstore, expr)
    else:
        sql, params = compile_expression(expr, score_metrics=["ifd"])
        assert "DROP" not in sql and "DELETE" not in sql and "--" not in sql and ";" not in sql
        assert ids(fstore, expr) == expected
    assert table_counts(fstore) == before


def test_generated_sql_does_not_depend_on_literal_text():
    """Whatever a literal holds, the SQL text is the same as for a plain one: only the params differ."""
    template = "instruction = {0} OR tag = {0} OR text ~ {0} OR pool IN ({0}, {0}) OR domain LIKE {0}"
    plain_sql, _ = compile_expression(template.format("'a'"))
    odd = ["';--", '"', "\\", "%_", "\x00", "😀", "ʼ", "' OR ''='", "/*", "*/", "$$", "E'\\x41'", "?", "); DROP"]
    for s in odd:
        lit = "'" + s.replace("\\", "\\\\").replace("'", "''") + "'"
        sql, params = compile_expression(template.format(lit))
        assert sql == plain_sql
        assert set(params) == {s}


# -- cluster.NAME --------------------------------------------------------------------------------------

CLUSTERINGS = ["topics", "by resp", "other"]


@pytest.fixture(scope="module")
def cstore(tmp_path_factory):
    """Samples 1..6; clustering 'topics': 1,2 -> 0, 3 -> 1, 4 -> -1 (noise), 5,6 not clustered;
    'by resp': 5 -> 0, 6 -> 2; 'other' (an unrelated clustering with the same cluster ids)."""
    st = Store(tmp_path_factory.mktemp("cfilters") / "c.duckdb")
    con = st.cursor()
    _pool(con, 1, "p")
    for sid in range(1, 7):
        _sample(con, sid, 1, f"q{sid}")
    for cid, name in [(1, "topics"), (2, "by resp"), (3, "other")]:
        con.execute("INSERT INTO clusterings (id, name) VALUES (?, ?)", [cid, name])
    for cid, sid, k in [(1, 1, 0), (1, 2, 0), (1, 3, 1), (1, 4, -1), (2, 5, 0), (2, 6, 2), (3, 1, 1), (3, 5, 1)]:
        con.execute(
            "INSERT INTO cluster_assignments (clustering_id, sample_id, cluster) VALUES (?, ?, ?)", [cid, sid, k]
        )
    con.close()
    yield st
    st.close()


def cids(st, expr, clusterings=CLUSTERINGS):
    sql, params = compile_expression(expr, score_metrics=["ifd"], clusterings=clusterings)
    con = st.cursor()
    try:
        return [r[0] for r in con.execute(f"SELECT s.id FROM samples s WHERE {sql} ORDER BY s.id", params).fetchall()]
    finally:
        con.close()


@pytest.mark.parametrize(
    "expr,expected",
    [
        ("cluster.topics = 0", [1, 2]),
        ("cluster.topics = 1", [3]),
        ("cluster.topics = -1", [4]),  # noise is a cluster id like any other
        ("cluster.topics in (0, 1)", [1, 2, 3]),
        ("cluster.topics NOT IN (0)", [3, 4]),  # samples outside the clustering fail negative tests too
        ("cluster.topics != 0", [3, 4]),
        ("NOT cluster.topics = 0", [3, 4, 5, 6]),  # NOT flips: outside the clustering counts
        ("cluster.topics >= 0", [1, 2, 3]),
        ("cluster.topics BETWEEN -1 AND 0", [1, 2, 4]),
        ("cluster.topics IS NULL", [5, 6]),
        ("cluster.topics IS NOT NULL", [1, 2, 3, 4]),
        ('cluster."by resp" = 2', [6]),
        ("cluster.'by resp' IN (0, 2)", [5, 6]),
        ("cluster.TOPICS = 0", [1, 2]),  # case-insensitive when unambiguous
        ("cluster.other = 1", [1, 5]),  # the name picks the clustering, not just the cluster id
        ("cluster.topics = 0 AND cluster.other = 1", [1]),
        ('cluster.topics = 1 OR cluster."by resp" = 0', [3, 5]),
    ],
)
def test_cluster_semantics(cstore, expr, expected):
    assert cids(cstore, expr) == expected


def test_cluster_name_is_a_parameter():
    sql, params = compile_expression("cluster.topics = 3", clusterings=["topics"])
    assert "topics" not in sql and params == ["topics", 3]
    sql2, params2 = compile_expression('cluster."by resp" in (1, 2)', clusterings=["by resp"])
    assert "by resp" not in sql2 and params2 == ["by resp", 1, 2]


@pytest.mark.parametrize(
    "expr,fragment",
    [
        ("cluster.nope = 1", "unknown clustering 'nope'"),
        ("cluster.topic = 1", "did you mean 'cluster.topics'"),
        ("cluster.topics = 'a'", "is a number"),
        ("cluster.topics contains 'a'", "not text"),
        ("cluster. = 1", "expected a clustering name"),
        ("cluster = 1", "unknown field 'cluster'"),
        ("foo.topics = 1", "cluster.NAME"),
    ],
)
def test_cluster_errors(cstore, expr, fragment):
    with pytest.raises(FilterError) as e:
        cids(cstore, expr)
    assert fragment in e.value.message


def test_cluster_without_clusterings_says_what_to_do():
    with pytest.raises(FilterError) as e:
        compile_expression("cluster.x = 1")
    assert "workbench cluster" in e.value.message


@pytest.mark.parametrize(
    "expr",
    [
        'cluster."topics\' OR 1=1 --" = 0',
        'cluster."topics"" = 0 OR 1=1; DROP TABLE samples; --" = 0',
        "cluster.topics; DROP TABLE samples = 0",
        "cluster.(SELECT name FROM clusterings) = 0",
        "cluster.topics = 0 OR 1=1",
        "cluster.\"x') OR TRUE OR ('\" = 0",
    ],
)
def test_cluster_injection_through_the_name_is_rejected(cstore, expr):
    _rejected_and_unchanged(cstore, lambda: cids(cstore, expr))


def test_cluster_odd_name_that_exists_is_only_a_parameter(cstore):
    """A clustering whose name looks like SQL is matched as a name, never pasted into the query."""
    evil = "x' OR 1=1; DROP TABLE samples; --"
    con = cstore.cursor()
    try:
        con.execute("INSERT INTO clusterings (id, name) VALUES (9, ?)", [evil])
        con.execute("INSERT INTO cluster_assignments (clustering_id, sample_id, cluster) VALUES (9, 6, 4)")
        before = table_counts(cstore)
        quoted = evil.replace("\\", "\\\\").replace('"', '\\"')
        sql, _ = compile_expression(f'cluster."{quoted}" = 4', clusterings=[*CLUSTERINGS, evil])
        assert "DROP" not in sql and ";" not in sql
        assert cids(cstore, f'cluster."{quoted}" = 4', clusterings=[*CLUSTERINGS, evil]) == [6]
        assert table_counts(cstore) == before
    finally:
        con.execute("DELETE FROM cluster_assignments WHERE clustering_id = 9")
        con.execute("DELETE FROM clusterings WHERE id = 9")
        con.close()


def test_cluster_filter_through_where_sql(cstore):
    from engine.data.query import Browser, Filter

    assert Browser(cstore, Filter(expression="cluster.topics = 0")).count() == 2
    assert Browser(cstore, Filter(expression='cluster."by resp" IN (0, 2)')).count() == 2
    with pytest.raises(FilterError):
        Browser(cstore, Filter(expression="cluster.missing = 0")).count()


# -- map.NAME.x / map.NAME.y ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mstore(tmp_path_factory):
    """Samples 1..6; clustering 'topics' places 1..4 on its map at (x, y) = (0, 0), (1, 2), (-1.5, 0.5),
    (3, -2); 5, 6 are not in it. 'by resp' places 5 at (0, 0) and 1 at (9, 9)."""
    st = Store(tmp_path_factory.mktemp("mfilters") / "m.duckdb")
    con = st.cursor()
    _pool(con, 1, "p")
    for sid in range(1, 7):
        _sample(con, sid, 1, f"q{sid}")
    for cid, name in [(1, "topics"), (2, "by resp")]:
        con.execute("INSERT INTO clusterings (id, name) VALUES (?, ?)", [cid, name])
    for cid, sid, k, x, y in [
        (1, 1, 0, 0.0, 0.0),
        (1, 2, 0, 1.0, 2.0),
        (1, 3, 1, -1.5, 0.5),
        (1, 4, -1, 3.0, -2.0),
        (2, 5, 0, 0.0, 0.0),
        (2, 1, 1, 9.0, 9.0),
    ]:
        con.execute(
            "INSERT INTO cluster_assignments (clustering_id, sample_id, cluster, x, y) VALUES (?, ?, ?, ?, ?)",
            [cid, sid, k, x, y],
        )
    con.close()
    yield st
    st.close()


@pytest.mark.parametrize(
    "expr,expected",
    [
        ("map.topics.x BETWEEN -1 AND 1.5", [1, 2]),
        ("map.topics.x >= -2 AND map.topics.x <= 1 AND map.topics.y BETWEEN 0 AND 1", [1, 3]),
        ("map.topics.y < 0", [4]),
        ("map.topics.x != 0", [2, 3, 4]),  # samples outside the map fail negative tests too
        ("NOT map.topics.x = 0", [2, 3, 4, 5, 6]),  # NOT flips: outside the map counts
        ("map.topics.x NOT BETWEEN 0 AND 1", [3, 4]),
        ("map.topics.x IS NULL", [5, 6]),
        ("map.TOPICS.X = 1", [2]),  # name and axis case-insensitive
        ('map."by resp".x = 0', [5]),  # the name picks the clustering's map
        ("map.'by resp'.y > 1 OR map.topics.y > 1", [1, 2]),
        ("map.topics.x BETWEEN -5 AND 5 AND cluster.topics = 0", [1, 2]),
    ],
)
def test_map_semantics(mstore, expr, expected):
    assert cids(mstore, expr, clusterings=["topics", "by resp"]) == expected


def test_map_name_is_a_parameter_and_axis_a_fixed_column():
    sql, params = compile_expression("map.topics.x BETWEEN 1 AND 2", clusterings=["topics"])
    assert "topics" not in sql and params == ["topics", 1, 2] and "ca.x BETWEEN ? AND ?" in sql
    sql, params = compile_expression('map."by resp".y > 0.5', clusterings=["by resp"])
    assert "by resp" not in sql and params == ["by resp", 0.5] and "ca.y > ?" in sql


@pytest.mark.parametrize(
    "expr,fragment",
    [
        ("map.nope.x = 1", "unknown clustering 'nope'"),
        ("map.topic.x = 1", "did you mean 'map.topics.x'"),
        ("map.topics = 1", "expected '.x' or '.y'"),
        ("map.topics.z = 1", "expected x or y"),
        ("map.topics.cluster = 1", "expected x or y"),
        ("map.topics.x = 'a'", "is a number"),
        ("map.topics.x contains 'a'", "not text"),
        ("map. = 1", "expected a clustering name"),
        ('map.topics."x" = 1', "expected x or y"),  # the axis is a bare x or y, not a string
        ("map.topics.x.y = 1", "expected an operator after 'map.topics.x'"),
    ],
)
def test_map_errors(mstore, expr, fragment):
    with pytest.raises(FilterError) as e:
        cids(mstore, expr, clusterings=["topics", "by resp"])
    assert fragment in e.value.message


@pytest.mark.parametrize(
    "expr",
    [
        "map.topics.x; DROP TABLE samples = 0",
        "map.topics.(ca.cluster) = 0",
        "map.topics.x OR 1=1 = 0",
        "map.topics.sample_id = 1",
        'map."topics\' OR 1=1 --".x = 0',
        'map.topics."x) OR TRUE OR (ca.x" = 0',
        "map.(SELECT name FROM clusterings).x = 0",
        "map.topics.x = 0 OR 1=1",
        "map.topics.x = ca.y",
    ],
)
def test_map_injection_attempts_are_rejected(mstore, expr):
    _rejected_and_unchanged(mstore, lambda: cids(mstore, expr, clusterings=["topics", "by resp"]))


def test_map_fields_listed_and_work_through_where_sql(mstore):
    from engine.data.filters import field_names
    from engine.data.query import Browser, Filter

    names = field_names(["ifd"], ["topics"])
    assert names[-2:] == ["map.topics.x", "map.topics.y"] and "cluster.topics" in names
    assert Browser(mstore, Filter(expression="map.topics.x BETWEEN -2 AND 1.5")).count() == 3
    with pytest.raises(FilterError):
        Browser(mstore, Filter(expression="map.missing.x > 0")).count()
