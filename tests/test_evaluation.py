"""Eval sets, item detection, the eval worker job over a tiny model (real child process), rescoring, resume,
cancel and overlap warnings, all over a real DuckDB file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.core.jobs import Cancelled, CancelToken
from engine.data.ingest import import_file
from engine.evaluation import evaluate as ev
from tests.helpers import write_jsonl

ROOT = Path(__file__).resolve().parent.parent
EVAL = ROOT / "sample_data" / "eval"
SETS = [("math_eval", "math"), ("code_eval", "code"), ("tool_eval", "tool_use"), ("general_eval", "general")]


def load_sets(store, mark: bool = True):
    for name, dom in SETS:
        import_file(store, EVAL / f"{name}.jsonl", pool=name, domain=dom)
        if mark:
            ev.set_role(store, name, "eval")


def test_items_of_the_sample_eval_sets(store):
    load_sets(store)
    want = {
        "math_eval": ("gsm8k", 30),
        "code_eval": ("code", 25),
        "tool_eval": ("tool", 25),
        "general_eval": ("nll", 25),
    }
    for name, (scorer, n) in want.items():
        items, skipped = ev.pool_items(store, name)
        assert skipped == 0 and len(items) == n and {it.scorer for it in items} == {scorer}
    math = ev.pool_items(store, "math_eval", max_items=1)[0][0]
    assert math.messages[-1]["role"] == "user" and "####" in math.reference["answer"]
    code = ev.pool_items(store, "code_eval")[0][0]
    assert code.reference["tests"][0].startswith("assert is_isogram")
    tool = ev.pool_items(store, "tool_eval")[0][0]
    assert tool.reference["calls"][0]["name"] == "get_current_weather" and tool.tools
    assert [p["name"] for p in ev.eval_pools(store)] == [n for n, _ in SETS]


def test_detect_item_shapes(store, tmp_path):
    math = write_jsonl(
        tmp_path / "m.jsonl",
        [
            {
                "problem": "What is 1/2 + 1/4?",
                "level": "Level 1",
                "type": "Algebra",
                "solution": "It is $\\boxed{\\frac34}$.",
            }
        ],
    )
    import_file(store, math, pool="competition", domain="math")
    mcq = write_jsonl(
        tmp_path / "q.jsonl", [{"question": "2+2?", "A": "3", "B": "4", "C": "5", "D": "22", "answer": "B"}]
    )
    import_file(store, mcq, pool="mmlu", domain="general")
    import_file(store, ROOT / "sample_data" / "pools" / "tool_use.json", pool="tools", domain="tool_use")
    it = ev.pool_items(store, "competition")[0][0]
    assert it.scorer == "math" and it.reference["answer"] == "\\frac34"
    it = ev.pool_items(store, "mmlu")[0][0]
    assert it.scorer == "choice" and it.reference == {"choices": ["3", "4", "5", "22"], "answer_index": 1}
    tools, _ = ev.pool_items(store, "tools")
    with_calls = [t for t in tools if t.scorer == "tool"]
    assert with_calls and all(t.messages[-1]["role"] == "user" for t in with_calls)
    assert all(isinstance(c["arguments"], dict) for t in with_calls for c in t.reference["calls"])
    # BFCL: question turns plus ground truth in meta; a bare prompt has nothing to check
    bfcl = ev.detect_item(
        1,
        "tool_use",
        [{"role": "user", "content": "area of a triangle base 10 height 5"}],
        {"ground_truth": [{"calc_area": {"base": [10], "height": [5]}}]},
    )
    assert bfcl.scorer == "tool" and bfcl.reference_response is None
    assert ev.detect_item(2, "general", [{"role": "user", "content": "hi"}], {}) is None


def test_set_role_rules(store, tmp_path):
    load_sets(store, mark=False)
    with pytest.raises(ev.EvaluationError, match="role must be"):
        ev.set_role(store, "math_eval", "test")
    with pytest.raises(ev.EvaluationError, match="no pool"):
        ev.set_role(store, "nope", "eval")
    sid = store.con.execute("SELECT min(id) FROM samples WHERE pool_id = 1").fetchall()[0][0]
    store.con.execute("INSERT INTO mixtures (id, name, version, recipe, content_hash) VALUES (1, 'mx', 1, '{}', 'h')")
    store.con.execute(
        "INSERT INTO mixture_items (mixture_id, position, sample_id, domain) VALUES (1, 0, ?, 'math')", [sid]
    )
    with pytest.raises(ev.EvaluationError, match="mx v1"):
        ev.set_role(store, "math_eval", "eval")
    assert ev.set_role(store, "math_eval", "eval", force=True) == "math_eval"
    assert ev.set_role(store, "math_eval", "train") == "math_eval"
    assert ev.eval_pools(store) == []


def _base_run(store, model_dir, rid=1, status="done", kind="base"):
    store.con.execute(
        "INSERT INTO runs (id, name, status, kind, base_model) VALUES (?, ?, ?, ?, ?)",
        [rid, f"run{rid}", status, kind, str(model_dir)],
    )


@pytest.mark.slow
def test_evaluate_rescore_resume_and_cancel(store, tmp_path, model_dir):
    load_sets(store)
    mcq = write_jsonl(
        tmp_path / "q.jsonl",
        [
            {"question": f"{i}+{i}?", "A": str(2 * i), "B": str(i), "C": "0", "D": "1", "answer": "A"}
            for i in range(2, 4)
        ],
    )
    import_file(store, mcq, pool="mmlu", domain="knowledge")
    ev.set_role(store, "mmlu", "eval")
    _base_run(store, model_dir)
    settings = ev.EvalSettings(max_new_tokens=6, batch_size=4, chunk=4, threads=1)
    pools = [n for n, _ in SETS] + ["mmlu"]
    seen = []
    res = ev.evaluate(store, 1, pools, max_items=3, settings=settings, progress=seen.append, poll_s=0.1)
    assert {(r.eval_set, r.domain) for r in res} == {(n, d) for n, d in SETS} | {("mmlu", "knowledge")}
    assert all(r.n == (3 if r.eval_set != "mmlu" else 2) and r.details["state"] == "done" for r in res)
    assert seen and seen[-1].done == seen[-1].total == 14
    rows = store.con.execute(
        "SELECT scorer, output, correct, nll, details FROM eval_items ORDER BY sample_id"
    ).fetchall()
    assert len(rows) == 14 and all(r[3] is not None and r[3] > 0 for r in rows)
    one = next(iter(ev.item_results(store, 1, domain="math").values()))
    assert one["prompt"].endswith("<|im_start|>assistant\n") and one["question"] in one["prompt"]
    by = {}
    for scorer, output, correct, _nll, details in rows:
        by.setdefault(scorer, []).append((output, correct, json.loads(details)))
    assert all(o is not None for o, _, _ in by["gsm8k"]) and all(c is not None for _, c, _ in by["gsm8k"])
    assert all(o is None and c is None for o, c, _ in by["nll"])
    assert all(len(d["logliks"]) == 4 and isinstance(c, bool) for _, c, d in by["choice"])
    assert all(d["status"] in ("failed", "error") for _, _, d in by["code"])
    general = next(r for r in res if r.domain == "general")
    assert general.metric == "nll" and general.value > 0

    # rescore: put the reference answer in as the output of one math item, without regenerating
    math = next(r for r in res if r.domain == "math")
    sid, ref = store.con.execute(
        "SELECT s.id, s.response FROM eval_items ei JOIN samples s ON s.id = ei.sample_id "
        "WHERE ei.evaluation_id = ? ORDER BY s.id LIMIT 1",
        [math.id],
    ).fetchall()[0]
    store.con.execute("UPDATE eval_items SET output = ? WHERE evaluation_id = ? AND sample_id = ?", [ref, math.id, sid])
    after = ev.rescore(store, math.id)
    assert after.details["n_correct"] == 1 and after.value == pytest.approx(1 / 3)
    got = ev.item_results(store, 1, domain="math")[sid]
    assert (
        got["correct"] is True
        and got["extracted"]
        == ev.detect_item(
            sid, "math", *store.con.execute("SELECT messages, meta FROM samples WHERE id = ?", [sid]).fetchall()[0]
        )
        .reference["answer"]
        .rsplit("####", 1)[1]
        .strip()
    )

    # resume: lose the last chunk; the next call regenerates only its items
    job = Path(math.details["job"])
    chunks = sorted((job / "chunks").glob("*.jsonl"))
    assert len(chunks) == 4
    lost = [json.loads(x)["sample_id"] for x in chunks[-1].read_text().splitlines()]
    chunks[-1].unlink()
    store.con.execute("DELETE FROM eval_items WHERE sample_id IN (SELECT unnest(?::BIGINT[]))", [lost])
    ev.evaluate(store, 1, pools, max_items=3, settings=settings, poll_s=0.1)
    log = (job / "log.txt").read_text().splitlines()
    assert f"start: 14 items, {14 - len(lost)} done, {len(lost)} to do" in log[-2]
    assert store.con.execute("SELECT count(*) FROM eval_items").fetchall()[0][0] == 14

    # cancel: a new job (other settings) stopped at once keeps its summary rows marked cancelled
    tok = CancelToken()
    tok.cancel()
    with pytest.raises(Cancelled):
        ev.evaluate(
            store,
            1,
            ["math_eval"],
            max_items=2,
            settings=ev.EvalSettings(max_new_tokens=3, threads=1),
            cancel=tok,
            poll_s=0.1,
        )
    last = ev.list_evaluations(store, 1)[-1]
    assert last.details["state"] == "cancelled"


def test_evaluate_errors(store, model_dir):
    load_sets(store)
    import_file(store, EVAL / "math_eval.jsonl", pool="train_math", domain="math")
    _base_run(store, model_dir)
    _base_run(store, model_dir, rid=2, status="running", kind="mixture")
    with pytest.raises(ev.EvaluationError, match="not an eval set"):
        ev.evaluate(store, 1, ["train_math"])
    with pytest.raises(ev.EvaluationError, match="is running"):
        ev.evaluate(store, 2, ["math_eval"])
    with pytest.raises(ev.EvaluationError, match="no run"):
        ev.evaluate(store, 9, ["math_eval"])
    store.con.execute("UPDATE runs SET status = 'done' WHERE id = 2")
    with pytest.raises(ev.EvaluationError, match="no final adapter"):
        ev.evaluate(store, 2, ["math_eval"])
    store.con.execute("INSERT INTO pools (id, name, role) VALUES (99, 'empty', 'eval')")
    with pytest.raises(ev.EvaluationError, match="no checkable items"):
        ev.evaluate(store, 1, ["empty"])


def test_overlap_exact_and_near(store, tmp_path):
    load_sets(store)
    recs = [json.loads(x) for x in (EVAL / "math_eval.jsonl").read_text().splitlines()]
    near = dict(recs[1])
    near["question"] = near["question"].replace("Zara", "Maria").rstrip("?") + " in total?"
    train = write_jsonl(tmp_path / "t.jsonl", [recs[0], near, {"question": "What is 2 + 2?", "answer": "#### 4"}])
    import_file(store, train, pool="train_math", domain="math")
    ids = [
        r[0]
        for r in store.con.execute(
            "SELECT s.id FROM samples s JOIN pools p ON p.id = s.pool_id WHERE p.name = 'train_math' ORDER BY s.id"
        ).fetchall()
    ]
    store.con.execute("INSERT INTO mixtures (id, name, version, recipe, content_hash) VALUES (1, 'mx', 1, '{}', 'h')")
    for pos, sid in enumerate(ids):
        store.con.execute(
            "INSERT INTO mixture_items (mixture_id, position, sample_id, domain) VALUES (1, ?, ?, 'math')", [pos, sid]
        )
    rep = ev.overlap(store, 1, ["math_eval"])
    assert rep.n_train == 3 and rep.n_eval == 30
    assert [(e["train_id"], e["why"]) for e in rep.exact] == [(ids[0], "same content")]
    assert [e["train_id"] for e in rep.near] == [ids[1]] and rep.near[0]["jaccard"] >= 0.5
    assert len(rep.warnings) == 2
    exact_only = ev.overlap(store, 1, ["math_eval"], near=False)
    assert len(exact_only.exact) == 1 and exact_only.near == []


@pytest.mark.slow
def test_cli_evalset_eval_rescore(tmp_path, model_dir, capsys):
    from engine.core.store import Store
    from workbench.cli import main

    db = tmp_path / "cli.duckdb"
    with Store(db) as st:
        import_file(st, EVAL / "math_eval.jsonl", pool="math_eval", domain="math")
        _base_run(st, model_dir)
    assert main(["--db", str(db), "eval", "1", "--sets", "math_eval"]) == 1
    assert "not an eval set" in capsys.readouterr().err
    assert main(["--db", str(db), "evalset", "mark", "math_eval", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "pool": "math_eval",
        "role": "eval",
        "checkable_items": 30,
        "skipped": 0,
        "scorers": ["gsm8k"],
    }
    assert main(["--db", str(db), "evalset", "list", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["checkable"] == 30
    assert (
        main(
            [
                "--db",
                str(db),
                "-q",
                "eval",
                "1",
                "--sets",
                "math_eval",
                "--max-items",
                "2",
                "--max-new-tokens",
                "4",
                "--threads",
                "1",
                "--format",
                "json",
            ]
        )
        == 0
    )
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["n"] == 2 and rows[0]["metric"] == "accuracy" and rows[0]["value"] == 0.0
    assert main(["--db", str(db), "rescore", str(rows[0]["evaluation"]), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["n"] == 2
    assert main(["--db", str(db), "eval", "--sets", "math_eval"]) == 2  # neither RUN nor --base-model


@pytest.mark.slow
def test_plain_lora_merge_matches_peft(tmp_path, model_dir):
    import torch
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import AutoModelForCausalLM

    from engine.evaluation.worker import merge_lora

    base = AutoModelForCausalLM.from_pretrained(model_dir)
    pm = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", use_rslora=True))
    torch.manual_seed(0)
    for n, p in pm.named_parameters():
        if "lora_B" in n:
            torch.nn.init.normal_(p, std=0.2)
    pm.save_pretrained(tmp_path / "adapter")
    ids = torch.tensor([[5, 9, 17, 30, 2, 11]])
    ref = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(model_dir), tmp_path / "adapter")
    ref = ref.merge_and_unload().eval()
    mine = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    plain = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    assert merge_lora(mine, tmp_path / "adapter")
    with torch.no_grad():
        a, b, c = ref(ids).logits, mine(ids).logits, plain(ids).logits
    assert torch.allclose(a, b, atol=1e-5) and not torch.allclose(a, c, atol=1e-3)
    cfg = json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())
    (tmp_path / "adapter" / "adapter_config.json").write_text(json.dumps(cfg | {"use_dora": True}))
    assert not merge_lora(plain, tmp_path / "adapter")  # not plain LoRA: left to peft, model untouched


@pytest.mark.slow
def _lora_run(store, tmp_path, model_dir, rid: int = 2) -> None:
    """A finished mixture run `rid` whose adapter is a random plain LoRA of the tiny model."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    folder = tmp_path / "runs" / f"{rid}-lora"
    pm = get_peft_model(
        AutoModelForCausalLM.from_pretrained(model_dir), LoraConfig(r=4, lora_alpha=8, target_modules="all-linear")
    )
    torch.manual_seed(0)
    for n, p in pm.named_parameters():
        if "lora_B" in n:
            torch.nn.init.normal_(p, std=0.3)
    pm.save_pretrained(folder / "adapter")
    store.con.execute(
        "INSERT INTO runs (id, name, status, kind, base_model, folder) VALUES (?, 'lora', 'done', 'mixture', ?, ?)",
        [rid, str(model_dir), str(folder)],
    )


def test_evaluate_many_merges_adapters_in_and_out(store, tmp_path, model_dir):
    load_sets(store)
    _base_run(store, model_dir, rid=1)
    _lora_run(store, tmp_path, model_dir)
    settings = ev.EvalSettings(max_new_tokens=4, batch_size=4, threads=1)
    alone = ev.evaluate(store, 1, ["general_eval"], max_items=3, settings=settings, poll_s=0.1)
    nll_alone = {k: v["nll"] for k, v in ev.item_results(store, 1).items()}
    # the same base run again (other settings: a new job) after the adapter run, in one worker
    settings2 = ev.EvalSettings(max_new_tokens=5, batch_size=4, threads=1)
    both = ev.evaluate_many(store, [2, 1], ["general_eval"], max_items=3, settings=settings2, poll_s=0.1)
    assert [s.run_id for s in both] == [2, 1] and all(s.n == 3 for s in both)
    job = Path(both[0].details["job"])
    assert (job / "log.txt").exists() and not (Path(both[1].details["job"]) / "worker.stderr").exists()
    nll_again = {k: v["nll"] for k, v in ev.item_results(store, 1).items()}
    nll_lora = {k: v["nll"] for k, v in ev.item_results(store, 2).items()}
    assert nll_again == nll_alone  # the base weights were restored exactly after the adapter's job
    assert all(abs(nll_lora[k] - nll_alone[k]) > 1e-4 for k in nll_alone)
    assert alone[0].value == pytest.approx(sum(nll_alone.values()) / 3)


def test_cancel_stops_generation_between_tokens(model_dir):
    from engine.evaluation.generation import generate
    from engine.evaluation.worker import load_model

    class AfterFiveTokens(CancelToken):
        n = 0

        @property
        def cancelled(self):  # read by the stopping criterion once per generated token
            self.n += 1
            if self.n >= 5:
                self.cancel()
            return super().cancelled

    model, tok = load_model({"model": str(model_dir), "settings": {"threads": 1}})
    token = AfterFiveTokens()
    with pytest.raises(Cancelled):
        generate(model, tok, ["Write a function"], max_new_tokens=400, batch_size=1, cancel=token)
    assert token.n < 20  # stopped after a few tokens, not after 400
    assert len(generate(model, tok, ["Write a function"], max_new_tokens=3, batch_size=1, cancel=CancelToken())) == 1


BFCL = Path(__file__).resolve().parent.parent.parent / "shared" / "datasets" / "bfcl_v4_nonlive"


def test_attach_bfcl_answers_then_score(store, tmp_path):
    q = [
        {
            "id": "t_0",
            "question": [[{"role": "user", "content": "Area of a triangle, base 10 and height 5?"}]],
            "function": [
                {
                    "name": "calc_area",
                    "description": "area",
                    "parameters": {
                        "type": "dict",
                        "properties": {"base": {"type": "integer"}, "height": {"type": "integer"}},
                        "required": ["base", "height"],
                    },
                }
            ],
        },
        {
            "id": "t_1",
            "question": [[{"role": "user", "content": "Tell me a joke."}]],
            "function": [
                {"name": "calc_area", "description": "area", "parameters": {"type": "dict", "properties": {}}}
            ],
        },
    ]
    write_jsonl(tmp_path / "q.json", q)
    write_jsonl(tmp_path / "a.json", [{"id": "t_0", "ground_truth": [{"calc_area": {"base": [10], "height": [5]}}]}])
    import_file(store, tmp_path / "q.json", pool="bfcl", domain="tool_use")
    assert ev.pool_items(store, "bfcl") == ([], 2)  # no answers yet: nothing checkable
    assert ev.attach_answers(store, "bfcl", tmp_path / "a.json") == {
        "matched": 1,
        "no_call": 0,
        "unmatched": 1,
        "unused": 0,
    }
    items, skipped = ev.pool_items(store, "bfcl")
    assert skipped == 1 and items[0].scorer == "tool" and items[0].tools
    from engine.evaluation.scorers import check

    assert check("tool", "calc_area(base=10, height=5)", items[0].reference).correct
    assert not check("tool", "calc_area(base=10, height=5, unit='m')", items[0].reference).correct
    ev.attach_answers(store, "bfcl", tmp_path / "a.json", no_call=True)
    items, _ = ev.pool_items(store, "bfcl")
    assert [it.reference["calls"] for it in items][1] == [] and check("tool", "Why did...", items[1].reference).correct
    with pytest.raises(ev.EvaluationError, match="needs 'id'"):
        write_jsonl(tmp_path / "bad.json", [{"ground_truth": []}])
        ev.attach_answers(store, "bfcl", tmp_path / "bad.json")


@pytest.mark.slow
@pytest.mark.shared
def test_bfcl_simple_python_answers_from_shared(store):
    if not BFCL.is_dir():
        pytest.skip("../shared/datasets not present")
    import_file(store, BFCL / "BFCL_v4_simple_python.json", pool="bfcl", domain="tool_use")
    res = ev.attach_answers(store, "bfcl", BFCL / "possible_answer" / "BFCL_v4_simple_python.json")
    items, skipped = ev.pool_items(store, "bfcl")
    assert res["matched"] == len(items) > 0 and skipped == res["unmatched"]
    from engine.evaluation.scorers import check

    first = items[0]  # simple_python_0: calculate_triangle_area(base=10, height=5, unit optional)
    assert check("tool", "calculate_triangle_area(base=10, height=5)", first.reference).correct
    assert not check("tool", "calculate_triangle_area(base=10, height=6)", first.reference).correct


def test_code_items_are_refused_without_a_sandbox_unless_opted_in(store, model_dir, monkeypatch):
    from engine.evaluation import sandbox

    load_sets(store)
    _base_run(store, model_dir)
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    try:
        sandbox.isolation(refresh=True)
        with pytest.raises(ev.EvaluationError, match="code items.*bubblewrap.*WORKBENCH_SANDBOX=unisolated"):
            ev.prepare(store, 1, ["code_eval"])
        ev.prepare(store, 1, ["math_eval"])  # nothing to run: no sandbox needed
        job, summaries, _ = ev.prepare(store, 1, ["code_eval"], settings=ev.EvalSettings(sandbox_unisolated=True))
        assert summaries and json.loads((job / "spec.json").read_text())["settings"]["sandbox_unisolated"]
    finally:
        monkeypatch.undo()
        assert sandbox.isolation(refresh=True).kernel


def test_worker_names_its_phases(store, tmp_path, model_dir, monkeypatch):
    """Loading the model and merging a run's adapter are named in the job's progress.json before they start,
    and current_phase (what the app and the CLI show) reads them back."""
    from engine.core.jobs import JobFolder
    from engine.evaluation import worker

    load_sets(store)
    _base_run(store, model_dir, rid=1)
    _lora_run(store, tmp_path, model_dir)
    settings = ev.EvalSettings(max_new_tokens=2, batch_size=4, threads=1)
    jobs = [ev.prepare(store, rid, ["general_eval"], max_items=2, settings=settings)[0] for rid in (2, 1)]
    seen = []
    update = JobFolder.update_progress

    def spy(self, **kw):  # records each phase as it is written, then writes it as usual
        update(self, **kw)
        if kw.get("phase"):
            seen.append((self.path, kw["phase"], ev.current_phase([self.path])))

    monkeypatch.setattr(JobFolder, "update_progress", spy)
    worker.run_jobs(jobs)
    assert seen[0] == (jobs[0], f"loading the model {model_dir}", f"loading the model {model_dir}")
    assert (jobs[0], "merging the run's LoRA adapter", "merging the run's LoRA adapter") in seen
    assert [p for j, p, _ in seen if j == jobs[1]] == []  # the base run reuses the loaded model: nothing to name
    assert ev.current_phase(jobs) == ""  # both done
