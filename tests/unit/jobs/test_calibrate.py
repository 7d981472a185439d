"""`maker calibrate`: interval coverage over many seeds, the pair-collision test, the Hanoi breakdown,
failed calls, datasets, the calibration file into estimate and run, exit 1, and the HTTP path."""

from __future__ import annotations

import asyncio
import itertools
import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from maker_cli.cli.app import app
from maker_cli.core import maths
from maker_cli.core.estimate import EstimateInputs, estimate
from maker_cli.errors import ProviderError, UsageError
from maker_cli.jobs import recommend as recommending
from maker_cli.jobs.calibrate import acalibrate, calibrate_labelled
from maker_cli.jobs.calibration_file import load_calibration
from maker_cli.jobs.pairs import both_wrong_tail, pair_stats
from maker_cli.jobs.recommend import to_calibration
from maker_cli.providers.base import CallResult, Completion, ProviderInfo, SampleRequest
from maker_cli.providers.prices import resolve_prices
from maker_cli.providers.sim import SimProvider
from maker_cli.specs import load_spec
from maker_cli.tasks import hanoi, hanoi_sim, load_dataset
from maker_cli.tasks.sequence_path import reference_path, sequence_probes

ROOT = Path(__file__).resolve().parents[3]
ARITHMETIC = ROOT / "examples" / "arithmetic.yaml"


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "160")


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


# The library's calibrate on a given provider (model named after it, so a simulated one is simulated).
async def calibrate_hanoi(provider, *, disks, **kw):
    return await acalibrate("hanoi", disks=disks, provider=provider, model=provider.info.name, **kw)


async def calibrate_spec(provider, spec, items, **kw):
    return await acalibrate(spec, dataset=items, provider=provider, model=provider.info.name, **kw)


async def calibrate_sequence(provider, task, *, cap=None, **kw):
    task.path(cap)
    return await acalibrate(task, provider=provider, model=provider.info.name, **kw)


def recommend(result, *, steps, target=0.95, price_in=None, price_out=None):
    prices = resolve_prices(result.model, price_in, price_out, simulated=result.simulated)
    return recommending.recommend(result, steps=steps, target=target, prices=prices).model_dump()


report_from_labelled = calibrate_labelled


def hanoi_cal(model: str, *, disks: int = 8, samples: int = 200, seed: int = 0, pairs: bool = False, **kw):
    return asyncio.run(calibrate_hanoi(SimProvider(model), disks=disks, samples=samples, seed=seed, pairs=pairs, **kw))


# --------------------------------------------------------------------------- coverage


def test_report_fields_and_wilson():
    r = hanoi_cal("sim:p=0.95,invalid=0.05,seed=3", samples=500)
    d = r.model_dump()
    for key in (
        "p",
        "p_ci",
        "valid_rate",
        "valid_rate_ci",
        "samples",
        "mean_input_tokens",
        "mean_output_tokens",
        "cost_per_call_usd",
        "simulated",
        "red_flags",
        "errors",
        "hanoi",
        "method",
    ):
        assert key in d
    assert d["method"] == "wilson" and d["simulated"] is True
    assert sum(r.red_flags.values()) == r.red_flagged > 0
    assert set(r.red_flags) <= {"format", "truncated"}
    h = r.hanoi
    assert h.disk1_steps.valid + h.other_steps.valid == r.valid
    assert h.disk1_steps.correct + h.other_steps.correct == r.correct
    assert h.wrong_move + h.right_move_wrong_state == r.valid - r.correct
    assert r.mean_input_tokens > 100 and 0 < r.mean_output_tokens < 200


# --------------------------------------------------------------------------- a scripted provider


class Scripted:
    """Answers Hanoi step i right, or with the right move and a wrong state on disk-1 steps; may fail."""

    def __init__(self, *, fail_every: int = 0, status: int = 500, latency: float = 0.0, supports_n: bool = False):
        self.info = ProviderInfo(
            "scripted", simulated=False, supports_n=supports_n, prices_known=True, inline=latency == 0
        )
        self.fail_every, self.status, self.latency = fail_every, status, latency
        self.calls = self.in_flight = self.max_in_flight = 0

    async def complete(self, request: SampleRequest) -> CallResult:
        self.calls += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.latency:
                await asyncio.sleep(self.latency)
            if self.fail_every and self.calls % self.fail_every == 0:
                raise ProviderError("boom", retries=2, status=self.status)
            n = int(request.system.split("puzzle with ")[1].split()[0])
            i = request.step
            move = hanoi.optimal_move(n, i)
            state = hanoi.optimal_state(n, i + 1)
            if move[0] == 1:  # right move, wrong state: disk 1 left where it was
                state = hanoi.optimal_state(n, i)
            text = hanoi_sim.format_answer(move, state)
            return CallResult([Completion(text, 100, 20, "stop", 0.0, 0.001) for _ in range(request.n)], retries=1)
        finally:
            self.in_flight -= 1

    async def aclose(self) -> None:
        pass


def test_breakdown_separates_disk1_steps_and_wrong_states():
    r = asyncio.run(calibrate_hanoi(Scripted(), disks=6, samples=300, seed=2))
    assert r.hanoi.disk1_steps.p == 0.0 and r.hanoi.other_steps.p == 1.0
    assert r.hanoi.wrong_move == 0 and r.hanoi.right_move_wrong_state == r.hanoi.disk1_steps.valid > 100
    assert r.errors == {"right_move_wrong_state": r.hanoi.disk1_steps.valid}
    assert r.simulated is False and r.cost_per_call_usd == pytest.approx(0.001)
    assert r.mean_input_tokens == 100 and r.mean_output_tokens == 20 and r.retries == 300


def test_failed_calls_are_counted_apart_and_fatal_ones_stop():
    prov = Scripted(fail_every=5, latency=0.001)
    r = asyncio.run(calibrate_hanoi(prov, disks=5, samples=100, concurrency=4, max_call_errors=50))
    assert r.call_errors == 20 and r.samples == 80 and r.requested == 100
    assert r.retries == 80 * 1 + 20 * 2  # retries of good calls and of failed ones; never samples
    assert prov.max_in_flight == 4  # bounded by the concurrency, and using it
    with pytest.raises(ProviderError, match="calibration stopped"):
        asyncio.run(calibrate_hanoi(Scripted(fail_every=2, latency=0.001), disks=5, samples=100, max_call_errors=5))
    with pytest.raises(ProviderError, match="boom") as info:
        asyncio.run(calibrate_hanoi(Scripted(fail_every=3, status=401, latency=0.001), disks=5, samples=50))
    assert info.value.fatal


# --------------------------------------------------------------------------- pairs and correlation


def test_both_wrong_tail_is_exact():
    """Against brute force: every placement of W wrong samples among N pairs is equally likely."""
    for n, w in itertools.product(range(1, 6), range(11)):
        if w > 2 * n:
            continue
        counts = {}
        slots = list(itertools.combinations(range(2 * n), w))
        for chosen in slots:
            s = set(chosen)
            x = sum(1 for j in range(n) if 2 * j in s and 2 * j + 1 in s)
            counts[x] = counts.get(x, 0) + 1
        for c in range(n + 2):
            brute = sum(v for x, v in counts.items() if x >= c) / len(slots)
            assert both_wrong_tail(n, w, c) == pytest.approx(brute, abs=1e-12), (n, w, c)


def test_pair_stats_counts():
    bad, other = "k1", "k2"
    stats = pair_stats([[None, None], [bad, bad], [bad, other], [None, bad], [False, bad], [None]])
    assert stats.pairs == 5 and stats.both_valid == 4
    assert stats.wrong == 5 and stats.both_wrong == 2 and stats.collisions == 1
    assert stats.expected_collisions == pytest.approx(5 * 4 / (2 * 7))


def test_hard_steps_are_flagged_as_correlated():
    for seed in range(3):
        r = hanoi_cal(
            f"sim:p=0.98,hard=0.1,hard_p=0.1,errors=collide,seed={seed}", disks=12, samples=600, seed=seed, pairs=True
        )
        pr = r.pairs
        assert pr.pairs == 300 and pr.correlated, pr
        assert pr.collisions > 3 * pr.expected_collisions and pr.p_value < 1e-4


def test_independent_errors_are_not_flagged():
    """Collide mode without hard steps: every wrong answer to a step is the same, so two wrong samples
    always collide, and collisions match the independence baseline ~ N(1-p)^2; spread mode: ~0."""
    runs, flagged, collided, expected = 30, 0, 0, 0.0
    for seed in range(runs):
        pr = hanoi_cal(f"sim:p=0.9,errors=collide,seed={seed}", samples=400, seed=seed, pairs=True).pairs
        flagged += pr.correlated
        collided += pr.collisions
        expected += pr.expected_collisions
        assert pr.collisions == pr.both_wrong
    assert flagged <= 2
    sd = math.sqrt(expected)  # collisions ~ sum of nearly binomial counts with small rates
    assert abs(collided - expected) <= 4 * sd, (collided, expected)
    assert abs(expected / (runs * 200) - 0.01) < 0.003  # N (1 - p)^2 per pair
    both_wrong = 0
    for seed in range(10):
        pr = hanoi_cal(f"sim:p=0.9,errors=spread,seed={seed}", samples=400, seed=seed, pairs=True).pairs
        assert not pr.correlated and pr.collisions <= 1
        both_wrong += pr.both_wrong
    assert both_wrong > 5  # wrong together, but different answers: no collision


# --------------------------------------------------------------------------- recommendation, labelled


def test_report_from_labelled_and_recommend():
    judge = load_spec(ARITHMETIC).judge()
    labelled = [("Answer: 42", "42")] * 90 + [("Answer: 41", "42")] * 8 + [("I think 42", "42")] * 2
    r = report_from_labelled(labelled, judge, model="gpt-4.1-mini")
    assert (r.samples, r.valid, r.correct) == (100, 98, 90)
    assert r.red_flags == {"format": 2} and r.errors == {"wrong": 8}
    rec = recommend(r, steps=1000, target=0.9, price_in=1.0, price_out=2.0)
    assert rec["p_used"] == r.p_ci[0] < r.p
    assert rec["recommended_k"] == maths.k_min(r.p_ci[0], 1000, 0.9) >= rec["k_at_point_estimate"]
    assert rec["expected_cost_usd"] is None  # labelled texts carry no token counts
    rec = recommend(r, steps=10, target=0.9)
    assert rec["recommended_k"] == maths.k_min(r.p_ci[0], 10, 0.9)


def test_recommend_expected_cost_matches_estimate():
    good = hanoi_cal("sim:p=0.95,seed=1", samples=500)
    rec = recommend(good, steps=5000, target=0.95, price_in=0.4, price_out=1.6)
    est = estimate(
        EstimateInputs(
            steps=5000,
            p=good.p_ci[0],
            target=0.95,
            k=rec["recommended_k"],
            valid_rate=good.valid_rate,
            input_tokens=good.mean_input_tokens,
            output_tokens=good.mean_output_tokens,
            price_in=0.4,
            price_out=1.6,
        )
    )
    assert rec["expected_cost_usd"] == pytest.approx(est.expected_cost_usd) and rec["expected_cost_usd"] > 0
    half = asyncio.run(calibrate_hanoi(Scripted(), disks=6, samples=200))  # right on exactly half the steps
    assert half.p == 0.5 and recommend(half, steps=100)["recommended_k"] is None


# --------------------------------------------------------------------------- task specs and datasets


def write_dataset(path: Path, lines: list[dict]) -> Path:
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    return path


def test_task_dataset_shapes_and_cycling(tmp_path):
    spec = load_spec(ARITHMETIC)
    data = write_dataset(
        tmp_path / "items.jsonl",
        [
            {"a": 3, "b": 41, "expected": "0123"},  # flat; canonicalised ("number") to 123
            {"inputs": {"a": "12", "b": "12"}, "expected": 144},  # nested; reaches the `expected` input
            {"a": 7, "b": 6, "expected": "42"},
        ],
    )
    items = load_dataset(data, spec.inputs)
    assert items[1].inputs == {"a": "12", "b": "12", "expected": "144"}
    r = asyncio.run(calibrate_spec(SimProvider("sim:p=0.8,seed=2"), spec, items, samples=600, seed=1))
    assert r.samples == 600 and r.distinct_probes == 3 and r.hanoi is None
    assert r.p_ci[0] <= 0.8 <= r.p_ci[1] and r.valid_rate == 1.0
    r = asyncio.run(calibrate_spec(SimProvider("sim:p=1"), spec, items))
    assert r.samples == 3 and r.p == 1.0


def test_dataset_errors(tmp_path):
    spec = load_spec(ARITHMETIC)
    bad = tmp_path / "a.jsonl"
    bad.write_text('{"a": 1, "b": 2, "expected": "2"}\n{oops\n', encoding="utf-8")
    with pytest.raises(UsageError, match="line 2: not JSON"):
        load_dataset(bad, spec.inputs)
    items = load_dataset(write_dataset(tmp_path / "b.jsonl", [{"a": 1, "b": 2}]), spec.inputs)
    with pytest.raises(UsageError, match="no expected answer"):
        asyncio.run(calibrate_spec(SimProvider("sim:p=1"), spec, items))
    items = load_dataset(write_dataset(tmp_path / "c.jsonl", [{"a": 1, "b": 2, "c": 3, "expected": "2"}]), spec.inputs)
    with pytest.raises(UsageError, match="unknown input 'c'"):
        asyncio.run(calibrate_spec(SimProvider("sim:p=1"), spec, items))


def test_cli_task(tmp_path):
    data = write_dataset(
        tmp_path / "items.jsonl", [{"a": a, "b": b, "expected": str(a * b)} for a in range(2, 6) for b in range(7, 12)]
    )
    r = cli(
        "calibrate",
        "task",
        str(ARITHMETIC),
        "--dataset",
        str(data),
        "--model",
        "sim:p=0.9,seed=4",
        "--samples",
        "400",
        "--json",
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["task"] == "arithmetic" and out["samples"] == 400 and out["distinct_probes"] == 20
    assert out["recommendation"]["steps"] == 20 and out["hanoi"] is None
    r = cli("calibrate", "task", str(ARITHMETIC), "--dataset", str(data), "--model", "sim:p=0.9,seed=4")
    assert r.exit_code == 0 and "maker calibrate task arithmetic, 20 items" in r.stdout


# --------------------------------------------------------------------------- the CLI


def test_cli_json_and_round_trip_into_estimate_and_run(tmp_path):
    path = tmp_path / "cal.json"
    r = cli(
        "calibrate",
        "hanoi",
        "--model",
        "sim:p=0.97,invalid=0.05,seed=1",
        "--disks",
        "6",
        "--samples",
        "800",
        "--out",
        str(path),
        "--json",
        "--price-in",
        "0.4",
        "--price-out",
        "1.6",
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    for key in (
        "p",
        "p_ci",
        "valid_rate",
        "valid_rate_ci",
        "samples",
        "mean_input_tokens",
        "mean_output_tokens",
        "cost_per_call_usd",
        "recommended_k",
        "simulated",
        "hanoi",
        "red_flags",
        "collisions",
    ):
        assert key in out
    assert out["recommended_k"] == maths.k_min(out["p_ci"][0], 63, 0.95)
    assert out["recommendation"]["expected_cost_usd"] > 0 and out["cost_per_call_usd"] > 0
    cal = load_calibration(path)
    assert cal.p == out["p"] and list(cal.p_ci) == out["p_ci"] and cal.valid_rate == out["valid_rate"]
    assert cal.method == "wilson" and cal.samples == 800 and cal.task == "hanoi-6"
    assert (cal.price_in, cal.price_out) == (0.4, 1.6)

    est = cli("estimate", "--calibration", str(path), "--steps", "1000", "--json")
    assert est.exit_code == 0, est.output
    e = json.loads(est.stdout)
    assert e["p"] == cal.p_ci[0] and e["valid_rate"] == cal.valid_rate  # the lower bound
    assert e["output_tokens_per_call"] == pytest.approx(cal.mean_output_tokens)
    assert e["input_tokens_per_call"] == pytest.approx(cal.mean_input_tokens)
    assert e["price_out"] == 1.6

    run = cli(
        "run", "hanoi", "--disks", "4", "--calibration", str(path), "--store", str(tmp_path / "s.sqlite"), "--json"
    )
    assert run.exit_code == 0, run.output
    assert json.loads(run.stdout)["k"] == maths.k_min(cal.p_ci[0], 15, 0.95)


def test_cli_human_output_and_pairs_warning(tmp_path):
    r = cli(
        "calibrate",
        "hanoi",
        "--model",
        "sim:p=0.98,hard=0.1,hard_p=0.1,errors=collide,seed=2",
        "--disks",
        "10",
        "--samples",
        "600",
        "--pairs",
        "--steps",
        "5000",
    )
    assert r.exit_code == 0, r.output
    for text in (
        "wilson",
        "p, disk-1 steps",
        "valid rate",
        "collisions",
        "correlated",
        "recommended k =",
        "5,000 steps",
        "two on each of 300 random steps",
    ):
        assert text in r.stdout, text
    assert "errors are correlated" in r.stderr
    r = cli("calibrate", "hanoi", "--model", "sim:p=0.9,seed=2", "--samples", "400", "--pairs", "--json")
    out = json.loads(r.stdout)
    assert out["correlated"] is False and out["collisions"] == out["pairs"]["collisions"]
    assert "correlated" not in r.stderr


def test_upper_bound_at_most_half_exits_1_after_the_report():
    r = cli("calibrate", "hanoi", "--model", "sim:p=0.4,seed=1", "--disks", "5", "--samples", "300", "--json")
    assert r.exit_code == 1
    out = json.loads(r.stdout)
    assert out["p_ci"][1] <= 0.5 and out["recommended_k"] is None
    assert "voting cannot converge for this model and task" in r.stderr
    assert "stronger model or a finer decomposition" in r.stderr
    r = cli("calibrate", "hanoi", "--model", "sim:p=0.4,seed=1", "--disks", "5", "--samples", "300")
    assert r.exit_code == 1 and "p " in r.stdout and "cannot converge" in r.stderr
    # all red-flagged: p unknown, exit 1 too, and no file
    r = cli("calibrate", "hanoi", "--model", "sim:invalid=1", "--disks", "5", "--samples", "50", "--json")
    assert r.exit_code == 1 and json.loads(r.stdout)["p"] is None and "red-flagged" in r.stderr


def test_to_calibration_refuses_unknown_p():
    r = hanoi_cal("sim:invalid=1", samples=20)
    with pytest.raises(Exception, match="red-flagged"):
        to_calibration(r)


def test_missing_api_key_names_the_variable(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    r = cli("calibrate", "hanoi", "--model", "gpt-4.1-mini", "--samples", "5")
    assert r.exit_code == 2 and "OPENAI_API_KEY" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_over_http_with_faults():
    from maker_cli.testing.fake_server import FakeOpenAIServer
    from maker_cli.testing.sim_responder import sim_responder

    with FakeOpenAIServer(responder=sim_responder("sim:p=0.9,invalid=0.05,seed=5")) as srv:
        srv.inject("500")
        srv.inject("429", retry_after=0.05)
        r = cli(
            "calibrate",
            "hanoi",
            "--model",
            "openai/fake",
            "--api-base",
            srv.base_url,
            "--disks",
            "5",
            "--samples",
            "40",
            "--concurrency",
            "4",
            "--price-in",
            "1",
            "--price-out",
            "2",
            "--timeout",
            "5",
            "--json",
        )
        assert r.exit_code == 0, r.output
        out = json.loads(r.stdout)
        assert out["samples"] == 40 == srv.choices and out["retries"] >= 2 and out["call_errors"] == 0
        assert out["simulated"] is False and out["cost_per_call_usd"] > 0
        assert out["valid"] + out["red_flagged"] == 40 and out["p"] > 0.6
        srv.reset_counters()
        r = cli(
            "calibrate",
            "hanoi",
            "--model",
            "openai/fake",
            "--api-base",
            srv.base_url,
            "--disks",
            "5",
            "--samples",
            "20",
            "--pairs",
            "--timeout",
            "5",
            "--json",
        )
        out = json.loads(r.stdout)
        assert r.exit_code == 0 and out["pairs"]["pairs"] == 10 and out["samples"] == 20 == srv.choices
    with FakeOpenAIServer(responder=sim_responder("sim:p=0.9"), api_key="right-key") as srv:
        r = cli(
            "calibrate",
            "hanoi",
            "--model",
            "openai/fake",
            "--api-base",
            srv.base_url,
            "--samples",
            "10",
            "--timeout",
            "5",
        )
        assert r.exit_code == 1 and "401" in r.stderr  # fatal: stops at once, one line


# --------------------------------------------------------------------------- sequential specs (no dataset)

SEQUENTIAL = sorted((ROOT / "examples" / "sequential").glob("*.yaml"))
ADDITION = ROOT / "examples" / "sequential" / "addition.yaml"


def seq_task(path: Path = ADDITION, inputs: dict | None = None):
    from maker_cli.tasks.sequence import SequenceTask as SpecTask

    return SpecTask.from_file(path, inputs)


def spec_copy(tmp_path: Path, source: Path, drop: str) -> Path:
    """A copy of a spec without the lines that start with `drop` (its reference stays importable)."""
    text = "".join(
        line for line in source.read_text(encoding="utf-8").splitlines(keepends=True) if not line.startswith(drop)
    )
    path = tmp_path / source.name
    path.write_text(text, encoding="utf-8")
    return path


def test_sequence_probes_are_the_runners_prompts_and_the_solvers_keys():

    task = seq_task()
    path = reference_path(task)
    assert (path.steps, path.capped, path.terminated) == (task.steps_total, False, True)
    assert path.planning_steps == task.planning_steps == 41
    walked = {step: (state, previous, values) for step, state, previous, values in task.walk()}
    probes = sequence_probes(task, 300, seed=7, simulated=True, path=path)
    again = sequence_probes(task, 300, seed=7, simulated=False, path=reference_path(task))
    assert [p.item for p in again] == [p.item for p in probes]  # seeded
    assert [p.item for p in sequence_probes(task, 300, seed=8, simulated=False, path=path)] != [p.item for p in probes]
    assert len({p.item for p in probes}) == 41  # with replacement, over the whole path
    judge = task.judge()
    for probe in probes:
        state, previous, values = walked[probe.item]
        prompt = task.prompt(probe.item, state, previous, simulated=False)
        assert (probe.system, probe.user) == (prompt.system, prompt.user)
        assert probe.expected_key == judge.key(values)
        assert judge(probe.reference.correct).key == probe.expected_key  # the simulated right answer is right
        assert judge(probe.reference.wrong(0)).key != probe.expected_key
    assert all(p.reference is None for p in again)


@pytest.mark.parametrize("spec", SEQUENTIAL, ids=lambda p: p.stem)
def test_sequential_examples_cover_the_true_p(spec):

    task = seq_task(spec)
    r = asyncio.run(calibrate_sequence(SimProvider("sim:p=0.95,invalid=0.05,seed=3"), task, samples=800, seed=3))
    assert r.task == task.name and r.samples == 800 and r.simulated and r.hanoi is None
    assert r.p_ci[0] <= 0.95 <= r.p_ci[1], r.p_ci
    assert r.valid_rate_ci[0] <= 0.95 <= r.valid_rate_ci[1], r.valid_rate_ci
    assert r.distinct_probes == task.steps_total and r.errors == {"wrong": r.valid - r.correct}
    perfect = asyncio.run(calibrate_sequence(SimProvider("sim:p=1"), task, samples=200))
    assert perfect.p == 1.0 and perfect.valid_rate == 1.0  # the judge's key is the solver's key
    paired = asyncio.run(calibrate_sequence(SimProvider("sim:p=0.9,seed=1"), task, samples=400, pairs=True))
    assert paired.pairs.pairs == 200 and paired.probes == 200 and not paired.pairs.correlated


def test_sequential_walk_cap():

    task = seq_task()
    path = reference_path(task, cap=5)
    assert path.capped and not path.terminated and path.steps == 5
    assert path.planning_steps == task.max_steps  # the spec's bound: conservative
    r = asyncio.run(calibrate_sequence(SimProvider("sim:p=0.9"), task, samples=100, cap=5))
    assert r.distinct_probes == 5 and "drawn from its first 5 only" in r.notes[0]
    assert reference_path(task, cap=41).capped is False  # exactly the path's length: not cut


def test_sequential_needs_a_solver(tmp_path):

    task = seq_task(spec_copy(tmp_path, ADDITION, "reference:"))
    with pytest.raises(UsageError, match="reference solver"):
        asyncio.run(calibrate_sequence(SimProvider("sim:p=0.9"), task, samples=10))


def test_cli_sequential_json_out_and_round_trip_into_run(tmp_path):
    """`--out` feeds `maker run task FILE --calibration OUT`: the run's k is the recommended k.

    The examples pin `voting.k: 3`, which `run task` prefers to a calibration, so the run uses a copy
    of the spec without it."""
    spec = spec_copy(tmp_path, ADDITION, "  k: 3")
    cal_file = tmp_path / "cal.json"
    r = cli(
        "calibrate",
        "task",
        str(spec),
        "--model",
        "sim:p=0.9,seed=2",
        "--samples",
        "800",
        "--out",
        str(cal_file),
        "--json",
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    steps = seq_task(spec).steps_total
    assert out["task"] == "long-addition" and out["samples"] == 800 and out["distinct_probes"] == steps == 41
    assert out["recommendation"]["steps"] == steps
    assert out["recommended_k"] == maths.k_min(out["p_ci"][0], steps, 0.95) > 1
    cal = load_calibration(cal_file)
    assert cal.task == "long-addition" and cal.p == out["p"] and list(cal.p_ci) == out["p_ci"]
    run = cli("run", "task", str(spec), "--calibration", str(cal_file), "--store", str(tmp_path / "s.sqlite"), "--json")
    assert run.exit_code == 0, run.output
    assert json.loads(run.stdout)["k"] == out["recommended_k"]

    r = cli(
        "calibrate",
        "task",
        str(spec),
        "--model",
        "sim:p=0.9,seed=2",
        "--samples",
        "800",
        "--steps",
        "100000",
        "--target",
        "0.9",
        "--json",
    )
    out = json.loads(r.stdout)
    assert out["recommended_k"] == maths.k_min(out["p_ci"][0], 100000, 0.9)


def test_cli_sequential_inputs_and_human_output():
    r = cli(
        "calibrate",
        "task",
        str(ADDITION),
        "--input",
        "a=999",
        "--input",
        "b=1",
        "--model",
        "sim:p=0.98",
        "--samples",
        "200",
        "--seed",
        "4",
    )
    assert r.exit_code == 0, r.output
    for text in (
        "task long-addition, reference path of 4 steps",
        "200 random steps (4 distinct, seed 4)",
        "recommended k =",
        "P(all 4 steps right)",
    ):
        assert text in r.stdout, text
    r = cli("calibrate", "task", str(ADDITION), "--input", "c=1", "--model", "sim:p=0.98")
    assert r.exit_code == 2 and "unknown input 'c'" in r.stderr
    r = cli(
        "calibrate",
        "task",
        str(ROOT / "examples" / "sequential" / "count_word.yaml"),
        "--model",
        "sim:p=0.4",
        "--samples",
        "300",
        "--json",
    )
    assert r.exit_code == 1 and "cannot converge" in r.stderr  # the same exit codes


def test_cli_sequential_usage_errors(tmp_path):
    data = write_dataset(tmp_path / "items.jsonl", [{"a": 1, "b": 2, "expected": "3"}])
    r = cli("calibrate", "task", str(spec_copy(tmp_path, ADDITION, "reference:")), "--model", "sim:p=0.9")
    assert r.exit_code == 2 and "reference solver" in r.stderr and "--dataset" in r.stderr
    r = cli("calibrate", "task", str(ADDITION), "--dataset", str(data), "--model", "sim:p=0.9")
    assert r.exit_code == 2 and "sequence spec" in r.stderr and "drop --dataset" in r.stderr
    r = cli("calibrate", "task", str(ARITHMETIC), "--model", "sim:p=0.9")
    assert r.exit_code == 2 and "needs a labelled dataset" in r.stderr
    r = cli("calibrate", "task", str(ARITHMETIC), "--dataset", str(data), "--input", "a=1", "--model", "sim:p=0.9")
    assert r.exit_code == 2 and "--input applies to sequence specs" in r.stderr
