"""Import and Browse benchmark: ours against DuckDB's own best query on the same data, in the same run.

    .venv/bin/python bench/browse.py                          # import at 100k and 1M (3 rounds), browse at 1M
    .venv/bin/python bench/browse.py --n 100000 --import-sizes 100000 --rounds 1   # a quick look

Import. Each round runs two fresh subprocesses on the same synthetic Alpaca JSON Lines file (written once to
.bench/): the baseline, DuckDB `read_json` + md5 + row_number into a new database file (what issue 21 names), and
ours, `import_file` into a new store (format detection, validation, normalisation, dedup, token estimates, the
messages JSON, one transaction). Which runs first alternates by round. Each child reports its wall time, its CPU
time (user + system: less sensitive to other work on a shared machine) and its peak RSS; medians over rounds.

Browse, on the store the last 1M import round made, as the app works (screens/browse.py): a query makes a new
`Browser(store, filter, sort)` and calls `count()`, then the table asks for pages of 200 rows from that same
Browser. Setup (making the Browser: metric names, the filter compiled) is timed apart from the count and pages.
The baseline is one raw DuckDB statement on the same `samples` table that returns the same thing (the same count,
the same display columns computed the same way), so lengths, text clean-up and ties agree by construction. Each
query alternates ours and the baseline; medians over --reps, p50/p95 over --pages random pages. The text search
is also run once right after the import, before anything else touched the data.

Every ratio is ours / baseline (lower is better). The last line, RESULT browse ..., holds the ratios and the
goals' absolute figures, to compare across commits; docs/benchmarks.md keeps the latest run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402

WORDS = (
    "alpha beta gamma delta guitar river mountain python function integer list sort matrix vector "
    "weather currency convert explain summarize write poem story email letter recipe history science "
    "physics chemistry biology number compute total average price apples oranges train speed distance "
    "hours minutes market stock tool call json schema api request response model data quality curate"
).split()
PAGE = 200  # rows per page, as screens/sample_table.py asks
SEARCH = "python"  # the text search: text ~ 'python'


def generate(path: Path, n: int) -> None:
    """Write n synthetic Alpaca records as JSON Lines with DuckDB (fast, deterministic)."""
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    words = "[" + ",".join(f"'{w}'" for w in WORDS) + "]"
    nw = len(WORDS)

    def phrase(seed: str, k: int) -> str:
        parts = [f"{words}[(hash({seed} * {j + 1} + {k}) % {nw})::INT + 1]" for j in range(k)]
        return "concat_ws(' ', " + ", ".join(parts) + ")"

    tmp = path.with_suffix(".part")
    con.execute(f"""
    COPY (
      SELECT
        'Please ' || {phrase("i", 8)} || ' #' || i::VARCHAR AS instruction,
        CASE WHEN i % 3 = 0 THEN {phrase("i + 7", 6)} ELSE '' END AS input,
        repeat({phrase("i + 13", 12)} || '. ', 1 + (i % 5)::INT) || 'Answer ' || i::VARCHAR || '.' AS output
      FROM range({n}) t(i)
    ) TO '{tmp}' (FORMAT json)
    """)
    con.close()
    tmp.rename(path)


# -- import: one subprocess per run ------------------------------------------------------------------

_CHILD = r"""
import json, os, resource, sys, time
sys.path.insert(0, sys.argv[1])
kind, src, db = sys.argv[2], sys.argv[3], sys.argv[4]
import duckdb
if kind == "ours":
    from engine.core.store import Store
    from engine.data.ingest import import_file
    import polars, pyarrow  # noqa: F401 - loaded by any import; their load is no part of the import's time
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
c0, t0 = cpu(), time.perf_counter()
if kind == "ours":
    s = Store(db)
    n = import_file(s, src, pool="synthetic", domain="general").n_inserted
    s.close()
else:
    con = duckdb.connect(db)
    con.execute("SET enable_progress_bar = false")
    con.execute(f'''CREATE TABLE samples AS
        SELECT row_number() OVER () AS id, instruction, input, output AS response,
               md5(instruction || input || output) AS content_hash
        FROM read_json('{src}', format='newline_delimited',
                       columns={{'instruction': 'VARCHAR', 'input': 'VARCHAR', 'output': 'VARCHAR'}})''')
    n = con.execute("SELECT count(*) FROM samples").fetchall()[0][0]
    con.close()
wall, used = time.perf_counter() - t0, cpu() - c0
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print("CHILD " + json.dumps({"wall": wall, "cpu": used, "rss": rss, "rows": n}), flush=True)
os._exit(0)
"""


def _import_once(kind: str, src: Path, db: Path) -> dict:
    for p in db.parent.glob(db.name + "*"):
        if p.is_file():
            p.unlink()
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(ROOT), kind, str(src), str(db)], capture_output=True, text=True, timeout=3600
    )
    for line in out.stdout.splitlines():
        if line.startswith("CHILD "):
            return json.loads(line[6:])
    raise RuntimeError(f"{kind} import failed:\n{out.stderr[-3000:]}")


def bench_import(src: Path, n: int, rounds: int, work: Path) -> tuple[dict, Path]:
    """Median wall, CPU and peak RSS of both sides over `rounds` interleaved rounds; the last store of ours."""
    runs: dict[str, list[dict]] = {"base": [], "ours": []}
    ours_db = work / f"ours_{n}.duckdb"
    for r in range(rounds):
        order = ("base", "ours") if r % 2 == 0 else ("ours", "base")
        for kind in order:
            res = _import_once(kind, src, ours_db if kind == "ours" else work / "base.duckdb")
            runs[kind].append(res)
            print(
                f"  import {n:,} round {r + 1}/{rounds} {kind:4s}: {res['wall']:6.1f} s wall, {res['cpu']:6.1f} s CPU, "
                f"peak RSS {res['rss'] / 2**20:6.0f} MiB  (load {os.getloadavg()[0]:.1f})",
                flush=True,
            )
        assert runs["base"][-1]["rows"] == runs["ours"][-1]["rows"] == n
    med = {k: {m: statistics.median(x[m] for x in v) for m in ("wall", "cpu", "rss")} for k, v in runs.items()}
    ratios = [o["wall"] / b["wall"] for o, b in zip(runs["ours"], runs["base"])]
    print(
        f"import {n:,}: ours {med['ours']['wall']:.1f} s wall / {med['ours']['cpu']:.1f} s CPU / "
        f"{med['ours']['rss'] / 2**20:.0f} MiB; baseline {med['base']['wall']:.1f} s / {med['base']['cpu']:.1f} s / "
        f"{med['base']['rss'] / 2**20:.0f} MiB; ratio {statistics.median(ratios):.2f}x wall "
        f"(rounds {', '.join(f'{x:.2f}' for x in ratios)}), {med['ours']['cpu'] / med['base']['cpu']:.2f}x CPU",
        flush=True,
    )
    return {"runs": runs, "median": med, "wall_ratio": statistics.median(ratios)}, ours_db


# -- browse ------------------------------------------------------------------------------------------


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[max(0, min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1)))))]


def _t(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def pair(name: str, ours_fn, base_fn, reps: int, goal: str = "") -> tuple[float, float]:
    """Median seconds of ours and of the baseline, alternating; the results must be equal."""
    ours, base = [], []
    for r in range(reps):
        for side in ("ours", "base") if r % 2 == 0 else ("base", "ours"):
            dt, out = _t(ours_fn if side == "ours" else base_fn)
            (ours if side == "ours" else base).append(dt)
            if side == "ours":
                got_ours = out
            else:
                got_base = out
        if got_ours != got_base:
            raise AssertionError(f"{name}: ours {str(got_ours)[:300]} != baseline {str(got_base)[:300]}")
    mo, mb = statistics.median(ours), statistics.median(base)
    print(
        f"{name:<44} ours {mo * 1e3:8.1f} ms   baseline {mb * 1e3:8.1f} ms   ratio {mo / mb:5.2f}   {goal}", flush=True
    )
    return mo, mb


# The display columns of a page (engine.data.query._PAGE_SELECT) computed by one raw statement.
_RAW_COLS = """s.id, p.name AS pool, s.domain,
    translate(left(s.instruction, 160), chr(10) || chr(13) || chr(9), '   ') AS instruction,
    translate(left(s.response, 160), chr(10) || chr(13) || chr(9), '   ') AS response,
    s.n_chars, s.n_tokens, s.n_turns, s.excluded,
    regexp_extract(s.source_file, '[^/\\\\]*$') || ':' || s.source_line AS source"""
_RAW_FROM = "FROM samples s LEFT JOIN pools p ON p.id = s.pool_id"
_KEYS = ["id", "pool", "domain", "instruction", "response", "n_chars", "n_tokens", "n_turns", "excluded", "source"]


def _raw_page(order: str, where: str = "TRUE", offset: int = 0) -> str:
    """The baseline's page: one statement, the top-N over ids first and the display columns for those 200 only
    (written plainly, ORDER BY ... LIMIT over the display columns, DuckDB reads the text of every row first: 6 s
    a page at 1M rows)."""
    return (
        f"SELECT {_RAW_COLS} {_RAW_FROM} WHERE s.id IN "
        f"(SELECT s.id FROM samples s WHERE {where} ORDER BY {order} LIMIT {PAGE} OFFSET {offset}) ORDER BY {order}"
    )


def _rows(con, sql: str, params: list | None = None) -> list[tuple]:
    return [tuple(r) for r in con.execute(sql, params or []).fetchall()]


def _ours_rows(rows: list[dict]) -> list[tuple]:
    return [tuple(r[k] for k in _KEYS) for r in rows]


def bench_browse(db: Path, n: int, pages: int, reps: int, out: dict) -> None:
    from engine.core.store import Store
    from engine.data.query import Browser, Filter, bulk_set_domain

    store = Store(db)
    raw = store.cursor()  # the baseline's statements: the same store, a plain DuckDB connection
    text_sql = " OR ".join(f"s.{c} ILIKE '%{SEARCH}%'" for c in ("instruction", "response", "system"))

    # right after the import: nothing has run on the data yet (the first text search of the session)
    t_first, b_first = _t(lambda: Browser(store, Filter(expression=f"text ~ '{SEARCH}'")))
    t_count, n_first = _t(b_first.count)
    t_page, _ = _t(lambda: b_first.page(0, PAGE))
    print(
        f"text search right after the import: setup {t_first * 1e3:.1f} ms, count {t_count * 1e3:.1f} ms "
        f"({n_first:,} matches), first page {t_page * 1e3:.1f} ms",
        flush=True,
    )
    out["text_first_after_import_ms"] = round((t_first + t_count + t_page) * 1e3, 1)

    quarter = n // 4  # four domains, so that filters have something to bite on
    for k, dom in enumerate(["math", "code", "tool_use"]):
        bulk_set_domain(
            store, Filter(expression=f"record_index >= {k * quarter} and record_index < {(k + 1) * quarter}"), dom
        )
    store.con.execute("CHECKPOINT")

    # setup: what making a Browser costs before it runs anything
    setups = [_t(lambda: Browser(store, Filter(), [("n_chars", True)]))[0] for _ in range(reps)]
    out["setup_ms"] = round(statistics.median(setups) * 1e3, 1)
    print(f"{'Browser setup (apart from every figure below)':<44} ours {out['setup_ms']:8.1f} ms", flush=True)

    # paging as the app does: one Browser, counted once, then pages at random offsets
    rng = random.Random(0)
    b = Browser(store, Filter())
    total = b.count()
    offsets = [rng.randrange(0, max(1, total - PAGE)) for _ in range(pages)]
    b.page(offsets[0], PAGE)  # the id list, once (the app's first scroll past the top rows)
    ours_t, base_t = [], []
    for off in offsets:
        dt, got = _t(lambda off=off: _ours_rows(b.page(off, PAGE)))
        ours_t.append(dt)
        dt, want = _t(lambda off=off: _rows(raw, _raw_page("s.id", offset=off)))
        base_t.append(dt)
        assert got == want, off
    for p in (50, 95):
        print(
            f"{f'page p{p} (held Browser, random offset, by id)':<44} ours {pct(ours_t, p) * 1e3:8.1f} ms   "
            f"baseline {pct(base_t, p) * 1e3:8.1f} ms   ratio {pct(ours_t, p) / pct(base_t, p):5.2f}",
            flush=True,
        )
    out["page_p95_ms"] = round(pct(ours_t, 95) * 1e3, 1)
    out["page_p95_ratio"] = round(pct(ours_t, 95) / pct(base_t, 95), 2)

    # the first page of a new sort: count + page 0, against one top-N statement
    by_chars = "s.n_chars DESC NULLS LAST, s.id"
    sort_sql = _raw_page(by_chars)
    sort_b = {}

    def ours_sort():
        sort_b["b"] = bb = Browser(store, Filter(), [("n_chars", True)])
        bb.count()
        return _ours_rows(bb.page(0, PAGE))

    mo, mb = pair(
        "first page of a new sort (count + page 0)", ours_sort, lambda: _rows(raw, sort_sql), reps, "< 100 ms"
    )
    out["new_sort_ms"], out["new_sort_ratio"] = round(mo * 1e3, 1), round(mo / mb, 2)

    bs = sort_b["b"]
    t_deep, _ = _t(lambda: bs.page(total // 2, PAGE))
    print(f"{'sorted view: first page past the top rows':<44} ours {t_deep * 1e3:8.1f} ms (orders every id, once)")
    ours_t, base_t = [], []
    for off in offsets[:20]:
        dt, got = _t(lambda off=off: _ours_rows(bs.page(off, PAGE)))
        ours_t.append(dt)
        dt, want = _t(lambda off=off: _rows(raw, _raw_page(by_chars, offset=off)))
        base_t.append(dt)
        assert got == want, off
    print(
        f"{'page p95 (held Browser, sorted by chars desc)':<44} ours {pct(ours_t, 95) * 1e3:8.1f} ms   "
        f"baseline {pct(base_t, 95) * 1e3:8.1f} ms   ratio {pct(ours_t, 95) / pct(base_t, 95):5.2f}",
        flush=True,
    )

    # a filtered count: domain and n_chars
    f = Filter(domains=["code"], expression="n_chars > 300")
    mo, mb = pair(
        "filtered count (domain + n_chars)",
        lambda: Browser(store, f).count(),
        lambda: raw.execute("SELECT count(*) FROM samples s WHERE s.domain = 'code' AND s.n_chars > 300").fetchall()[0][
            0
        ],
        reps,
    )
    out["filtered_count_ratio"] = round(mo / mb, 2)

    # text search: count, and count + first page (one scan on our side)
    f = Filter(expression=f"text ~ '{SEARCH}'")
    base_count = f"SELECT count(*) FROM samples s WHERE {text_sql}"
    mo, mb = pair(
        f"text search count (text ~ '{SEARCH}')",
        lambda: Browser(store, f).count(),
        lambda: raw.execute(base_count).fetchall()[0][0],
        reps,
        "< 150 ms",
    )
    out["text_count_ms"], out["text_count_ratio"] = round(mo * 1e3, 1), round(mo / mb, 2)

    def ours_text_page():
        bb = Browser(store, f)
        return bb.count(), _ours_rows(bb.page(0, PAGE))

    def base_text_page():
        c = raw.execute(base_count).fetchall()[0][0]
        return c, _rows(raw, _raw_page("s.id", where=text_sql))

    mo, mb = pair("text search count + first page", ours_text_page, base_text_page, reps, "< 150 ms")
    out["text_page_ms"], out["text_page_ratio"] = round(mo * 1e3, 1), round(mo / mb, 2)
    raw.close()
    store.close()


# -- first paint -------------------------------------------------------------------------------------

FIRST_PAINT_CHILD = r"""
import sys, time
t0 = float(sys.argv[1])
import asyncio
from pathlib import Path
from workbench.app import WorkbenchApp
async def run():
    async with WorkbenchApp(db_path=Path(sys.argv[2])).run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        print(f"PAINT {time.time() - t0:.4f}", flush=True)
asyncio.run(run())
"""

BASE_PAINT_CHILD = r"""
import sys, time
t0 = float(sys.argv[1])
import asyncio
from textual.app import App
from textual.widgets import DataTable, Footer, Header
class Bare(App):
    def compose(self):
        yield Header(); yield DataTable(); yield Footer()
async def run():
    async with Bare().run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        print(f"PAINT {time.time() - t0:.4f}", flush=True)
asyncio.run(run())
"""


def _paint_once(script: str, *args: str) -> float:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    t0 = time.time()
    out = subprocess.run(
        [sys.executable, "-c", script, repr(t0), *args], capture_output=True, text=True, env=env, timeout=120
    )
    for line in out.stdout.splitlines():
        if line.startswith("PAINT"):
            return float(line.split()[1])
    raise RuntimeError(out.stderr[-2000:])


def first_paint(db: Path, runs: int = 3) -> tuple[float, float]:
    """Median seconds from process start to the first painted frame: ours vs a bare Textual app, alternating."""
    ours, base = [], []
    for _ in range(runs):
        ours.append(_paint_once(FIRST_PAINT_CHILD, str(db)))
        base.append(_paint_once(BASE_PAINT_CHILD))
    return statistics.median(ours), statistics.median(base)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs ({cpu}), DuckDB {duckdb.__version__}, Python {platform.python_version()}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="samples in the browsed store")
    ap.add_argument("--import-sizes", default="100000,1000000", help="comma-separated; the browse uses --n")
    ap.add_argument("--rounds", type=int, default=3, help="import rounds per size (each: baseline and ours)")
    ap.add_argument("--reps", type=int, default=5, help="repetitions of each browse query")
    ap.add_argument("--pages", type=int, default=60, help="random pages for the paging percentiles")
    ap.add_argument("--workdir", default=str(ROOT / ".bench"))
    ap.add_argument("--no-paint", action="store_true", help="skip the first-paint measurement")
    args = ap.parse_args()

    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    print(f"machine: {machine()}; load {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}", flush=True)
    sizes = sorted({int(x) for x in args.import_sizes.split(",") if x.strip()} | {args.n})
    result: dict = {"n": args.n}
    tmp = Path(tempfile.mkdtemp(dir=work))
    db = None
    for size in sizes:
        src = work / f"synthetic_{size}.jsonl"
        if not src.exists():
            dt, _ = _t(lambda src=src, size=size: generate(src, size))
            print(f"generated {src} ({src.stat().st_size / 1e6:.0f} MB) in {dt:.1f} s", flush=True)
        print(f"import {size:,} samples ({src.stat().st_size / 1e6:.0f} MB), {args.rounds} rounds", flush=True)
        res, ours_db = bench_import(src, size, args.rounds, tmp)
        key = f"{size // 1000}k" if size < 1_000_000 else f"{size / 1e6:g}M"
        med = res["median"]
        result[f"import_{key}_ratio"] = round(res["wall_ratio"], 2)
        result[f"import_{key}_cpu_ratio"] = round(med["ours"]["cpu"] / med["base"]["cpu"], 2)
        result[f"import_{key}_s"] = round(med["ours"]["wall"], 1)
        result[f"import_{key}_rss_mib"] = round(med["ours"]["rss"] / 2**20)
        result[f"import_{key}_base_rss_mib"] = round(med["base"]["rss"] / 2**20)
        if size == args.n:
            db = ours_db
    print(f"\n== browse {args.n:,} samples (load {os.getloadavg()[0]:.2f})", flush=True)
    bench_browse(db, args.n, args.pages, args.reps, result)
    if not args.no_paint:
        ours, base = first_paint(db)
        print(
            f"{'first paint (process start)':<44} ours {ours:8.2f} s    bare Textual {base:8.2f} s   ratio {ours / base:5.2f}"
        )
        result["first_paint_ratio"] = round(ours / base, 2)
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"load at the end {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}", flush=True)
    print("RESULT browse " + " ".join(f"{k}={v}" for k, v in result.items()), flush=True)


if __name__ == "__main__":
    main()
