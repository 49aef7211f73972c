"""Workbench: a keyboard-first terminal workbench for instruction-data curation."""

__version__ = "0.1.0"
