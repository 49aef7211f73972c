"""data: samples in and out.

- `formats`: format detection and record conversion (Alpaca, ShareGPT, messages, GSM8K, MBPP, BFCL, ...).
- `ingest`: importing files into pools (all-or-nothing or quarantine).
- `pools`: pools, domains, tags, rules.
- `filters`: the filter language (whitelisted, parameterised SQL).
- `query`: browse queries (ordered id lists, pages, bulk actions).
- `export`: JSONL/Parquet export in messages, Alpaca or ShareGPT style with LLaMA-Factory dataset_info.

Imports only from core.
"""
