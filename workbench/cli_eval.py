"""CLI subcommands for evaluation: `workbench eval`, `conflict`, `compare`."""

from __future__ import annotations


def register(sub) -> None:
    """Add this area's subcommands to the `workbench` parser (`sub` = its subparsers)."""
