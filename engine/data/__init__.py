"""data: samples in and out.

- `formats/`: format detection and record conversion, one module per family (instruction, chat, eval sets,
  function calling), each format registered where it is defined.
- `ingest/`: importing files into pools: readers, staging (validation, quarantine), fast path, write,
  dataset_info.
- `pools`: pools, roles (train/eval), domains, tags, rules. `sample`: the bundled sample data.
- `filters`: the filter language (`filter_tokens`, `filter_parser`, `filter_fields`, `filter_sql`):
  whitelisted, parameterised SQL.
- `query`: browse queries (ordered id lists, pages, bulk actions).
- `export`: JSONL/Parquet export in messages, Alpaca or ShareGPT style with LLaMA-Factory dataset_info.

Imports only from core.
"""
