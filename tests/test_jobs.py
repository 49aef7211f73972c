"""The core job layer's JSON-lines files keep odd Unicode whole (real datasets bring U+2028 and friends)."""

from __future__ import annotations

from engine.core.jobs import JobFolder, read_jsonl, write_jsonl

ODD = "a\u2028b\u2029c\x85d\x1ce\x1df\x1eg\x0bh\x0ci\rj"  # every character str.splitlines() breaks on


def test_jsonl_round_trip_keeps_line_separators_inside_values(tmp_path):
    recs = [{"id": 1, "text": ODD}, {"id": 2, "text": "plain", "more": [ODD, {"k": ODD}]}]
    path = tmp_path / "x.jsonl"
    assert write_jsonl(path, recs) == 2
    assert "\u2028" in path.read_text(encoding="utf-8")  # written raw (ensure_ascii=False), not escaped
    assert read_jsonl(path) == recs


def test_job_chunks_keep_odd_unicode(tmp_path):
    job = JobFolder(tmp_path / "job").create()
    job.write_input([{"sample_id": 7, "prompt": ODD}])
    assert job.read_input() == [{"sample_id": 7, "prompt": ODD}]
    job.write_chunk([{"sample_id": 7, "output": ODD}])
    assert job.done_keys("sample_id") == {7}
    [(_, rows)] = list(job.new_chunks())
    assert rows == [{"sample_id": 7, "output": ODD}]
