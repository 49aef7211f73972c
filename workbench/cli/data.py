"""Data commands: open the app, sniff, import, the sample pools, pools, query, show, bulk edits, export, rules."""

from __future__ import annotations

import json
from pathlib import Path

from workbench.cli.kit import (
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    _add_filter_args,
    _dump,
    _filter_from_args,
    _open_store,
    _print_rows,
    _progress,
    _StderrProgress,
)
from workbench.paths import resolve_db_path, sample_data_dir


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
    d = sniff(Path(args.path), format=args.format, mapping=mapping)
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


def cmd_import(args) -> int:
    from engine.data.ingest import import_dataset_info, import_file

    path = Path(args.path)
    if not path.exists():
        raise CliError(f"{path}: no such file or folder")
    report = None
    with _open_store(args) as store, _progress(f"import {path.name}", args.quiet) as prog:
        if path.name == "dataset_info.json" or args.dataset_info:
            report = import_dataset_info(
                store, path, names=args.name or None, domain=args.domain, skip_invalid=args.skip_invalid, progress=prog
            )
            results = []
        else:
            pool = args.pool or path.name.split(".")[0]
            results = [
                import_file(
                    store,
                    path,
                    pool=pool,
                    domain=args.domain,
                    format=args.format,
                    mapping=_parse_mapping(args.map),
                    skip_invalid=args.skip_invalid,
                    progress=prog,
                )
            ]
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


def cmd_sample(args) -> int:
    with _open_store(args) as store:
        res = load_sample(store, progress=_StderrProgress("sample data", quiet=args.quiet), evals=True)
    print(f"loaded {len(res)} sample pools" if res else "sample pools already present")
    return EXIT_OK


def cmd_pools(args) -> int:
    from engine.data.pools import list_pools

    with _open_store(args) as store:
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
        }
        for p in pools
    ]
    if args.format == "table":
        for r in rows:
            r["domains"] = ", ".join(f"{k}:{v}" for k, v in r["domains"].items())
    _print_rows(
        rows,
        args.format,
        ["id", "name", "domain", "format", "samples", "excluded", "domains"] if args.format == "table" else None,
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
        except KeyError as e:
            raise CliError(str(e.args[0] if e.args else e)) from e
    return EXIT_OK


def cmd_query(args) -> int:
    from engine.data.query import Browser

    with _open_store(args, read_only=False) as store:
        f = _filter_from_args(store, args)
        sort = []
        for s in args.sort or ["id"]:
            col, _, d = s.partition(":")
            sort.append((col, d.lower() == "desc"))
        b = Browser(store, f, sort=sort)
        if args.count:
            print(b.count())
            return EXIT_OK
        rows = b.page(args.offset, args.limit)
    columns = None
    if args.format == "table":  # a readable subset; JSON keeps every column
        mentioned = " ".join([args.where or "", *(args.sort or []), *args.score])
        scores = [k for k in (rows[0] if rows else {}) if k.startswith("score.") and k[6:] in mentioned]
        columns = ["id", "pool", "domain", "instruction", "response", "n_tokens", "tags", *scores]
    _print_rows(rows, args.format, columns)
    return EXIT_OK


def cmd_show(args) -> int:
    from dataclasses import asdict

    from engine.data.query import get_sample

    with _open_store(args) as store:
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


def cmd_export(args) -> int:
    from engine.data.export import export

    with _open_store(args) as store:
        f = _filter_from_args(store, args)
        with _progress(f"export {Path(args.path).name}", args.quiet) as prog:
            r = export(
                store,
                Path(args.path),
                filter=f,
                style=args.style,
                file_format=args.file_format,
                dataset_info=Path(args.dataset_info) if args.dataset_info else None,
                include_excluded=args.include_excluded,
                progress=prog,
            )
    print(
        f"exported {r.n:,} samples to {r.path}"
        + (f" (dataset_info: {r.dataset_info_path})" if getattr(r, "dataset_info_path", None) else "")
    )
    return EXIT_OK


def cmd_rules(args) -> int:
    from engine.data import pools as P

    with _open_store(args) as store:
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
    s.add_argument("path")
    s.add_argument("--format", help="force a format")
    s.add_argument("--map", action="append", metavar="ROLE=COLUMN", help="column mapping")
    s.set_defaults(func=cmd_sniff)

    s = sub.add_parser("import", help="import a file, folder or LLaMA-Factory dataset_info.json as a pool")
    s.add_argument("path")
    s.add_argument("--pool", help="pool name (default: the file name); appends to an existing pool")
    s.add_argument("--domain", help="pool domain: general, math, code, tool_use or your own")
    s.add_argument("--format", help="force a format instead of auto-detection (see `workbench sniff`)")
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
        "--name", action="append", help="with dataset_info: only these entries (all or nothing; default: every entry)"
    )
    s.set_defaults(func=cmd_import)

    s = sub.add_parser("sample", help="load the bundled sample pools (idempotent)")
    s.set_defaults(func=cmd_sample)

    s = sub.add_parser("pools", help="list pools with counts per domain")
    s.add_argument("--format", choices=["table", "json", "jsonl"], default="table")
    s.set_defaults(func=cmd_pools)

    s = sub.add_parser("pool", help="rename, delete or set the domain of a pool")
    ps = s.add_subparsers(dest="pool_cmd", metavar="ACTION", required=True)
    x = ps.add_parser("rename")
    x.add_argument("pool")
    x.add_argument("new_name")
    x = ps.add_parser("delete")
    x.add_argument("pool")
    x.add_argument("--yes", action="store_true")
    x = ps.add_parser("set-domain")
    x.add_argument("pool")
    x.add_argument("domain")
    s.set_defaults(func=cmd_pool)

    s = sub.add_parser("query", help="list samples matching a filter (table, JSON or JSONL)")
    _add_filter_args(s)
    s.add_argument("--sort", action="append", metavar="COLUMN[:desc]")
    s.add_argument("--limit", type=int, default=20)
    s.add_argument("--offset", type=int, default=0)
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

    s = sub.add_parser("export", help="export samples as JSONL/Parquet in messages, alpaca or sharegpt style")
    s.add_argument("path")
    s.add_argument("--style", choices=["messages", "alpaca", "sharegpt"], default="messages")
    s.add_argument("--file-format", choices=["jsonl", "parquet"], help="default: from the suffix")
    s.add_argument("--dataset-info", metavar="PATH", help="also write/merge a LLaMA-Factory dataset_info.json entry")
    s.add_argument("--include-excluded", action="store_true")
    _add_filter_args(s)
    s.set_defaults(func=cmd_export)

    s = sub.add_parser("rules", help="rule-based domain assignment and tagging")
    rs = s.add_subparsers(dest="rules_cmd", metavar="ACTION", required=True)
    x = rs.add_parser("add")
    x.add_argument("name")
    x.add_argument("expression")
    x.add_argument("--set-domain")
    x.add_argument("--add-tag")
    x = rs.add_parser("list")
    x.add_argument("--format", choices=["table", "json", "jsonl"], default="table")
    x = rs.add_parser("apply")
    x.add_argument("--pool")
    s.set_defaults(func=cmd_rules)
