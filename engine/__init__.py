"""Headless core of Workbench, laid out as the curation loop (each package imports only from those below):

    core        store, jobs, models, errors
    data        formats, ingest, pools, filters, query, export
    geometry    embeddings, clusters, dedup
    quality     ifd, scoring, scores, heuristics, selection      synthesis   interpolation, mixup
    mixtures    recipes, resolution, versions, export
    training    trainer, runs (queue), worker
    evaluation  evaluate, scorers, tool_calls, sandbox, conflict

Never imports textual, workbench or screens. Heavy ML libraries are imported lazily inside the functions
that need them.
"""
