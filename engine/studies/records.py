"""Studies in the store (schema v6): the `studies` row of each study and a `study_cells` row per launched cell
(its mixture version, its run, the evaluation rows read back for it)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine.core.names import check_name, shown
from engine.studies.spec import Study, StudyError

if TYPE_CHECKING:
    from engine.core.store import Store


@dataclass
class CellRow:
    """What was made for one launched cell."""

    key: str
    arm: str
    params: dict
    mixture_id: int | None
    run_id: int | None
    evaluation_ids: list[int]


_COLS = "id, name, template, base, axes, settings, eval, created_at, note"


def _study(r) -> Study:
    return Study(r[0], r[1], r[2], *(json.loads(x) for x in r[3:7]), r[7], r[8])


def check_study_name(name) -> str:
    return check_name(name, "study name", error=StudyError)


def list_studies(store: Store) -> list[Study]:
    """Every study, oldest first."""
    return [_study(r) for r in store.fetchall(f"SELECT {_COLS} FROM studies ORDER BY id")]


def get_study(store: Store, name: str) -> Study:
    """The study named `name` (StudyError naming the existing ones when there is none)."""
    rows = store.fetchall(f"SELECT {_COLS} FROM studies WHERE name = ?", [str(name)])
    if not rows:
        names = [s.name for s in list_studies(store)]
        raise StudyError(f"no study {shown(str(name))}; studies: {', '.join(names) or 'none yet'}")
    return _study(rows[0])


def insert_study(store: Store, study: Study) -> Study:
    """Save a new study (StudyError when the name is taken)."""
    with store.transaction() as con:
        if con.execute("SELECT 1 FROM studies WHERE name = ?", [study.name]).fetchall():
            raise StudyError(f"a study named {shown(study.name)} exists; choose another name (or extend it)")
        sid = store.next_id("studies", con)
        con.execute(
            "INSERT INTO studies (id, name, template, base, axes, settings, eval, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                sid,
                study.name,
                study.template,
                json.dumps(study.base),
                json.dumps(study.axes),
                json.dumps(study.settings),
                json.dumps(study.eval),
                study.note,
            ],
        )
    return get_study(store, study.name)


def update_study(store: Store, study: Study) -> Study:
    """Write back a study's axes, settings and eval (extend)."""
    with store.transaction() as con:
        con.execute(
            "UPDATE studies SET axes = ?, settings = ?, eval = ? WHERE id = ?",
            [json.dumps(study.axes), json.dumps(study.settings), json.dumps(study.eval), study.id],
        )
    return get_study(store, study.name)


def cell_rows(store: Store, study_id: int) -> dict[str, CellRow]:
    """The launched cells of a study by key."""
    rows = store.fetchall(
        "SELECT key, arm, params, mixture_id, run_id, evaluation_ids FROM study_cells WHERE study_id = ? "
        "ORDER BY launched_at, key",
        [study_id],
    )
    return {r[0]: CellRow(r[0], r[1], json.loads(r[2]), r[3], r[4], json.loads(r[5]) if r[5] else []) for r in rows}


def put_cell(store: Store, study_id: int, key: str, arm: str, params: dict, mixture_id, run_id) -> None:
    """Record (or replace) what was made for a cell; its evaluation ids are kept when its run is unchanged."""
    with store.transaction() as con:
        old = con.execute(
            "SELECT run_id, evaluation_ids FROM study_cells WHERE study_id = ? AND key = ?", [study_id, key]
        ).fetchall()
        evals = old[0][1] if old and old[0][0] == run_id else None
        con.execute("DELETE FROM study_cells WHERE study_id = ? AND key = ?", [study_id, key])
        con.execute(
            "INSERT INTO study_cells (study_id, key, arm, params, mixture_id, run_id, evaluation_ids) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [study_id, key, arm, json.dumps(params), mixture_id, run_id, evals],
        )


def set_cell_evaluations(store: Store, study_id: int, key: str, ids: list[int]) -> None:
    with store.transaction() as con:
        con.execute(
            "UPDATE study_cells SET evaluation_ids = ? WHERE study_id = ? AND key = ?",
            [json.dumps(sorted(int(i) for i in ids)), study_id, key],
        )


def mixture_with_hash(store: Store, content_hash: str) -> int | None:
    """The id of a saved mixture version with this content hash (the oldest), if any."""
    rows = store.fetchall("SELECT min(id) FROM mixtures WHERE content_hash = ?", [content_hash])
    return rows[0][0] if rows and rows[0][0] is not None else None


def run_statuses(store: Store, run_ids: list[int]) -> dict[int, tuple[str, str | None]]:
    """(status, error) of the given runs."""
    if not run_ids:
        return {}
    rows = store.fetchall(
        "SELECT id, status, error FROM runs WHERE id IN (SELECT unnest(?::INTEGER[]))", [list(run_ids)]
    )
    return {int(r[0]): (r[1], r[2]) for r in rows}
