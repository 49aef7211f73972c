"""The `workbench` command: opens the app, and the headless twins of every screen action.

Exit codes: 0 success, 1 bad input (file, filter, unknown pool…), 2 usage error, 3 store error,
130 cancelled (Ctrl-C).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from engine.core.errors import EXIT_CANCELLED, EXIT_INPUT, EXIT_OK, EXIT_STORE, EXIT_USAGE, WorkbenchError
from workbench import __version__
from workbench.paths import resolve_db_path, sample_data_dir

__all__ = ["EXIT_CANCELLED", "EXIT_INPUT", "EXIT_OK", "EXIT_STORE", "EXIT_USAGE", "CliError", "main"]


class CliError(WorkbenchError):
    """A usage or input error found by the CLI itself, printed as `workbench: <message>`."""

    def __init__(self, message: str, code: int = EXIT_INPUT):
        super().__init__(message, exit_code=code)

    @property
    def code(self) -> int:
        return self.exit_code


# ---------------------------------------------------------------------------------------------
# helpers


def _open_store(args, read_only: bool = False):
    from engine.core.store import Store

    return Store(resolve_db_path(args.db), read_only=read_only)


class _StderrProgress:
    """Progress on stderr: a rewritten line on a terminal, a line every few seconds otherwise."""

    def __init__(self, label: str, quiet: bool = False):
        self.label = label
        self.quiet = quiet
        self.tty = sys.stderr.isatty()
        self._last = 0.0
        self._printed = False

    def __call__(self, p) -> None:
        if self.quiet:
            return
        import time

        now = time.monotonic()
        if self.tty:
            sys.stderr.write(f"\r{self.label}: {p.line()}\x1b[K")
            sys.stderr.flush()
            self._printed = True
        elif now - self._last >= 2.0:
            self._last = now
            sys.stderr.write(f"{self.label}: {p.line()}\n")

    def close(self) -> None:
        if self._printed:
            sys.stderr.write("\n")
            sys.stderr.flush()


def _add_filter_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("filter (all given parts must hold)")
    g.add_argument("--pool", action="append", help="pool name or id (repeatable)")
    g.add_argument("--domain", action="append", help="domain (repeatable)")
    g.add_argument("--tag", action="append", dest="tags", help="has tag (repeatable: any of them)")
    g.add_argument("--text", help="case-insensitive substring in instruction, response or system")
    g.add_argument("--where", help="filter expression, e.g. \"n_tokens > 200 and domain = 'math'\"")
    g.add_argument(
        "--score",
        action="append",
        default=[],
        metavar="METRIC:MIN:MAX",
        help="score range, e.g. ifd::1 (empty bound = open)",
    )
    g.add_argument("--no-excluded", action="store_true", help="leave out excluded samples")


def _pool_ids_from_args(store, refs) -> list[int] | None:
    """Pool ids of --pool names/ids (None when none given); an unknown pool is a CliError."""
    from engine.data.pools import get_pool

    if not refs:
        return None
    out = []
    for ref in refs:
        try:
            out.append(get_pool(store, ref).id)
        except KeyError as e:
            raise CliError(str(e.args[0] if e.args else e)) from e
    return out


def _filter_from_args(store, args):
    from engine.data.query import Filter

    pool_ids = _pool_ids_from_args(store, getattr(args, "pool", None))
    ranges: dict[str, tuple[float | None, float | None]] = {}
    for spec in getattr(args, "score", []) or []:
        parts = spec.split(":")
        if len(parts) != 3:
            raise CliError(f"--score {spec!r}: expected METRIC:MIN:MAX", EXIT_USAGE)
        try:
            lo = float(parts[1]) if parts[1] else None
            hi = float(parts[2]) if parts[2] else None
        except ValueError as e:
            raise CliError(f"--score {spec!r}: bounds must be numbers", EXIT_USAGE) from e
        ranges[parts[0]] = (lo, hi)
    return Filter(
        pool_ids=pool_ids,
        domains=args.domain or None,
        tags=args.tags or None,
        text=args.text or None,
        score_ranges=ranges,
        expression=args.where or None,
        include_excluded=not args.no_excluded,
    )


def _print_rows(rows: list[dict], fmt: str, columns: list[str] | None = None) -> None:
    if fmt == "json":
        json.dump(rows, sys.stdout, ensure_ascii=False, indent=2, default=str)
        sys.stdout.write("\n")
    elif fmt == "jsonl":
        for r in rows:
            sys.stdout.write(json.dumps(r, ensure_ascii=False, default=str) + "\n")
    else:
        from rich.console import Console
        from rich.table import Table

        cols = columns or (list(rows[0].keys()) if rows else [])
        t = Table(show_lines=False, pad_edge=False)
        for c in cols:
            t.add_column(c, overflow="ellipsis", no_wrap=True, max_width=60)
        for r in rows:
            t.add_row(*["" if r.get(c) is None else str(r.get(c)) for c in cols])
        Console(soft_wrap=False, width=None if sys.stdout.isatty() else 200).print(t)


# ---------------------------------------------------------------------------------------------
# commands


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
    json.dump(out, sys.stdout, ensure_ascii=False, indent=2, default=str)
    sys.stdout.write("\n")
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
    prog = _StderrProgress(f"import {path.name}", quiet=args.quiet)
    with _open_store(args) as store:
        try:
            if path.name == "dataset_info.json" or args.dataset_info:
                results = import_dataset_info(store, path, names=args.name or None, domain=args.domain, progress=prog)
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
        finally:
            prog.close()
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
        json.dump(data, sys.stdout, ensure_ascii=False, indent=2, default=str)
        sys.stdout.write("\n")
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

    prog = _StderrProgress(f"export {Path(args.path).name}", quiet=args.quiet)
    with _open_store(args) as store:
        f = _filter_from_args(store, args)
        try:
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
        finally:
            prog.close()
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


def cmd_score(args) -> int:
    metrics = set(args.metric or ["ifd"])
    unknown = metrics - {"ifd", "ppl", "cherry", "heuristics", "all"}
    if unknown:
        raise CliError(
            f"unknown metric group(s): {', '.join(sorted(unknown))}; use ifd, ppl, cherry, heuristics or all",
            EXIT_USAGE,
        )
    if "all" in metrics:
        metrics = {"ifd", "cherry", "heuristics"}
    with _open_store(args) as store:
        f = _filter_from_args(store, args)
        if "heuristics" in metrics:
            from engine.quality.heuristics import run_heuristics

            prog = _StderrProgress("heuristics", quiet=args.quiet)
            try:
                out = run_heuristics(store, pool_ids=f.pool_ids, progress=prog)
            finally:
                prog.close()
            print("heuristics: " + ", ".join(f"{k}={v:,}" for k, v in out.items()))
        variants = tuple(
            v for v, on in (("superfiltering", metrics & {"ifd", "ppl"}), ("cherry", "cherry" in metrics)) if on
        )
        if variants:
            from engine.core.models import ModelError
            from engine.quality.ifd import IFDParams
            from engine.quality.scoring import score_in_process

            params = IFDParams(
                max_length=args.max_length,
                cherry_max_length=args.cherry_max_length,
                cherry_template=args.cherry_template,
                token_budget=args.batch_tokens,
            )
            prog = _StderrProgress(f"score {'+'.join(variants)}", quiet=args.quiet)
            try:
                out = score_in_process(
                    store,
                    model=args.model,
                    pool_ids=f.pool_ids,
                    variants=variants,
                    params=params,
                    chunk=args.chunk,
                    device=args.device,
                    progress=prog,
                )
            except ModelError as e:
                raise CliError(str(e)) from e
            finally:
                prog.close()
            print(
                f"scored {out['scored']:,} samples ({out.get('skipped', 0):,} already scored) at "
                f"{out['rate']:.2f} samples/s; job folder {out['job_dir']}"
            )
    return EXIT_OK


def cmd_scores(args) -> int:
    from engine.quality.scores import domain_summary, list_metrics, threshold_counts

    with _open_store(args) as store:
        if not args.metric_name:
            rows = [m.__dict__ for m in list_metrics(store)]
            _print_rows(rows, args.format)
            return EXIT_OK
        f = _filter_from_args(store, args)
        rows = domain_summary(store, args.metric_name, f)
        if args.keep:
            op, _, thr = args.keep.partition(" ")
            try:
                tc = {r["domain"]: r for r in threshold_counts(store, args.metric_name, op, float(thr), f)}
            except ValueError as e:
                raise CliError(f"--keep {args.keep!r}: {e}; expected e.g. '< 1.0'", EXIT_USAGE) from e
            for r in rows:
                r["keep"] = tc.get(r["domain"], {}).get("keep")
                r["lose"] = tc.get(r["domain"], {}).get("lose")
    for r in rows:
        for k, v in list(r.items()):
            if isinstance(v, float):
                r[k] = round(v, 4)
    _print_rows(rows, args.format)
    return EXIT_OK


def cmd_select(args) -> int:
    from engine.quality import selection as sl

    m = args.method
    with _open_store(args) as store:
        f = _filter_from_args(store, args)
        common = dict(filter=f, replace=args.replace)
        emb = dict(model=args.embed_model, text_kind=args.embed_text)
        try:
            if m == "superfiltering":
                sel = sl.superfiltering_select(
                    store,
                    args.name,
                    rate=None if args.n else args.rate,
                    n=args.n,
                    per=args.per,
                    threshold=args.threshold,
                    model=args.model,
                    **common,
                )
            elif m in ("facility_location", "superfiltering_d", "kcenter"):
                if not args.k:
                    raise CliError(f"--method {m} needs --k", EXIT_USAGE)
                ifd_top = args.ifd_top if args.ifd_top is not None else (0.2 if m == "superfiltering_d" else None)
                ifd = dict(ifd_top=ifd_top, ifd_threshold=args.threshold, ifd_model=args.model)
                if m == "kcenter":
                    sel = sl.kcenter_select(store, args.name, k=args.k, seed=args.seed, **emb, **ifd, **common)
                else:
                    sel = sl.facility_location_select(
                        store, args.name, k=args.k, metric=args.metric, max_n=args.max_n, **emb, **ifd, **common
                    )
            else:
                if not args.clustering:
                    raise CliError("--method cluster_balanced needs --clustering NAME", EXIT_USAGE)
                if (args.per_cluster is None) == (args.total is None):
                    raise CliError("--method cluster_balanced needs one of --per-cluster or --total", EXIT_USAGE)
                sel = sl.cluster_balanced_select(
                    store,
                    args.name,
                    clustering=args.clustering,
                    n_per_cluster=args.per_cluster,
                    total=args.total,
                    include_noise=args.include_noise,
                    seed=args.seed,
                    order_by=args.order_by,
                    **common,
                )
        except sl.SelectionError as e:
            raise CliError(str(e)) from e
    how = f"superfiltering, {args.per}" if m == "superfiltering" else sel.method
    print(f"selection {sel.name!r}: {sel.n:,} samples ({how}); hash {sel.content_hash}")
    return EXIT_OK


def cmd_dedup(args) -> int:
    from engine.geometry import dedup as dd

    with _open_store(args) as store:
        f = _filter_from_args(store, args)
        try:
            if args.semantic:
                groups = dd.semantic_duplicate_groups(
                    store,
                    model=args.embed_model,
                    text_kind=args.embed_text,
                    threshold=args.threshold,
                    filter=f,
                    keep=args.keep,
                )
            elif args.minhash is not None:
                groups = dd.near_duplicate_groups_minhash(
                    store, threshold=args.minhash, num_perm=args.num_perm, filter=f, keep=args.keep
                )
            else:
                groups = dd.exact_duplicate_groups(store, f, by=args.by, keep=args.keep)
            n_ex = dd.keep_one_per_group(store, groups) if args.apply else 0
        except dd.DedupError as e:
            raise CliError(str(e)) from e
    rows = [
        {
            "group": n + 1,
            "kind": g.kind,
            "size": len(g.ids),
            "keeper": g.keeper,
            "others": ",".join(str(i) for i in g.ids if i != g.keeper),
            "similarity": None if g.similarity is None else round(g.similarity, 4),
            "why": g.why,
        }
        for n, g in enumerate(groups)
    ]
    if args.format != "table" or rows:
        _print_rows(rows, args.format)
    n_dup = sum(len(g.ids) - 1 for g in groups)
    msg = f"{len(groups):,} duplicate groups, {n_dup:,} samples besides the keepers"
    msg += (
        f"; excluded {n_ex:,} (tagged 'duplicate'; undo: workbench exclude --undo --tag duplicate)"
        if args.apply
        else "; nothing changed (--apply excludes all but the keeper of each group)"
    )
    print(msg, file=sys.stderr if args.format != "table" else sys.stdout)
    return EXIT_OK


def cmd_embed(args) -> int:
    from engine.geometry.embeddings import EmbeddingError, embed_samples

    with _open_store(args) as store:
        pool_ids = _pool_ids_from_args(store, args.pool)
        prog = _StderrProgress(f"embed {args.text}", quiet=args.quiet)
        try:
            r = embed_samples(
                store,
                model=args.model,
                text_kind=args.text,
                pool_ids=pool_ids,
                batch_size=args.batch_size,
                chunk_size=args.chunk,
                progress=prog,
            )
        except EmbeddingError as e:
            raise CliError(str(e)) from e
        finally:
            prog.close()
    print(
        f"embedded {r.n_new:,} samples ({r.n_encoded:,} distinct texts encoded at {r.rate:,.1f} texts/s, "
        f"{r.n_reused:,} reused identical texts, {r.n_cached:,} already embedded) with {r.model} "
        f"[{r.text_kind}], dim {r.dim}; {r.seconds:.1f}s; parts in {r.folder}"
    )
    return EXIT_OK


def cmd_cluster(args) -> int:
    from engine.geometry.clusters import ClusterError, cluster

    with _open_store(args) as store:
        pool_ids = _pool_ids_from_args(store, args.pool)
        prog = _StderrProgress(f"cluster {args.name}", quiet=args.quiet)
        try:
            info = cluster(
                store,
                args.name,
                model=args.model,
                text_kind=args.text,
                pool_ids=pool_ids,
                pca_dims=args.pca_dims,
                min_cluster_size=args.min_cluster_size,
                min_samples=args.min_samples,
                fit_sample=args.fit_sample,
                seed=args.seed,
                replace=args.replace,
                progress=prog,
            )
        except ClusterError as e:
            raise CliError(str(e)) from e
        finally:
            prog.close()
    print(
        f"clustering {info.name!r}: {info.n_samples:,} samples, {info.n_clusters} clusters, "
        f"{info.n_noise:,} noise (PCA {info.params['pca_dims']}, min_cluster_size "
        f"{info.params['min_cluster_size']}); {info.seconds:.1f}s"
    )
    return EXIT_OK


def cmd_clusters(args) -> int:
    from engine.geometry.clusters import ClusterError, assign_new, cluster_summary, diversity, list_clusterings

    with _open_store(args, read_only=not args.assign_new) as store:
        if not args.name:
            rows = [
                {
                    "name": c.name,
                    "model": c.model,
                    "text": c.text_kind,
                    "samples": c.n_samples,
                    "clusters": c.n_clusters,
                    "noise": c.n_noise,
                    "assigned_later": c.n_assigned_later,
                    "pca_dims": c.params.get("pca_dims"),
                    "min_cluster_size": c.params.get("min_cluster_size"),
                    "created_at": c.created_at,
                }
                for c in list_clusterings(store)
            ]
            _print_rows(rows, args.format)
            return EXIT_OK
        try:
            if args.assign_new:
                n = assign_new(store, args.name)
                print(f"assigned {n:,} new samples to clustering {args.name!r}", file=sys.stderr)
            summ = cluster_summary(store, args.name)
            div = diversity(store, args.name)
        except ClusterError as e:
            raise CliError(str(e)) from e
    if args.format == "table":
        rows = [
            {
                "cluster": "noise" if c.cluster < 0 else c.cluster,
                "size": c.size,
                "share": f"{c.share:.1%}",
                "keywords": ", ".join(c.keywords),
                "domains": ", ".join(f"{d} {n}" for d, n in c.domains.items()),
                **{m: (None if v is None else round(v, 4)) for m, v in c.scores.items()},
                "representative": f"#{c.representative_id} {(c.representative_text or '')[:60]}"
                if c.representative_id is not None
                else "",
            }
            for c in summ
        ]
        _print_rows(rows, "table")
        ent = f"{div.entropy:.3f} nats" + (f" ({div.entropy_norm:.2f} of max)" if div.entropy_norm is not None else "")
        mcd = "n/a" if div.mean_cosine_distance is None else f"{div.mean_cosine_distance:.4f}"
        print(
            f"diversity: {div.n:,} samples, {div.n_noise:,} noise; coverage {div.n_covered}/{div.n_clusters} "
            f"clusters; entropy {ent} (noise excluded); mean pairwise cosine distance {mcd} (exact)"
        )
    else:
        _print_rows([c.__dict__ for c in summ], args.format)
    return EXIT_OK


def cmd_sample(args) -> int:
    with _open_store(args) as store:
        res = load_sample(store, progress=_StderrProgress("sample data", quiet=args.quiet), evals=True)
    print(f"loaded {len(res)} sample pools" if res else "sample pools already present")
    return EXIT_OK


# ---------------------------------------------------------------------------------------------
# parser


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="workbench",
        description="Keyboard-first workbench for instruction data. Without a command it opens the app.",
    )
    p.add_argument("--version", action="version", version=f"workbench {__version__}")
    p.add_argument("--db", help="DuckDB store file (default: $WORKBENCH_DB or ~/.local/share/workbench/)")
    p.add_argument("--sample", action="store_true", help="load the bundled sample pools before opening")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    # --db and -q are accepted after the command too (`workbench import x.jsonl --db my.duckdb`).
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    common.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    sub = p.add_subparsers(dest="cmd", metavar="COMMAND")
    _orig_add = sub.add_parser

    def add_parser(name, **kw):
        return _orig_add(name, parents=[common], **kw)

    sub.add_parser = add_parser  # type: ignore[method-assign]

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
    s.add_argument("--name", action="append", help="with dataset_info: only these entries")
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

    s = sub.add_parser("score", help="compute quality scores (IFD/perplexity with a proxy LM, Cherry IFD, heuristics)")
    s.add_argument("--metric", action="append", help="ifd (with ppl and token counts), cherry, heuristics, all")
    s.add_argument(
        "--model", default=None, help="smollm2 (default, offline), a model folder, a .gguf or a cached hub id"
    )
    s.add_argument("--device", default="auto", help="auto, cpu, cuda")
    s.add_argument("--max-length", type=int, default=1024)
    s.add_argument("--cherry-max-length", type=int, default=512)
    s.add_argument("--cherry-template", choices=["alpaca", "wiz"], default="alpaca")
    s.add_argument("--batch-tokens", type=int, default=None, help="padded tokens per batch (default: auto)")
    s.add_argument("--chunk", type=int, default=64, help="samples per committed chunk")
    _add_filter_args(s)
    s.set_defaults(func=cmd_score)

    s = sub.add_parser("scores", help="list metrics, or summarise one metric per domain")
    s.add_argument("metric_name", nargs="?", metavar="METRIC")
    s.add_argument("--keep", metavar="'OP VALUE'", help="also count what a rule keeps per domain, e.g. '< 1'")
    s.add_argument("--format", choices=["table", "json", "jsonl"], default="table")
    _add_filter_args(s)
    s.set_defaults(func=cmd_scores)

    s = sub.add_parser(
        "select",
        help="save a selection: SuperFiltering (default), SuperFiltering.D / facility "
        "location, k-center or cluster-balanced (see docs/selection.md)",
    )
    s.add_argument("name")
    s.add_argument(
        "--method",
        choices=["superfiltering", "superfiltering_d", "facility_location", "kcenter", "cluster_balanced"],
        default="superfiltering",
    )
    s.add_argument("--rate", type=float, default=0.1, help="superfiltering: share kept per group")
    s.add_argument("--n", type=int, default=None, help="superfiltering: a fixed number per group instead of a rate")
    s.add_argument("--per", choices=["all", "pool", "domain"], default="domain", help="superfiltering: groups")
    s.add_argument("--threshold", type=float, default=1.0, help="keep IFD < threshold (superfiltering[_d], --ifd-top)")
    s.add_argument("--model", default=None, help="only IFD values of this scorer model")
    s.add_argument("--k", type=int, default=None, help="facility_location / superfiltering_d / kcenter: how many")
    s.add_argument(
        "--ifd-top", type=float, default=None, help="first keep the top share by IFD (superfiltering_d default 0.2)"
    )
    s.add_argument(
        "--metric",
        choices=["euclidean_exp", "cosine"],
        default="euclidean_exp",
        help="facility location similarity (euclidean_exp: exp(-||xi-xj||/dim), as submodlib)",
    )
    s.add_argument("--max-n", type=int, default=20_000, help="facility location: most candidates (dense n x n)")
    s.add_argument("--embed-model", default=None, help="embedding model name (default: all-MiniLM-L6-v2)")
    s.add_argument(
        "--embed-text",
        choices=["instruction", "instruction_response", "conversation"],
        default="instruction_response",
        help="which embeddings",
    )
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--clustering", help="cluster_balanced: a saved clustering")
    s.add_argument("--per-cluster", type=int, default=None, help="cluster_balanced: quota per cluster")
    s.add_argument("--total", type=int, default=None, help="cluster_balanced: total shared evenly over clusters")
    s.add_argument("--include-noise", action="store_true", help="cluster_balanced: noise (-1) as a cluster")
    s.add_argument("--order-by", default="random", help="cluster_balanced: random or score:METRIC (descending)")
    s.add_argument("--replace", action="store_true", help="replace a selection of the same name")
    _add_filter_args(s)
    s.set_defaults(func=cmd_select)

    s = sub.add_parser("dedup", help="report duplicate groups (exact by default), --apply to exclude all but one")
    g = s.add_mutually_exclusive_group()
    g.add_argument("--semantic", action="store_true", help="cosine of stored embeddings >= --threshold")
    g.add_argument(
        "--minhash",
        type=float,
        default=None,
        metavar="JACCARD",
        help="text near-duplicates: MinHash LSH at this Jaccard threshold, e.g. 0.8",
    )
    s.add_argument(
        "--by",
        choices=["hash", "text"],
        default="hash",
        help="exact: content hash, or normalised instruction+response text",
    )
    s.add_argument("--threshold", type=float, default=0.95, help="--semantic: cosine threshold")
    s.add_argument("--num-perm", type=int, default=128, help="--minhash: permutations")
    s.add_argument("--embed-model", default=None, help="--semantic: embedding model name")
    s.add_argument(
        "--embed-text",
        choices=["instruction", "instruction_response", "conversation"],
        default="instruction_response",
        help="--semantic: which embeddings",
    )
    s.add_argument("--keep", default="longest", help="keeper per group: longest (response) or score:METRIC")
    s.add_argument("--apply", action="store_true", help="exclude all but the keeper of each group (reversible)")
    s.add_argument("--format", choices=["table", "json", "jsonl"], default="table")
    _add_filter_args(s)
    s.set_defaults(func=cmd_dedup)

    s = sub.add_parser("embed", help="embed samples with a sentence-transformers model (cached, incremental)")
    s.add_argument(
        "--model",
        default=None,
        help="a sentence-transformers folder or cached hub id (default: offline all-MiniLM-L6-v2)",
    )
    s.add_argument(
        "--text",
        choices=["instruction", "instruction_response", "conversation"],
        default="instruction_response",
        help="which text of each sample is embedded",
    )
    s.add_argument("--pool", action="append", help="pool name or id (repeatable; default: all pools)")
    s.add_argument("--batch-size", type=int, default=64)
    s.add_argument("--chunk", type=int, default=2048, help="samples per committed Parquet part file")
    s.set_defaults(func=cmd_embed)

    s = sub.add_parser("cluster", help="cluster stored embeddings (PCA -> HDBSCAN) and save the result as NAME")
    s.add_argument("name")
    s.add_argument("--model", default=None, help="embedding model name (default: all-MiniLM-L6-v2)")
    s.add_argument(
        "--text", choices=["instruction", "instruction_response", "conversation"], default="instruction_response"
    )
    s.add_argument("--pool", action="append", help="pool name or id (repeatable; default: all pools)")
    s.add_argument("--pca-dims", type=int, default=32)
    s.add_argument("--min-cluster-size", type=int, default=None, help="default: 1%% of the samples, 5..200")
    s.add_argument(
        "--min-samples",
        type=int,
        default=None,
        help="HDBSCAN min_samples of the fit (default: 10, at most the fit's min-cluster-size)",
    )
    s.add_argument(
        "--fit-sample",
        type=int,
        default=30_000,
        help="fit HDBSCAN on at most this many samples (seeded), place the rest with "
        "approximate_predict; 0 = fit every sample (default: 30000)",
    )
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--replace", action="store_true", help="replace a clustering of the same name")
    s.set_defaults(func=cmd_cluster)

    s = sub.add_parser("clusters", help="list clusterings, or summarise one (keywords, sizes, diversity)")
    s.add_argument("name", nargs="?", metavar="NAME")
    s.add_argument(
        "--assign-new", action="store_true", help="first place samples embedded since the clustering into its clusters"
    )
    s.add_argument("--format", choices=["table", "json", "jsonl"], default="table")
    s.set_defaults(func=cmd_clusters)

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

    # Later areas register their own subcommands (each module: `register(sub)`, no heavy imports).
    import importlib

    for mod in CLI_EXTENSIONS:
        importlib.import_module(mod).register(sub)
    return p


# Modules that add subcommands: mixtures (mix), training runs (train, runs), evaluation (eval, conflict,
# compare), interpolation (interpolate).
CLI_EXTENSIONS = ("workbench.cli_mix", "workbench.cli_train", "workbench.cli_eval", "workbench.cli_interp")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `workbench` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", cmd_open)
    try:
        return func(args)
    except WorkbenchError as e:  # every engine error, and the CLI's own: message, exit code, hint
        print(f"workbench: {e}", file=sys.stderr)
        if e.hint:
            print(f"workbench: hint: {e.hint}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("workbench: cancelled", file=sys.stderr)
        return EXIT_CANCELLED
    except (FileNotFoundError, IsADirectoryError, PermissionError) as e:
        print(f"workbench: {e}", file=sys.stderr)
        return EXIT_INPUT


if __name__ == "__main__":
    sys.exit(main())
