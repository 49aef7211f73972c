"""--on ray and its flags, for the commands whose heavy work can run on a Ray cluster (score, embed)."""

from __future__ import annotations

import argparse

from workbench.cli.kit import EXIT_USAGE, CliError


def add_ray_args(p: argparse.ArgumentParser) -> None:
    """--on local|ray, --ray-address, --ray-actors."""
    p.add_argument(
        "--on",
        choices=["local", "ray"],
        default="local",
        help="where the model runs: here (default) or on Ray (pip install -e '.[ray]'; docs/ray.md)",
    )
    p.add_argument(
        "--ray-address",
        default=None,
        metavar="ADDR",
        help="the Ray cluster (default: $RAY_ADDRESS, else a local Ray started for the job)",
    )
    p.add_argument(
        "--ray-actors", type=int, default=None, help="actors (models) in the pool (default: one per GPU, else per CPU)"
    )


def ray_setup(args):
    """The RaySetup of the flags (None for --on local); flags given without --on ray are a usage error."""
    if args.on != "ray":
        if args.ray_address or args.ray_actors:
            raise CliError("--ray-address and --ray-actors need --on ray", EXIT_USAGE)
        return None
    if args.ray_actors is not None and args.ray_actors < 1:
        raise CliError(f"--ray-actors {args.ray_actors}: expected at least 1", EXIT_USAGE)
    from engine.core.ray_jobs import RaySetup, import_ray

    import_ray()  # a clear error now when ray is missing
    return RaySetup(address=args.ray_address, actors=args.ray_actors)
