"""Runs fuzz corpus cases through the CLI's own entry point (`workbench.cli.main`) in one process, many imports
per process, and writes what each did as JSON: exit code, stderr, an uncaught exception's traceback (what the
console script would print), and the store's contents before and after.

    python -m tests.fuzz.driver MANIFEST DB OUT [INDEX ...]

Each case runs twice: all-or-nothing (the default) and with --skip-invalid, into a pool of its own."""

from __future__ import annotations

import contextlib
import io
import json
import sys
import traceback
from pathlib import Path

import duckdb

MODES = {"default": [], "skip": ["--skip-invalid"]}
_TABLES = ("pools", "imports", "samples", "sample_tags")


def snapshot(db: Path) -> dict:
    """Row counts, pool names and a checksum of the stored samples, and the quarantine folder's files."""
    con = duckdb.connect(str(db))  # while `run` holds one open, the same database instance: no reopening
    try:
        counts = {t: con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in _TABLES}
        pools = [r[0] for r in con.execute("SELECT name FROM pools ORDER BY id").fetchall()]
        check = con.execute("SELECT coalesce(sum(hash(id, content_hash, meta)), 0) FROM samples").fetchall()[0][0]
    finally:
        con.close()
    q = db.parent / "quarantine"
    return {
        "counts": counts,
        "pools": pools,
        "checksum": str(check),
        "quarantine": sorted(p.name for p in q.iterdir()) if q.is_dir() else [],
    }


def invalid_json(db: Path) -> list[str]:
    """Stored JSON texts that strict JSON (no NaN or Infinity) does not read, with the sample's id."""

    def strict(s: str) -> None:
        json.loads(s, parse_int=str, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))

    bad = []
    con = duckdb.connect(str(db))
    try:
        for row in con.execute("SELECT id, messages, tools, meta, rejected FROM samples").fetchall():
            for col, v in zip(("messages", "tools", "meta", "rejected"), row[1:]):
                if v is None:
                    continue
                try:
                    strict(v)
                except (ValueError, RecursionError) as e:
                    bad.append(f"sample {row[0]} {col}: {str(e)[:80]}")
        for (meta,) in con.execute("SELECT meta FROM pools").fetchall():
            try:
                strict(meta)
            except ValueError as e:
                bad.append(f"pool meta: {str(e)[:80]}")
    finally:
        con.close()
    return bad


def run_cli(argv: list[str]) -> tuple[int | None, str, str | None]:
    """(exit code, stderr, traceback of an exception main() let through, or None)."""
    from workbench.cli import main

    err, out = io.StringIO(), io.StringIO()
    tb = None
    code = None
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            code = main(argv)
        except SystemExit as e:  # argparse
            code = e.code if isinstance(e.code, int) else 2
        except BaseException:  # noqa: BLE001 - exactly what the fuzz run looks for
            tb = traceback.format_exc()
    return code, err.getvalue(), tb


def run(manifest: list[dict], db: Path, indices: list[int]) -> dict:
    import functools

    import workbench.cli as cli

    cli.build_parser = functools.lru_cache(cli.build_parser)  # the same parser for every run: argparse is ~40 ms
    base = db.parent / "base.jsonl"
    base.write_text('{"instruction": "base", "output": "pool"}\n')
    code, err, tb = run_cli(["--db", str(db), "-q", "import", str(base), "--pool", "base"])
    assert code == 0 and tb is None, (code, err, tb)
    results = []
    # one connection held open for the whole run: every CLI run's connect then joins the same DuckDB instance
    # (as the app's threads do) instead of opening the file anew, ~60 ms a run
    keep = duckdb.connect(str(db))
    before = snapshot(db)
    for i in indices:
        case = manifest[i]
        for mode, extra in MODES.items():
            argv = ["--db", str(db), "-q", "import", case["path"], *case["args"], *extra]
            if Path(case["path"]).name != "dataset_info.json":
                argv += ["--pool", f"c{i}{mode[0]}"]
            code, err, tb = run_cli(argv)
            after = snapshot(db)  # nothing else writes the store: this run's after is the next one's before
            results.append(
                {
                    "index": i,
                    "mode": mode,
                    "code": code,
                    "stderr": err,
                    "traceback": tb,
                    "before": before,
                    "after": after,
                }
            )
            before = after
    keep.close()
    return {"results": results, "invalid_json": invalid_json(db)}


def main(argv: list[str]) -> int:
    manifest = json.loads(Path(argv[0]).read_text())
    db, out = Path(argv[1]), Path(argv[2])
    indices = [int(x) for x in argv[3:]] or list(range(len(manifest)))
    out.write_text(json.dumps(run(manifest, db, indices)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
