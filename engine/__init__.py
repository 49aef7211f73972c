"""Headless core of Workbench: store, ingest, filters, queries, export.

Never imports textual. Heavy ML libraries are imported lazily inside the functions that need them.
"""
