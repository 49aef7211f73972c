"""Data commands: open the app, sniff, import, the sample pools, pools, query, show, bulk edits, export, rules.

`-` is standard input for `import` and `sniff`, and standard output for `export`."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

from engine.core.errors import InputError
from engine.core.names import check_name
from workbench.cli.kit import (
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    WorkbenchError,
    _add_filter_args,
    _dump,
    _filter_from_args,
    _open_store,
    _print_rows,
    _progress,
    _sigint_cancels,
    _StderrProgress,
)
from workbench.paths import resolve_db_path, sample_data_dir

QUERY_LIMIT = 20  # rows `workbench query` prints unless --limit says otherwise
QUERY_PAGE = 5_000  # rows fetched at a time while printing
STDIN = "<stdin>"  # how messages name standard input
# File kinds that --format names for `-` (standard input has no suffix to tell them); the record format is detected.
STDIN_KINDS = ("json", "jsonl", "ndjson", "csv", "tsv", "parquet")
GZIP_MAGIC = b"\x1f\x8b"


def load_sample(store, progress=None, *, evals: bool = False) -> list:
    """The bundled sample data into `store` (engine.data.sample.load_sample on this checkout's folder)."""
    from engine.data.sample import load_sample as _load

    return _load(store, sample_data_dir(), progress, evals=evals)


def cmd_open(args) -> int:
    from workbench.app import WorkbenchApp

    db = resolve_db_path(args.db)
    if args.sample:
        from engine.core.store import Store

        with Store(db) as store:
            load_sample(store, evals=True)
    WorkbenchApp(db_path=db).run()
    return EXIT_OK


def cmd_sniff(args) -> int:
    from engine.data.ingest import sniff

    mapping = _parse_mapping(args.map)
    fmt, kind = _record_format(args.format, args.path == "-")
    with _input_file(args.path, kind) as path, _naming_stdin(path):
        d = sniff(path, format=fmt, mapping=mapping)
    out = {
        "path": args.path,
        "format": d.format,
        "file_kind": d.file_kind,
        "reason": d.reason,
        "suggested_domain": d.suggested_domain,
        "n_sampled": d.n_sampled,
        "preview": [{"messages": n.messages, "system": n.system, "tools": n.tools} for n in d.preview[:3]],
    }
    _dump(out)
    return EXIT_OK


def _parse_mapping(items: list[str] | None) -> dict | None:
    if not items:
        return None
    m = {}
    for it in items:
        if "=" not in it:
            raise CliError(f"--map {it!r}: expected ROLE=COLUMN, e.g. instruction=question", EXIT_USAGE)
        k, v = it.split("=", 1)
        m[k.strip()] = v.strip()
    return m


def _record_format(value: str | None, stdin: bool) -> tuple[str | None, str | None]:
    """(record format, file kind) that --format names: a record format, or for `-` a file kind (STDIN_KINDS)."""
    from engine.data.formats import FORMATS

    if value is None or value in FORMATS:
        return value, None
    if value in STDIN_KINDS:
        if stdin:
            return None, value
        raise CliError(
            f"--format {value}: a file's kind comes from its suffix; --format names a record format "
            f"({', '.join(FORMATS)}), or the file kind of - (standard input)",
            EXIT_USAGE,
        )
    raise CliError(f"--format {value!r}: unknown format; known: {', '.join(FORMATS)}", EXIT_USAGE)


def _stdin_kind(head: bytes) -> str:
    """The file kind of standard input from its first bytes (gzip looked into): parquet, json (a JSON array or
    JSON Lines: the reader tells them apart as it does for any .json file), tsv or csv."""
    if head[:2] == GZIP_MAGIC:
        try:
            head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head)
        except zlib.error:
            return "json"  # a broken gzip stream: the reader says so
    if head[:4] == b"PAR1":
        return "parquet"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not text or text[:1] in (b"[", b"{"):
        return "json"
    first = text.split(b"\n", 1)[0]
    return "tsv" if b"\t" in first and b"," not in first else "csv"


@contextmanager
def _input_file(arg: str, kind: str | None = None) -> Iterator[Path]:
    """The file `arg` names; for `-`, standard input spooled to a temporary file named for its kind (`kind`, else
    sniffed), so that detection and the readers treat it like any file. The file is removed afterwards."""
    if arg != "-":
        yield Path(arg)
        return
    with tempfile.TemporaryDirectory(prefix="workbench-stdin-") as tmp:
        head = sys.stdin.buffer.read(1 << 16)
        kind = kind or _stdin_kind(head)
        path = Path(tmp) / ("stdin." + kind + (".gz" if head[:2] == GZIP_MAGIC else ""))
        with open(path, "wb") as f:
            f.write(head)
            shutil.copyfileobj(sys.stdin.buffer, f, 1 << 20)
        yield path


@contextmanager
def _naming_stdin(path: Path) -> Iterator[None]:
    """Engine errors about spooled standard input name it <stdin>, not the temporary file."""
    try:
        yield
    except WorkbenchError as e:
        if not path.parent.name.startswith("workbench-stdin-"):
            raise
        msg = str(e)
        for form in (str(path.resolve()), str(path), path.name):  # issues name the file by its name
            msg = msg.replace(form, STDIN)
        raise WorkbenchError(msg, hint=e.hint, exit_code=e.exit_code) from e


def cmd_import(args) -> int:
    from engine.core.errors import Cancelled
    from engine.data.ingest import import_dataset_info, import_file

    stdin = args.path == "-"
    fmt, kind = _record_format(args.format, stdin)
    if stdin and (args.dataset_info or not args.pool):
        raise CliError(
            "a dataset_info.json names files next to it: import it by its path, not from -"
            if args.dataset_info
            else "importing from - (standard input) needs --pool NAME",
            EXIT_USAGE,
        )
    if not stdin and not os.path.lexists(args.path):  # a link loop or a dangling link: the engine says which
        raise CliError(f"{args.path}: no such file or folder")
    info_file = not stdin and (Path(args.path).name == "dataset_info.json" or args.dataset_info)
    domain = check_name(args.domain, "domain") if args.domain is not None else None
    provenance = _provenance(args.provenance)
    pool = None if info_file else _import_pool_name(args.pool, args.path)
    report = None
    with (
        _input_file(args.path, kind) as path,
        _open_store(args) as store,
        _progress(f"import {STDIN if stdin else path.name}", args.quiet) as prog,
        _sigint_cancels() as cancel,
        _naming_stdin(path),
    ):
        if info_file:
            report = import_dataset_info(
                store,
                path,
                names=args.name or None,
                domain=domain,
                skip_invalid=args.skip_invalid,
                progress=prog,
                cancel=cancel,
            )
            results = []
        else:
            try:
                results = [
                    import_file(
                        store,
                        path,
                        pool=pool,
                        domain=domain,
                        format=fmt,
                        mapping=_parse_mapping(args.map),
                        skip_invalid=args.skip_invalid,
                        progress=prog,
                        cancel=cancel,
                        source_name=STDIN if stdin else None,
                    )
                ]
            except Cancelled:  # one transaction: nothing of it was written
                raise Cancelled("import cancelled; the store is unchanged") from None
        if provenance is not None:  # the pools this import wrote to
            from engine.data.pools import set_provenance

            for pid in dict.fromkeys(r.pool_id for r in [*results, *(report.imported if report else [])]):
                set_provenance(store, pid, provenance)
    if report is not None:  # one line per entry: what was imported, or why not
        print("\n".join(report.lines()))
    for r in results:
        msg = (
            f"imported {r.n_inserted:,} samples ({r.format}) into pool id {r.pool_id}: "
            f"{r.n_records:,} records, {r.n_duplicates:,} duplicates, {r.n_invalid:,} invalid"
            f" in {r.seconds:.1f}s"
        )
        if r.quarantine_path:
            msg += f"; bad records quarantined in {r.quarantine_path}"
        print(msg)
    return EXIT_OK


def _provenance(value: str | None) -> str | None:
    """--provenance checked before anything is read or written (None: leave the pool's label as it is)."""
    if value is None:
        return None
    from engine.data.pools import PoolError, check_provenance

    try:
        return check_provenance(value)
    except PoolError as e:
        raise CliError(f"--provenance: {e}", EXIT_USAGE) from None


def _import_pool_name(given: str | None, path: str) -> str:
    """The pool an import goes into: --pool, else the file's name up to its first dot; either must keep the name
    rule (engine.core.names), checked before anything is read or written."""
    if given is not None:
        return check_name(given, "pool name")
    try:
        return check_name(Path(path).name.split(".")[0], "pool name")
    except InputError as e:
        raise CliError(f"{e} (the pool is named after the file: --pool NAME names it)") from None


def cmd_sample(args) -> int:
    with _open_store(args) as store:
        res = load_sample(store, progress=_StderrProgress("sample data", quiet=args.quiet), evals=True)
    print(f"loaded {len(res)} sample pools" if res else "sample pools already present")
    return EXIT_OK


def cmd_pools(args) -> int:
    from engine.data.pools import list_pools

    with _open_store(args, read_only=True) as store:
        pools = list_pools(store)
    rows = [
        {
            "id": p.id,
            "name": p.name,
            "domain": p.domain,
            "format": p.format,
            "samples": p.n_samples,
            "excluded": p.n_excluded,
            "domains": p.domains,
            "source": p.source,
            "role": p.role,
            "provenance": p.provenance,
        }
        for p in pools
    ]
    if args.format == "table":
        for r in rows:
            r["domains"] = ", ".join(f"{k}:{v}" for k, v in r["domains"].items())
    _print_rows(
        rows,
        args.format,
        ["id", "name", "domain", "format", "samples", "excluded", "provenance", "domains"]
        if args.format == "table"
        else None,
    )
    return EXIT_OK


def cmd_pool(args) -> int:
    from engine.data import pools as P

    with _open_store(args) as store:
        try:
            if args.pool_cmd == "rename":
                P.rename_pool(store, args.pool, args.new_name)
                print(f"renamed {args.pool} to {args.new_name}")
            elif args.pool_cmd == "delete":
                info = P.get_pool(store, args.pool)
                if not args.yes:
                    raise CliError(
                        f"deleting pool {info.name} removes {info.n_samples:,} samples; add --yes to confirm"
                    )
                n = P.delete_pool(store, args.pool)
                print(f"deleted pool {info.name} ({n:,} samples)")
            elif args.pool_cmd == "set-domain":
                n = P.set_pool_domain(store, args.pool, args.domain)
                print(f"pool {args.pool}: domain {args.domain} on {n:,} samples")
            elif args.pool_cmd == "set-provenance":
                name = P.set_provenance(store, args.pool, args.provenance)
                print(f"pool {name}: provenance {P.check_provenance(args.provenance)}")
        except KeyError as e:
            raise CliError(str(e.args[0] if e.args else e)) from e
    return EXIT_OK


def cmd_query(args) -> int:
    from engine.data.query import Browser, parse_sort, score_metrics

    if args.limit < 0 or args.offset < 0:
        raise CliError("--limit and --offset take a number of rows, 0 or more", EXIT_USAGE)
    with _open_store(args, read_only=True) as store:
        f = _filter_from_args(store, args)
        b = Browser(store, f, sort=parse_sort(args.sort or ["id"], score_metrics(store)))
        total = b.count()
        if args.count:
            print(total)
            return EXIT_OK
        start = min(args.offset, total)
        n = total - start if args.limit == 0 else min(args.limit, total - start)
        rows = (r for at in range(start, start + n, QUERY_PAGE) for r in b.page(at, min(QUERY_PAGE, start + n - at)))
        columns = None
        if args.format == "table":  # a readable subset; JSON keeps every column
            rows = list(rows)
            mentioned = " ".join([args.where or "", *(args.sort or []), *args.score])
            scores = [k for k in (rows[0] if rows else {}) if k.startswith("score.") and k[6:] in mentioned]
            columns = ["id", "pool", "domain", "instruction", "response", "n_tokens", "tags", *scores]
        _print_rows(rows, args.format, columns)
    if start + n < total:  # on stderr: piped rows stay clean
        sys.stdout.flush()
        print(
            f"workbench: {n:,} of {total:,} matching samples shown (rows {start + 1:,}-{start + n:,}); "
            "--limit 0 shows all",
            file=sys.stderr,
        )
    return EXIT_OK


def cmd_show(args) -> int:
    from dataclasses import asdict

    from engine.data.query import get_sample

    with _open_store(args, read_only=True) as store:
        try:
            d = get_sample(store, args.id)
        except KeyError as e:
            raise CliError(str(e.args[0] if e.args else e)) from e
    data = asdict(d)
    if args.format == "json":
        _dump(data)
    else:
        print(
            f"sample {d.id}  pool {d.pool}  domain {d.domain}  tags {', '.join(d.tags) or '-'}"
            f"{'  EXCLUDED' if d.excluded else ''}"
        )
        print(f"source {d.source_file}:{d.source_line if d.source_line is not None else '?'}")
        if d.system:
            print(f"\n[system]\n{d.system}")
        for m in d.messages:
            content = m.get("content") or ""
            if m.get("tool_calls"):
                content += "\n" + json.dumps(m["tool_calls"], ensure_ascii=False, indent=2)
            print(f"\n[{m.get('role')}]\n{content}")
        if d.scores:
            print("\nscores: " + ", ".join(f"{k}={v}" for k, v in d.scores.items()))
    return EXIT_OK


def cmd_tag(args) -> int:
    from engine.data.query import bulk_tag

    with _open_store(args) as store:
        n = bulk_tag(store, _filter_from_args(store, args), args.tag_name, remove=args.remove)
    print(f"{'untagged' if args.remove else 'tagged'} {n:,} samples with {args.tag_name!r}")
    return EXIT_OK


def cmd_set_domain(args) -> int:
    from engine.data.query import bulk_set_domain

    with _open_store(args) as store:
        n = bulk_set_domain(store, _filter_from_args(store, args), args.domain_name)
    print(f"set domain {args.domain_name!r} on {n:,} samples")
    return EXIT_OK


def cmd_exclude(args) -> int:
    from engine.data.query import bulk_exclude

    with _open_store(args) as store:
        n = bulk_exclude(store, _filter_from_args(store, args), excluded=not args.undo)
    print(f"{'included' if args.undo else 'excluded'} {n:,} samples")
    return EXIT_OK


def cmd_undo(args) -> int:
    from engine.data.query import last_bulk, undo_last_bulk

    with _open_store(args, read_only=args.show) as store:
        if args.show:
            what = last_bulk(store)
            print(f"would undo: {what}" if what else "nothing to undo")
            return EXIT_OK
        print(f"undone: {undo_last_bulk(store)}")
    return EXIT_OK


def _copy_into(src: Path, target: str) -> None:
    """The bytes of `src` into standard output (`-`) or into the existing file `target`, in place; an OSError
    names `target` (a failed write, say to a full disk, names no file of its own)."""
    with open(src, "rb") as f:
        if target == "-":
            sys.stdout.flush()
            shutil.copyfileobj(f, sys.stdout.buffer, 1 << 20)
            sys.stdout.buffer.flush()
            return
        try:
            with open(target, "wb") as out:
                shutil.copyfileobj(f, out, 1 << 20)
        except BrokenPipeError:
            raise
        except OSError as e:
            raise OSError(e.errno, e.strerror or str(e), e.filename or target) from e


def cmd_export(args) -> int:
    from engine.core.errors import Cancelled
    from engine.data.export import export, read_dataset_info, written_in_place

    target = args.path
    # stdout, or an existing FIFO, device or link: exported to a temporary file, then copied in (nothing partial
    # reaches it on a cancel), never put in its place
    through = target == "-" or written_in_place(target)
    where = "<stdout>" if target == "-" else target
    if through and args.dataset_info:
        raise CliError(f"--dataset-info names the exported file, and {where} is not a file it can name", EXIT_USAGE)
    fmt = args.file_format or ("parquet" if Path(target).suffix.lower() == ".parquet" else "jsonl")
    if target == "-" and fmt == "parquet" and sys.stdout.isatty():
        raise CliError("Parquet is binary: redirect standard output to a file or a pipe", EXIT_USAGE)
    name = (
        check_name(args.dataset_name, "dataset name")
        if args.dataset_name is not None
        else Path(target).name.split(".")[0]
    )
    if args.dataset_info and not args.overwrite:
        info_path, info = read_dataset_info(args.dataset_info, folder_unless_json=True)
        if name in info:
            raise CliError(
                f"{info_path} already has an entry {name!r}; --overwrite replaces it, "
                "--dataset-name NAME adds this export under another name"
            )
    with (
        _open_store(args, read_only=True) as store,
        _progress(f"export {Path(where).name}", args.quiet) as prog,
        _sigint_cancels() as cancel,
        tempfile.TemporaryDirectory(prefix="workbench-export-") if through else nullcontext() as tmp,
    ):
        out = Path(tmp) / f"export.{fmt}" if through else Path(target)
        try:
            r = export(
                store,
                out,
                filter=_filter_from_args(store, args),
                style=args.style,
                file_format=fmt,
                dataset_info=Path(args.dataset_info) if args.dataset_info else None,
                dataset_name=name if args.dataset_info else None,
                overwrite=args.overwrite,
                include_excluded=args.include_excluded,
                ranking=args.ranking,
                progress=prog,
                cancel=cancel,
            )
        except Cancelled:
            raise Cancelled(f"export cancelled; {where} was not written") from None
        if through:
            _copy_into(out, target)
    print(  # with the data on stdout (or a link to it), the summary goes to stderr
        f"exported {r.n:,} samples to {where if through else r.path}"
        + (f" (dataset_info: {r.dataset_info_path})" if getattr(r, "dataset_info_path", None) else ""),
        file=sys.stderr if through else sys.stdout,
    )
    if r.n_without_reply and args.dataset_info and not args.ranking:
        print(
            f"note: {r.n_without_reply:,} records end without an assistant reply (prompt-only, or a tool result "
            "last); LLaMA-Factory's SFT loader has no target in them and skips them",
            file=sys.stderr,
        )
    return EXIT_OK


def cmd_rules(args) -> int:
    from engine.data import pools as P

    with _open_store(args, read_only=args.rules_cmd == "list") as store:
        if args.rules_cmd == "add":
            if not (args.set_domain or args.add_tag):
                raise CliError("a rule needs --set-domain and/or --add-tag", EXIT_USAGE)
            rid = P.add_rule(store, args.name, args.expression, domain=args.set_domain, tag=args.add_tag)
            print(f"rule {rid} added")
        elif args.rules_cmd == "list":
            rows = [r if isinstance(r, dict) else r.__dict__ for r in P.list_rules(store)]
            _print_rows(rows, args.format)
        elif args.rules_cmd == "apply":
            out = P.apply_rules(store, pool=args.pool)
            print(json.dumps(out))
    return EXIT_OK


def register(sub) -> None:
    """Add this area's subcommands to the `workbench` parser (`sub` = its subparsers)."""
    s = sub.add_parser("open", help="open the app (the default)")
    s.set_defaults(func=cmd_open)

    s = sub.add_parser("sniff", help="detect a file's format and preview it, importing nothing")
    s.add_argument("path", help="a file or folder, or - for standard input")
    s.add_argument("--format", help="force a record format; for - also a file kind: " + ", ".join(STDIN_KINDS))
    s.add_argument("--map", action="append", metavar="ROLE=COLUMN", help="column mapping")
    s.set_defaults(func=cmd_sniff)

    s = sub.add_parser("import", help="import a file, folder or LLaMA-Factory dataset_info.json as a pool")
    s.add_argument("path", help="a file, folder or dataset_info.json, or - for standard input (with --pool)")
    s.add_argument("--pool", help="pool name (default: the file name); appends to an existing pool")
    s.add_argument("--domain", help="pool domain: general, math, code, tool_use or your own")
    s.add_argument(
        "--format",
        help="force a record format instead of auto-detection (see `workbench sniff`); for - the file kind may be "
        f"given instead ({', '.join(STDIN_KINDS)}; default: from its first bytes)",
    )
    s.add_argument(
        "--map",
        action="append",
        metavar="ROLE=COLUMN",
        help="column mapping, e.g. --map instruction=question --map output=answer",
    )
    s.add_argument(
        "--skip-invalid",
        action="store_true",
        help="quarantine bad records into a report instead of failing the whole import",
    )
    s.add_argument("--dataset-info", action="store_true", help="treat PATH as a LLaMA-Factory dataset_info.json")
    s.add_argument(
        "--provenance",
        help="where the data came from: human, synthetic, mixed or unknown (the pool's label; default: unchanged, "
        "'unknown' for a new pool)",
    )
    s.add_argument(
        "--name", action="append", help="with dataset_info: only these entries (all or nothing; default: every entry)"
    )
    s.set_defaults(func=cmd_import)

    s = sub.add_parser("sample", help="load the bundled sample pools (idempotent)")
    s.set_defaults(func=cmd_sample)

    s = sub.add_parser("pools", help="list pools with counts per domain")
    s.add_argument("--format", choices=["table", "json", "jsonl"], default="table")
    s.set_defaults(func=cmd_pools)

    s = sub.add_parser("pool", help="rename, delete, or set the domain or provenance of a pool")
    ps = s.add_subparsers(dest="pool_cmd", metavar="ACTION", required=True)
    x = ps.add_parser("rename", help="give a pool a new name")
    x.add_argument("pool")
    x.add_argument("new_name")
    x = ps.add_parser("delete", help="delete a pool with its samples, tags and scores (needs --yes)")
    x.add_argument("pool")
    x.add_argument("--yes", action="store_true", help="really delete")
    x = ps.add_parser("set-domain", help="set the domain of the pool and of its samples that take the pool's")
    x.add_argument("pool")
    x.add_argument("domain")
    x = ps.add_parser("set-provenance", help="label where a pool's data came from: human, synthetic, mixed, unknown")
    x.add_argument("pool")
    x.add_argument("provenance")
    s.set_defaults(func=cmd_pool)

    s = sub.add_parser("query", help="list samples matching a filter (table, JSON or JSONL)")
    _add_filter_args(s)
    s.add_argument(
        "--sort",
        action="append",
        metavar="COLUMN[:asc|desc]",
        help="sort by a column (id, pool, domain, instruction, response, n_chars, n_tokens, n_turns, excluded, "
        "source, score.METRIC; repeatable; default id)",
    )
    s.add_argument(
        "--limit",
        type=int,
        default=QUERY_LIMIT,
        help=f"rows to print (default {QUERY_LIMIT}; 0: all); stderr says when rows were left out",
    )
    s.add_argument("--offset", type=int, default=0, help="rows to skip first")
    s.add_argument("--count", action="store_true", help="print only the number of matching samples")
    s.add_argument("--format", choices=["table", "json", "jsonl"], default="table")
    s.set_defaults(func=cmd_query)

    s = sub.add_parser("show", help="show one sample in full")
    s.add_argument("id", type=int)
    s.add_argument("--format", choices=["text", "json"], default="text")
    s.set_defaults(func=cmd_show)

    s = sub.add_parser("tag", help="add (or --remove) a tag on every sample matching the filter")
    s.add_argument("tag_name", metavar="TAG")
    s.add_argument("--remove", action="store_true")
    _add_filter_args(s)
    s.set_defaults(func=cmd_tag)

    s = sub.add_parser("set-domain", help="set the domain of every sample matching the filter")
    s.add_argument("domain_name", metavar="DOMAIN")
    _add_filter_args(s)
    s.set_defaults(func=cmd_set_domain)

    s = sub.add_parser("exclude", help="exclude (or --undo) every sample matching the filter")
    s.add_argument("--undo", action="store_true")
    _add_filter_args(s)
    s.set_defaults(func=cmd_exclude)

    s = sub.add_parser("undo", help="undo the last bulk action (tag, exclude, set-domain; here or in the app's Browse)")
    s.add_argument("--show", action="store_true", help="only say what would be undone")
    s.set_defaults(func=cmd_undo)

    s = sub.add_parser("export", help="export samples as JSONL/Parquet in messages, alpaca or sharegpt style")
    s.add_argument(
        "path", help="output file, or - for standard output (a FIFO or device such as /dev/stdout is written in place)"
    )
    s.add_argument("--style", choices=["messages", "alpaca", "sharegpt"], default="messages")
    s.add_argument("--file-format", choices=["jsonl", "parquet"], help="default: from the suffix (- : jsonl)")
    s.add_argument("--dataset-info", metavar="PATH", help="also write/merge a LLaMA-Factory dataset_info.json entry")
    s.add_argument("--dataset-name", metavar="NAME", help="the dataset_info entry's name (default: the file's stem)")
    s.add_argument("--overwrite", action="store_true", help="replace a dataset_info entry of that name")
    s.add_argument("--include-excluded", action="store_true")
    s.add_argument(
        "--ranking",
        action="store_true",
        help="write preference pairs (prompt, chosen, rejected) as LLaMA-Factory ranking data; every exported "
        "sample must be a pair",
    )
    _add_filter_args(s)
    s.set_defaults(func=cmd_export)

    s = sub.add_parser("rules", help="rule-based domain assignment and tagging")
    rs = s.add_subparsers(dest="rules_cmd", metavar="ACTION", required=True)
    x = rs.add_parser("add", help="save a rule: samples matching EXPRESSION get a domain and/or a tag")
    x.add_argument("name")
    x.add_argument("expression", help="filter expression, e.g. \"text ~ 'def '\"")
    x.add_argument("--set-domain")
    x.add_argument("--add-tag")
    x = rs.add_parser("list", help="the saved rules")
    x.add_argument("--format", choices=["table", "json", "jsonl"], default="table")
    x = rs.add_parser("apply", help="apply every rule (to one --pool, or to all)")
    x.add_argument("--pool")
    s.set_defaults(func=cmd_rules)
