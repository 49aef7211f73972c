"""Import files into pools: read, detect the format, validate, normalise, stage, dedupe and store.

Pipeline (see docs/formats.md): records are streamed from the file, normalised in Python into column
lists and appended to a TEMP staging table in ~50k-row pyarrow chunks. Flat formats (alpaca, dolly,
prompt/completion, prompt-only, column mappings) in JSON Lines files first try a DuckDB fast path
(`read_ndjson_objects` + type checks in SQL); any bad row sends the file back to the Python path, which
reports every problem by file, line, record and field. Messages JSON, character counts and dedup are
computed in SQL, content hashes in SQL (flat rows) or Python (the rest) over the same string
serialisation, token estimates with polars (per chunk, or through a SQL function on the fast path). The store
itself is written in one INSERT in one transaction at the end, so a failed or cancelled import leaves it
untouched. While imports run DuckDB may hold at most `pipeline.IMPORT_MEMORY_LIMIT` and spills the rest to disk
(staged rows, the INSERT's uncommitted rows): peak memory no longer grows with the file.

Modules:
- `readers`: files and folders, record iteration with file/line positions, `ImportFailed`;
- `detection`: `sniff` and the per-file format context;
- `staging`: validation and normalisation into the staging table, issues and quarantine;
- `fastpath`: the DuckDB fast path for flat JSON Lines files;
- `write`: content hashes, dedup and the one INSERT into the store;
- `pipeline`: `import_file` (staging then writing, one transaction);
- `dataset_info`: LLaMA-Factory dataset_info.json entries, entry by entry with a report.

Tunables live in the module that reads them (`fastpath.FAST_PATH`, `fastpath.FAST_PATH_MIN_BYTES`,
`staging.CHUNK_ROWS`, `staging.MAX_ISSUES`, `detection.SNIFF_HEAD_BYTES`, `readers.SNIFF_RECORDS`,
`pipeline.IMPORT_MEMORY_LIMIT`).
"""

from engine.data.formats import DOMAINS, FORMATS, Normalized, RecordIssue
from engine.data.ingest.dataset_info import (
    DatasetInfoReport,
    SkippedEntry,
    dataset_info_job,
    import_dataset_info,
    read_dataset_info,
)
from engine.data.ingest.detection import Detection, sniff
from engine.data.ingest.pipeline import import_file
from engine.data.ingest.readers import SUFFIXES, ImportFailed, _FileProblem, list_import_files
from engine.data.ingest.staging import TOKEN_PATTERN, token_estimate
from engine.data.ingest.write import ImportResult

# internal control flow, collected into ImportFailed; reported under the package's path
_FileProblem.__module__ = __name__

__all__ = [
    "DOMAINS",
    "DatasetInfoReport",
    "SkippedEntry",
    "FORMATS",
    "Detection",
    "ImportFailed",
    "ImportResult",
    "Normalized",
    "RecordIssue",
    "import_dataset_info",
    "import_file",
    "sniff",
    "list_import_files",
    "TOKEN_PATTERN",
    "SUFFIXES",
    "dataset_info_job",
    "read_dataset_info",
    "token_estimate",
]
