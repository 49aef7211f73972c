"""RAISE: `workbench raise train|deploy|compare|show` — a batch-selection policy learned with PPO on the per-step gain of
the target's validation NLL, and a run whose batches it picks (engine/raise_rl; docs/raise.md)."""

from __future__ import annotations

import json
import sys
import time

from workbench.cli.kit import EXIT_CANCELLED, EXIT_OK, CliError, _dump, _open_store, _progress, _sigint_cancels
from workbench.cli.scope_args import add_scope_args, say_scope, scope_from_args


def _folder(store, name: str):
    from engine.core.names import check_name
    from engine.core.paths import store_files

    check_name(name, "RAISE job name", error=CliError)
    return store_files(store) / "raise" / name


def _settings(args) -> tuple[dict, dict]:
    """(settings, ppo) from the options: each knob under its engine name (engine.raise_rl.settings.KNOBS)."""
    from engine.raise_rl.settings import KNOBS

    out: dict[str, dict] = {"settings": {}, "ppo": {}}
    for opt, group, name in KNOBS:
        out[group][name] = getattr(args, opt)
    out["settings"].update(device=args.device, metric=args.metric, gen_tokens=args.gen_tokens)
    return out["settings"], out["ppo"]


def cmd_train(args) -> int:
    from engine.raise_rl.env import as_dict, settings_for
    from engine.raise_rl.job import prepare, train_policy
    from engine.raise_rl.policy import PPOSettings, RaiseError

    quiet = args.quiet or args.format == "json"
    with _open_store(args) as store:
        folder = _folder(store, args.name)
        s, p = _settings(args)
        with _progress(f"raise {args.name}", args.quiet, RaiseError):
            s = as_dict(settings_for(s))  # the knobs not given: the defaults of the device (a CPU or a GPU trial)
            want = {"settings": s, "ppo": PPOSettings(**p).__dict__}
            spec = None
            if (folder / "spec.json").exists():
                spec = json.loads((folder / "spec.json").read_text())
            same = spec is not None and all(spec.get(k) == v for k, v in want.items())
            same = same and spec.get("target") == args.target and spec.get("base_model") == args.base_model
            if spec is not None and not same and not args.replace:
                raise CliError(
                    f"a RAISE job named {args.name!r} exists with other settings; --replace starts it afresh "
                    "(its policy is lost), or give another --name"
                )
            if spec is None or args.replace:
                if folder.exists():
                    import shutil

                    shutil.rmtree(folder)
                scope = scope_from_args(store, args)
                say_scope(store, scope, quiet)
                prepare(
                    store,
                    folder,
                    base_model=args.base_model,
                    target=args.target,
                    scope=scope,
                    embeddings=args.embed_model,
                    text_kind=args.text_kind,
                    clustering=args.clustering,
                    settings=s,
                    ppo=p,
                )
            elif not quiet:
                print(f"workbench: resuming RAISE job {args.name!r} in {folder}", file=sys.stderr)

        metric = s["metric"]  # a resumed job has these very settings (others are refused above)

        def said(row):
            if not quiet:
                print(
                    f"workbench: episode {row['episode']}: return {row['return']:+.4f} "
                    f"({_metric_name(metric)} {row['val0']:.4f} -> {row['val_final']:.4f}), "
                    f"value loss {row.get('value_loss', 0):.4f}",
                    file=sys.stderr,
                )

        with _progress(f"raise {args.name}", args.quiet, RaiseError), _sigint_cancels() as cancel:
            status = train_policy(folder, cancel=cancel, on_episode=said)
    if status["status"] == "cancelled":
        print(f"workbench: cancelled after {status['episode']} episodes; the same command resumes", file=sys.stderr)
        return EXIT_CANCELLED
    return _show(folder, args.format)


def cmd_deploy(args) -> int:
    from engine.raise_rl.job import deploy_run, plan
    from engine.raise_rl.policy import RaiseError

    with _open_store(args) as store:
        folder = _folder(store, args.name)
        if not (folder / "spec.json").exists():
            raise CliError(f"no RAISE job named {args.name!r}; `workbench raise train --name {args.name} ...` first")
        with _progress(f"raise deploy {args.name}", args.quiet, RaiseError):
            pl = plan(folder, random=args.random)
            name = args.run_name or (f"raise-{args.name}-random" if args.random else None)
            run = None if args.plan_only else deploy_run(store, folder, name=name, plan_obj=pl)
    out = {
        "plan": str(folder / ("plan-random.json" if args.random else "plan.json")),
        "baseline": pl.get("baseline"),
        "steps": len(pl["steps"]),
        "val0": pl["val0"],
        "val_final": pl["val_final"],
        "run": None if run is None else {"id": run.id, "name": run.name, "status": run.status, "folder": run.folder},
    }
    if args.format == "json":
        _dump(out | {"picks": pl["steps"]})
        return EXIT_OK
    metric = _metric_name(json.loads((folder / "spec.json").read_text())["settings"].get("metric"))
    print(
        f"plan of {out['steps']} steps in {out['plan']} (its rollout: {metric} {pl['val0']:.4f} -> {pl['val_final']:.4f})"
    )
    for st in pl["steps"]:
        print(f"step {st['step']}: samples {', '.join(map(str, st['samples']))} (clusters {st['clusters']})")
    if run is not None:
        print(f"run {run.id} {run.name!r} queued: it trains on these batches in this order")
    return EXIT_OK


def _summary(folder) -> dict:
    from engine.raise_rl.reading import summary

    return summary(folder)


def _metric_name(metric: str | None) -> str:
    return "accuracy" if metric == "accuracy" else "NLL"


def _show(folder, fmt: str) -> int:
    out = _summary(folder)
    if fmt == "json":
        _dump(out)
        return EXIT_OK
    st = out["status"]
    print(
        f"RAISE job {folder.name}: {st.get('status', '?')}, {st.get('episode', 0)}/{st.get('episodes', '?')} episodes; "
        f"target {out['spec']['target']}, base {out['spec']['base_model']}, {out['spec']['pool']} samples"
    )
    for e in out["episodes"]:
        attr = ", ".join(f"{k} {v:.0%}" for k, v in (e.get("attribution") or {}).items())
        print(
            f"episode {e['episode']}: return {e['return']:+.4f} "
            f"({_metric_name(out['spec']['settings'].get('metric'))} {e['val0']:.4f} -> {e['val_final']:.4f}), "
            f"value loss {e.get('value_loss') or 0:.4f}; score driven by {attr}"
        )
    for part, d in out["clusters_by_stage"].items():
        print(f"{part} steps pick clusters: {', '.join(f'{c} x{n}' for c, n in sorted(d.items()))}")
    if st.get("timings"):
        print("seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in st["timings"].items() if k != "steps"))
    return EXIT_OK


def cmd_show(args) -> int:
    with _open_store(args, read_only=True) as store:
        folder = _folder(store, args.name)
    if not (folder / "spec.json").exists():
        raise CliError(f"no RAISE job named {args.name!r}")
    return _show(folder, args.format)


def cmd_compare(args) -> int:
    from engine.raise_rl.compare import check_arms, comparison_lines, evaluate_comparison, queue_comparison
    from engine.raise_rl.policy import RaiseError
    from engine.training import runs as R

    quiet = args.quiet or args.format == "json"
    sets = [x.strip() for x in (args.sets or "").split(",") if x.strip()]
    with _open_store(args) as store:
        folder = _folder(store, args.name)
        if not (folder / "spec.json").exists():
            raise CliError(f"no RAISE job named {args.name!r}; `workbench raise train --name {args.name} ...` first")
        if not sets:
            sets = [json.loads((folder / "spec.json").read_text())["target"]]
        with _progress(f"raise compare {args.name}", args.quiet, RaiseError):
            arms = check_arms(args.arms)
            runs = queue_comparison(store, folder, arms=arms, metric=args.metric, model=args.model)
        if not quiet:
            for a, rid in runs.items():
                r = R.get_run(store, rid)
                print(f"workbench: {a}: run {rid} {r.name!r} ({r.status})", file=sys.stderr)
        if args.wait:
            try:
                while True:
                    for e in R.tick(store):
                        if not quiet:
                            print(f"workbench: {e}", file=sys.stderr)
                    if all(R.get_run(store, rid).status in R.FINISHED for rid in runs.values()):
                        break
                    time.sleep(1.0)
            except KeyboardInterrupt:
                print("\nworkbench: stopped waiting; the runs stay queued (the same command goes on)", file=sys.stderr)
                return EXIT_CANCELLED
        with _progress(f"raise compare {args.name}", args.quiet, RaiseError), _sigint_cancels() as cancel:
            rows = evaluate_comparison(store, folder, sets, max_items=args.max_items, device=args.device, cancel=cancel)
        status = {a: R.get_run(store, rid).status for a, rid in runs.items()}
    if args.format == "json":
        _dump({"runs": runs, "status": status, "sets": sets, "rows": rows})
        return EXIT_OK
    for line in comparison_lines(runs, rows, status):
        print(line)
    return EXIT_OK


def register(sub) -> None:
    from engine.raise_rl.settings import GPU_SCALE
    from engine.raise_rl.settings import RaiseSettings as RS

    r = sub.add_parser(
        "raise",
        help="RAISE: learn a batch-selection policy with PPO on the target's NLL gain, then deploy it as a run",
        description="RAISE (Reinforced Adaptive Instruction SElection; docs/raise.md).",
    )
    rs = r.add_subparsers(dest="raise_cmd", metavar="ACTION", required=True)
    t = rs.add_parser(
        "train",
        help="train the policy (resumes a stopped job of the same name and settings)",
        description="Episodes of short LoRA runs from the same start; each step the policy picks the batch from a "
        "candidate subsample; the reward is the drop of the gold-answer NLL on the target eval pool; PPO with GAE "
        "after each episode, a checkpoint after each episode.",
    )
    t.add_argument("--name", required=True, help="name of the RAISE job (its folder under the store's files)")
    t.add_argument("--target", required=True, help="the eval pool whose gold answers give the reward")
    t.add_argument("--base-model", dest="base_model", default="smollm2", help="base model (name, folder, hub id)")
    t.add_argument("--embeddings", dest="embed_model", default=None, help="stored embeddings for the semantic state")
    t.add_argument(
        "--text-kind",
        dest="text_kind",
        choices=["instruction", "instruction_response", "conversation"],
        default="instruction_response",
        help="text kind of those embeddings",
    )
    t.add_argument("--clustering", default=None, help="stored clustering for the diversity quota (default: none)")
    add_scope_args(t)
    g = t.add_argument_group("episodes (defaults: a small trial on a CPU; the second figure on a CUDA GPU)")
    for flag, dest, typ, text in (
        ("--steps", "steps", int, "T: training steps per episode"),
        ("--batch", "batch", int, "samples per step"),
        ("--candidates", "candidates", int, "candidate subsample scored per step"),
        ("--episodes", "episodes", int, "policy-training episodes"),
        ("--max-len", "max_len", int, "tokens per sample"),
        ("--val-items", "val_items", int, "target items in the reward"),
    ):
        on_gpu = f"; {GPU_SCALE[dest]} on a GPU" if dest in GPU_SCALE else ""
        g.add_argument(flag, dest=dest, type=typ, default=None, help=f"{text} (default {getattr(RS, dest)}{on_gpu})")
    g.add_argument("--lr", type=float, default=None, help=f"LoRA learning rate (default {RS.lr})")
    g.add_argument("--seed", type=int, default=None, help=f"(default {RS.seed})")
    g.add_argument("--device", default=None, help="cpu (default), auto (cuda when present), cuda, mps")
    g.add_argument(
        "--metric",
        choices=["nll", "accuracy"],
        default=None,
        help="the reward's metric on the target subset: nll of the gold answers (default), or accuracy of greedy "
        "answers checked by the items' scorers (slower: generation at every step; noisier on few items)",
    )
    g.add_argument(
        "--gen-tokens",
        dest="gen_tokens",
        type=int,
        default=None,
        help=f"accuracy: new tokens per item ({RS.gen_tokens})",
    )
    q = t.add_argument_group("PPO and GAE")
    q.add_argument("--ppo-epochs", dest="ppo_epochs", type=int, default=4)
    q.add_argument("--clip", type=float, default=0.2)
    q.add_argument("--gamma", type=float, default=1.0)
    q.add_argument("--gae-lambda", dest="gae_lambda", type=float, default=0.95)
    q.add_argument("--entropy", type=float, default=0.01, help="entropy bonus")
    q.add_argument("--policy-lr", dest="policy_lr", type=float, default=3e-3)
    q.add_argument("--replay", type=int, default=2, help="episodes kept in the replay buffer")
    t.add_argument("--replace", action="store_true", help="start a job of the same name afresh")
    t.add_argument("--format", choices=["table", "json"], default="table")
    t.set_defaults(func=cmd_train)
    d = rs.add_parser(
        "deploy",
        help="the trained policy picks every step's batch of a fresh run; queue that run",
        description="Roll the trained policy out once (greedy under the quota) and queue a normal run that trains "
        "on exactly those batches in that order (its data.jsonl keeps the step of every sample).",
    )
    d.add_argument("--name", required=True, help="the RAISE job")
    d.add_argument("--run-name", dest="run_name", default=None, help="name of the queued run")
    d.add_argument("--plan-only", dest="plan_only", action="store_true", help="write plan.json, queue no run")
    d.add_argument(
        "--random",
        action="store_true",
        help="the baseline at equal steps: uniform batches under the same cluster quota (plan-random.json)",
    )
    d.add_argument("--format", choices=["table", "json"], default="table")
    d.set_defaults(func=cmd_deploy)
    c = rs.add_parser(
        "compare",
        help="RAISE vs random batches, static IFD top-k, full data and the base model at equal steps, per domain",
        description="Queue one run per arm at the job's T steps with the same recipe (raise: the deploy plan; "
        "random: uniform under the same cluster quota; ifd: the T x batch samples of highest stored IFD; full: every "
        "sample in T batches; base: the untrained model), then evaluate the finished ones per domain on the target "
        "(or --sets) and print the table. Again: reuses the runs; --wait runs the queue here first.",
    )
    c.add_argument("--name", required=True, help="the RAISE job (its policy trained)")
    c.add_argument("--sets", default=None, help="eval pools, comma separated (default: the job's target)")
    c.add_argument("--arms", default=None, help="comma separated, of raise,random,ifd,full,base (default: all)")
    c.add_argument("--ifd-metric", dest="metric", default="ifd", help="the stored score of the ifd arm")
    c.add_argument("--ifd-model", dest="model", default=None, help="its scorer model (default: the latest score)")
    c.add_argument("--wait", action="store_true", help="run the queue here until the arms finish, then evaluate")
    c.add_argument("--max-items", dest="max_items", type=int, default=None, help="eval items per set")
    c.add_argument("--device", default="auto", help="evaluation device")
    c.add_argument("--format", choices=["table", "json"], default="table")
    c.set_defaults(func=cmd_compare)
    s = rs.add_parser("show", help="episodes, rewards, value loss, clusters picked, what drives the score")
    s.add_argument("--name", required=True, help="the RAISE job")
    s.add_argument("--format", choices=["table", "json"], default="table")
    s.set_defaults(func=cmd_show)
