"""CLI subcommands for training runs: `workbench train`, `workbench runs` (the headless twin of the Runs screen).

    workbench train MIXTURE[@VERSION] --protocol sequential --order math,code --lora-r 16 --max-steps 200
    workbench train MIXTURE --queue            # only enqueue; the app (or `workbench runs tick`) starts it
    workbench runs [--format json]             # every run, finished ones included
    workbench runs show ID | cancel ID | resume ID | tick | wait ID

`train` runs in the foreground by default: it queues the run, starts it when the queue reaches it, prints
progress from the worker's metrics and returns when it ends; Ctrl-C cancels the run (a checkpoint is saved,
`workbench runs resume ID` continues it).
"""

from __future__ import annotations

import argparse
import json
import sys

from workbench.cli.kit import EXIT_USAGE, CliError, _open_store


def _fmt_eta(s) -> str:
    if s is None:
        return "-"
    s = int(s)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def _table(runs) -> str:
    from engine.training.runs import summary

    head = f"{'id':>4}  {'status':<9}  {'kind':<10}  {'protocol':<11}  {'step':>11}  {'loss':>7}  {'eta':>7}  name"
    lines = [head]
    for r in runs:
        s = summary(r)
        step = f"{s['step'] or 0}/{s['total'] or '?'}" if s["kind"] != "base" else "-"
        loss = f"{s['loss']:.4f}" if isinstance(s["loss"], (int, float)) else "-"
        eta = _fmt_eta(s["eta_s"]) if r.status == "running" else "-"
        lines.append(
            f"{r.id:>4}  {r.status:<9}  {r.kind:<10}  {r.protocol or '-':<11}  {step:>11}  {loss:>7}  "
            f"{eta:>7}  {r.name}"
        )
    return "\n".join(lines)


def lora_train_settings(args) -> tuple[dict, dict]:
    """(lora, train) settings from the LoRA and training options a command defines (`workbench train`, `workbench
    study`): the options it has and was given, then each --set KEY=VALUE (a JSON value, else text)."""

    def given(names):
        return {k: v for k, dest in names if (v := getattr(args, dest, None)) is not None}

    lora = given(
        (("r", "lora_r"), ("alpha", "lora_alpha"), ("dropout", "lora_dropout"), ("target_modules", "lora_targets"))
    )
    train = given(
        (
            ("epochs", "epochs"),
            ("max_steps", "max_steps"),
            ("lr", "lr"),
            ("batch_size", "batch_size"),
            ("batch_tokens", "batch_tokens"),
            ("grad_accum", "grad_accum"),
            ("max_len", "max_len"),
            ("packing", "packing"),
            ("seed", "seed"),
            ("device", "device"),
            ("eval_every", "eval_every"),
            ("save_every", "save_every"),
            ("grad_conflict_every", "grad_conflict_every"),
            ("bf16", "bf16"),
        )
    )
    if getattr(args, "gradient_checkpointing", False):
        train["gradient_checkpointing"] = True
    for kv in getattr(args, "set", None) or []:
        k, sep, v = kv.partition("=")
        if not sep:
            raise CliError(f"--set {kv!r}: expected KEY=VALUE (a TrainSettings field)", EXIT_USAGE)
        try:
            train[k.strip()] = json.loads(v)
        except json.JSONDecodeError:
            train[k.strip()] = v
    return lora, train


def _follow(store, run_id: int, quiet: bool) -> int:
    """Tick the queue until the run ends, printing progress; Ctrl-C cancels it. Returns an exit code."""
    from engine.training.runs import cancel_run, wait_run

    tty = sys.stderr.isatty()
    last = [0.0, None]  # time and step of the last progress line (non-terminal output)

    def show(run, events):
        import time

        for e in events:
            if not quiet:
                print(f"\r{e}\x1b[K" if tty else e, file=sys.stderr)
        p = run.progress
        if quiet or run.status != "running" or not p.get("total"):
            return
        line = (
            f"run {run.id}: step {p.get('step', 0)}/{p['total']} loss {p.get('loss', float('nan')):.4f} "
            f"{p.get('tokens_per_s', 0):,.0f} tok/s ETA {_fmt_eta(p.get('eta_s'))}"
        )
        if tty:
            sys.stderr.write(f"\r{line}\x1b[K")
            sys.stderr.flush()
        elif time.monotonic() - last[0] > 5 and p.get("step") != last[1]:
            last[0], last[1] = time.monotonic(), p.get("step")
            print(line, file=sys.stderr)

    try:
        run = wait_run(store, run_id, poll=1.0, on_tick=show)
    except KeyboardInterrupt:
        print(
            f"\ncancelling run {run_id} (a checkpoint is saved; `workbench runs resume {run_id}` continues)",
            file=sys.stderr,
        )
        cancel_run(store, run_id)
        run = wait_run(store, run_id, poll=0.5)
    if tty and not quiet:
        sys.stderr.write("\n")
    print(f"run {run.id} {run.status}: {run.folder}")
    if run.error:
        print(run.error, file=sys.stderr)
    return {"done": 0, "cancelled": 130}.get(run.status, 1)


def cmd_train(args) -> int:
    from engine.training.runs import create_run, get_run

    lora, train = lora_train_settings(args)
    with _open_store(args) as store:
        run = create_run(
            store,
            args.mixture,
            base_model=args.base_model,
            protocol=args.protocol,
            order=args.order,
            lora=lora,
            train=train,
            name=args.name,
            reuse=args.reuse,
        )
        if args.format == "json" and args.queue:
            print(json.dumps(run.to_dict(), default=str))
            return 0
        print(f"run {run.id} queued: {run.name} ({run.folder})", file=sys.stderr)
        if args.queue:
            print(run.id)
            return 0
        code = _follow(store, run.id, args.quiet)
        if args.format == "json":
            print(json.dumps(get_run(store, run.id).to_dict(), default=str))
        return code


def cmd_runs(args) -> int:
    from engine.training import runs as R

    action = args.runs_cmd or "list"
    with _open_store(args) as store:
        if action == "list":
            rs = R.list_runs(store)
            if args.format == "json":
                print(json.dumps([R.summary(r) for r in rs], default=str))
            else:
                print(_table(rs) if rs else "no runs yet (workbench train MIXTURE)")
            return 0
        if action == "tick":
            for e in R.tick(store):
                print(e)
            return 0
        if action == "show":
            run = R.get_run(store, args.id)
            if args.format == "json":
                d = run.to_dict()
                d["grad_conflict"] = {f"{a}|{b}": v for (a, b), v in R.grad_conflict(store, run.id).items()}
                d["last_eval"] = {}
                for step, name, value in R.run_metrics(store, run.id, ["eval_loss/"]):
                    d["last_eval"][name] = {"step": step, "value": value}
                print(json.dumps(d, default=str))
                return 0
            print(_table([run]))
            print(f"folder: {run.folder}\nbase model: {run.base_model}\nmixture: {run.config.get('mixture')}")
            tr = run.config.get("train", {})
            lo = run.config.get("lora", {})
            print(
                f"lora: r={lo.get('r')} alpha={lo.get('alpha')} dropout={lo.get('dropout')} "
                f"targets={lo.get('target_modules')}"
            )
            print("train: " + ", ".join(f"{k}={v}" for k, v in tr.items()))
            evals: dict[str, tuple[int, float]] = {}
            for step, name, value in R.run_metrics(store, run.id, ["eval_loss/"]):
                evals[name] = (step, value)
            for name, (step, value) in sorted(evals.items()):
                print(f"{name}: {value:.4f} (step {step})")
            for (a, b), v in R.grad_conflict(store, run.id).items():
                print(
                    f"gradient conflict {a}|{b}: {v['share']:.0%} of {v['n']} sampled steps negative "
                    f"(mean cosine {v['mean']:+.3f})"
                )
            if run.error:
                print(f"error: {run.error}")
            return 0
        if action == "cancel":
            run = R.cancel_run(store, args.id)
            print(
                f"run {run.id}: "
                + (
                    "cancelled"
                    if run.status == "cancelled"
                    else "cancel requested (the worker stops after its current step)"
                )
            )
            return 0
        if action == "resume":
            run = R.resume_run(store, args.id)
            print(f"run {run.id} queued again (resumes from its last checkpoint)", file=sys.stderr)
            if args.wait:
                return _follow(store, run.id, False)
            return 0
        if action == "wait":
            return _follow(store, args.id, False)
    return 2


def register(sub) -> None:
    """Add this area's subcommands to the `workbench` parser (`sub` = its subparsers)."""
    s = sub.add_parser(
        "train",
        help="train a LoRA adapter on a mixture (foreground; --queue only enqueues)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train a LoRA adapter on a saved mixture version in a child process.",
    )
    s.add_argument("mixture", metavar="MIXTURE[@VERSION]", help="mixture name (latest version), name@version or id")
    s.add_argument("--protocol", choices=["multi_task", "sequential", "multi_stage"], default="multi_task")
    s.add_argument("--order", help="sequential: domains in training order, comma separated (e.g. math,code)")
    s.add_argument(
        "--base-model",
        default=None,
        help="model folder, .gguf file or cached hub id (default: SmolLM2-135M-Instruct, offline)",
    )
    s.add_argument("--name", default=None)
    g = s.add_argument_group("LoRA")
    g.add_argument("--lora-r", type=int)
    g.add_argument("--lora-alpha", type=int)
    g.add_argument("--lora-dropout", type=float)
    g.add_argument("--lora-targets", help="comma separated module names, or all-linear (default q_proj,v_proj)")
    g = s.add_argument_group("training")
    g.add_argument("--epochs", type=float)
    g.add_argument("--max-steps", type=int)
    g.add_argument("--lr", type=float)
    g.add_argument("--batch-size", type=int, help="rows (packed) or examples per micro-batch")
    g.add_argument("--batch-tokens", type=int, help="token budget per micro-batch instead of --batch-size")
    g.add_argument("--grad-accum", type=int)
    g.add_argument("--max-len", type=int)
    g.add_argument("--packing", choices=["packed", "grouped", "padded"])
    g.add_argument("--seed", type=int)
    g.add_argument("--device", help="auto (default), cpu, cuda, cuda:1")
    g.add_argument(
        "--bf16",
        choices=["auto", "true", "false"],
        help="auto: bf16 on GPUs that support it, fp32 on CPUs; true on a CPU: bf16 autocast (fast only with bf16 "
        "units: AMX / AVX-512 BF16, see docs/runs.md)",
    )
    g.add_argument("--gradient-checkpointing", action="store_true")
    g.add_argument("--eval-every", type=int)
    g.add_argument("--save-every", type=int)
    g.add_argument("--grad-conflict-every", type=int, help="log per-domain gradient cosines every N steps (0: off)")
    g.add_argument("--set", action="append", metavar="KEY=VALUE", help="any other TrainSettings field (repeatable)")
    s.add_argument("--queue", action="store_true", help="only enqueue (prints the run id)")
    s.add_argument("--reuse", action="store_true", help="reuse an identical run that is not failed/cancelled")
    s.add_argument("--format", choices=["table", "json"], default="table")
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("runs", help="training runs: list, show, cancel, resume, tick the queue")
    s.add_argument("--format", choices=["table", "json"], default="table")
    rs = s.add_subparsers(dest="runs_cmd", metavar="ACTION")
    x = rs.add_parser("list", help="every run with its status and progress (the default)")
    x.add_argument("--format", choices=["table", "json"], default=argparse.SUPPRESS)
    x = rs.add_parser("show", help="one run: settings, last eval losses, gradient conflict, error")
    x.add_argument("id", type=int)
    x.add_argument("--format", choices=["table", "json"], default=argparse.SUPPRESS)
    x = rs.add_parser("cancel", help="stop a queued or running run (the worker stops after its current step)")
    x.add_argument("id", type=int)
    x = rs.add_parser("resume", help="queue a stopped run again; it resumes from its last checkpoint")
    x.add_argument("id", type=int)
    x.add_argument("--wait", action="store_true", help="stay in the foreground until it ends")
    rs.add_parser("tick", help="one turn of the queue (ingest metrics, start the next queued run)")
    x = rs.add_parser("wait", help="follow a run until it ends (starting it when its turn comes)")
    x.add_argument("id", type=int)
    s.set_defaults(func=cmd_runs)
