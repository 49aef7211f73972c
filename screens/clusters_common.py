"""Cluster names in the filter language and cluster colours, shared by the Clusters screen and its dialogs."""

from __future__ import annotations

import re

# Plotext colours for clusters 0, 1, 2, ... (cycled); noise is grey.
COLORS = ["blue", "red", "green", "orange", "magenta", "cyan", "yellow", "blue+", "red+", "green+", "magenta+", "cyan+"]

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _name_ref(name: str) -> str:
    """A clustering name as the filter language reads it: bare when an identifier, else double-quoted."""
    if _IDENT.fullmatch(name):
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def cluster_expression(name: str, cluster: int) -> str:
    """The Browse filter for one cluster of a clustering: `cluster.NAME = k` (the name quoted when needed)."""
    return f"cluster.{_name_ref(name)} = {int(cluster)}"


def region_expression(name: str, x0: float, x1: float, y0: float, y1: float, decimals: int = 3) -> str:
    """The Browse filter for a rectangle of a clustering's map:
    `map.NAME.x BETWEEN x0 AND x1 AND map.NAME.y BETWEEN y0 AND y1` (bounds written with `decimals`)."""
    ref = _name_ref(name)
    f = f"{{:.{int(decimals)}f}}"
    return (
        f"map.{ref}.x BETWEEN {f.format(x0)} AND {f.format(x1)} AND "
        f"map.{ref}.y BETWEEN {f.format(y0)} AND {f.format(y1)}"
    )


# The same colours in rich (table) names.
_RICH = {
    "orange": "dark_orange",
    "blue+": "bright_blue",
    "red+": "bright_red",
    "green+": "bright_green",
    "magenta+": "bright_magenta",
    "cyan+": "bright_cyan",
    "gray": "grey50",
}


def cluster_color(k: int) -> str:
    """The plotext colour of cluster k (grey for noise)."""
    return "gray" if k < 0 else COLORS[k % len(COLORS)]


def rich_cluster_color(k: int) -> str:
    """The rich colour of cluster k (the same as on the map)."""
    c = cluster_color(k)
    return _RICH.get(c, c)
