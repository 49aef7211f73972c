"""Textual screens and widgets. Thin: they call `engine`, never SQL or torch directly."""
