"""Browse benchmark: import 1M synthetic Alpaca samples, then time what the Browse screen does.

Each figure is printed next to DuckDB's raw query on the same data (the baseline), as a ratio
ours/baseline (lower is better; 1.0 = no overhead over raw DuckDB).

    .venv/bin/python bench/browse.py            # 1,000,000 samples (about 2-3 minutes in all)
    .venv/bin/python bench/browse.py --n 100000 # quicker

Targets on the 2-core dev machine: import 1M < 15 s, page p95 < 50 ms, filtered count < 150 ms,
first paint < 1.5 s.
"""

from __future__ import annotations

import argparse
import os
import random
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


def generate(path: Path, n: int) -> None:
    """Write n synthetic Alpaca records as JSONL with DuckDB (fast, deterministic)."""
    con = duckdb.connect()
    words = "[" + ",".join(f"'{w}'" for w in WORDS) + "]"
    nw = len(WORDS)

    def phrase(seed: str, k: int) -> str:
        parts = [f"{words}[(hash({seed} * {j + 1} + {k}) % {nw})::INT + 1]" for j in range(k)]
        return "concat_ws(' ', " + ", ".join(parts) + ")"

    sql = f"""
    COPY (
      SELECT
        'Please ' || {phrase("i", 8)} || ' #' || i::VARCHAR AS instruction,
        CASE WHEN i % 3 = 0 THEN {phrase("i + 7", 6)} ELSE '' END AS input,
        repeat({phrase("i + 13", 12)} || '. ', 1 + (i % 5)::INT) || 'Answer ' || i::VARCHAR || '.' AS output
      FROM range({n}) t(i)
    ) TO '{path}' (FORMAT json)
    """
    con.execute(sql)
    con.close()


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    k = max(0, min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1)))))
    return xs[k]


def timed(fn, repeat: int = 1) -> tuple[float, object]:
    best = None
    out = None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        dt = time.perf_counter() - t
        best = dt if best is None else min(best, dt)
    return best, out


def row(name: str, ours: float, base: float, target: str = "", unit: str = "ms") -> None:
    scale = 1000.0 if unit == "ms" else 1.0
    ratio = ours / base if base > 0 else float("nan")
    print(
        f"{name:<34} ours {ours * scale:9.1f} {unit}   raw duckdb {base * scale:9.1f} {unit}   "
        f"ratio {ratio:5.2f}   {target}",
        flush=True,
    )


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
    """Median seconds from process start to the first painted frame: ours vs a bare Textual app."""
    ours = [_paint_once(FIRST_PAINT_CHILD, str(db)) for _ in range(runs)]
    base = [_paint_once(BASE_PAINT_CHILD) for _ in range(runs)]
    return statistics.median(ours), statistics.median(base)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--workdir", default=str(ROOT / ".bench"))
    ap.add_argument("--pages", type=int, default=60)
    args = ap.parse_args()

    from engine.core.store import Store
    from engine.data.ingest import import_file
    from engine.data.query import Browser, Filter, bulk_set_domain

    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    src = work / f"synthetic_{args.n}.jsonl"
    if not src.exists():
        t, _ = timed(lambda: generate(src, args.n))
        print(f"generated {src} ({src.stat().st_size / 1e6:.0f} MB) in {t:.1f}s", flush=True)

    tmp = Path(tempfile.mkdtemp(dir=work))
    ours_db, raw_db = tmp / "ours.duckdb", tmp / "raw.duckdb"

    # --- import ---------------------------------------------------------------------------------
    raw = duckdb.connect(str(raw_db))
    t_raw, _ = timed(
        lambda: raw.execute(f"""
        CREATE TABLE samples AS
        SELECT row_number() OVER () AS id, instruction, input, output AS response,
               md5(instruction || input || output) AS content_hash
        FROM read_json('{src}', format='newline_delimited',
                       columns={{'instruction': 'VARCHAR', 'input': 'VARCHAR', 'output': 'VARCHAR'}})""")
    )
    store = Store(ours_db)
    t_ours, res = timed(lambda: import_file(store, src, pool="synthetic", domain="general"))
    print(f"\n== {args.n:,} samples (imported {res.n_inserted:,}, duplicates {res.n_duplicates:,})")
    row("import", t_ours, t_raw, "target < 15 s at 1M", unit="s")

    # four domains so that filters have something to bite on
    quarter = args.n // 4
    for k, dom in enumerate(["math", "code", "tool_use"]):
        bulk_set_domain(
            store, Filter(expression=f"record_index >= {k * quarter} and record_index < {(k + 1) * quarter}"), dom
        )
    raw.execute("ALTER TABLE samples ADD COLUMN domain VARCHAR DEFAULT 'general'")
    for k, dom in enumerate(["math", "code", "tool_use"]):
        raw.execute(f"UPDATE samples SET domain = '{dom}' WHERE id > {k * quarter} AND id <= {(k + 1) * quarter}")
    raw.execute("CHECKPOINT")
    store.con.execute("CHECKPOINT")

    # --- pages at random positions -----------------------------------------------------------------
    rng = random.Random(0)
    b = Browser(store, Filter())
    total = b.count()
    offsets = [rng.randrange(0, max(1, total - 100)) for _ in range(args.pages)]
    b.page(0, 100)
    ours_t, raw_t = [], []
    for off in offsets:
        t, _ = timed(lambda off=off: Browser(store, Filter()).page(off, 100))
        ours_t.append(t)
        t, _ = timed(
            lambda off=off: raw.execute(
                f"SELECT id, domain, left(instruction, 160), left(response, 160) FROM samples "
                f"ORDER BY id LIMIT 100 OFFSET {off}"
            ).fetchall()
        )
        raw_t.append(t)
    row("page p50 (random offset, by id)", pct(ours_t, 50), pct(raw_t, 50))
    row("page p95 (random offset, by id)", pct(ours_t, 95), pct(raw_t, 95), "target < 50 ms")

    # sorted by another column
    ours_t, raw_t = [], []
    bs = Browser(store, Filter(), sort=[("n_chars", True)])
    t1, _ = timed(lambda: bs.page(0, 100))
    t2, _ = timed(
        lambda: raw.execute(
            "SELECT id, domain, left(instruction, 160), left(response, 160) FROM samples "
            "ORDER BY length(response) DESC, id LIMIT 100"
        ).fetchall()
    )
    row("first page of a new sort (once)", t1, t2)
    for off in offsets[:20]:
        t, _ = timed(lambda off=off: bs.page(off, 100))
        ours_t.append(t)
        t, _ = timed(
            lambda off=off: raw.execute(
                f"SELECT id, domain, left(instruction, 160), left(response, 160) FROM samples "
                f"ORDER BY length(response) DESC, id LIMIT 100 OFFSET {off}"
            ).fetchall()
        )
        raw_t.append(t)
    row("page p95 (sorted by chars desc)", pct(ours_t, 95), pct(raw_t, 95))

    # --- filtered count ----------------------------------------------------------------------------
    f = Filter(domains=["code"], expression="n_chars > 300")
    t1, n1 = timed(lambda: Browser(store, f).count(), repeat=5)
    t2, n2 = timed(
        lambda: raw.execute(
            "SELECT count(*) FROM samples WHERE domain = 'code' AND "
            "length(instruction) + length(input) + length(response) > 300"
        ).fetchone()[0],
        repeat=5,
    )
    print(f"  filtered count: ours {n1:,}  raw {n2:,}")
    row("filtered count (domain + n_chars)", t1, t2, "target < 150 ms")

    # --- text search -------------------------------------------------------------------------------
    f = Filter(text="guitar river")
    t1, n1 = timed(lambda: Browser(store, f).count(), repeat=3)
    t2, n2 = timed(
        lambda: raw.execute(
            "SELECT count(*) FROM samples WHERE instruction ILIKE '%guitar river%' OR input ILIKE '%guitar river%'"
            " OR response ILIKE '%guitar river%'"
        ).fetchone()[0],
        repeat=3,
    )
    print(f"  text matches: ours {n1:,}  raw {n2:,}")
    row("text search count", t1, t2, "target < 150 ms")
    t1, _ = timed(lambda: Browser(store, f).page(0, 100), repeat=3)
    t2, _ = timed(
        lambda: raw.execute(
            "SELECT id, left(instruction,160) FROM samples WHERE instruction ILIKE '%guitar river%' OR "
            "input ILIKE '%guitar river%' OR response ILIKE '%guitar river%' ORDER BY id LIMIT 100"
        ).fetchall(),
        repeat=3,
    )
    row("text search first page", t1, t2)

    store.close()
    raw.close()

    # --- first paint -------------------------------------------------------------------------------
    ours, base = first_paint(ours_db)
    row("first paint (process start)", ours, base, "target < 1.5 s", unit="s")


if __name__ == "__main__":
    main()
