"""What a job reports about its stops: the message of a step that ended undecided names the stop
that ended it, and the settings of a run or a vote carry the red-flag limit actually applied."""

from __future__ import annotations

from maker_cli.config.job import merge_job_settings
from maker_cli.config.settings import load_settings
from maker_cli.core import maths
from maker_cli.core.engine import StepResult, VoteConfig
from maker_cli.core.status import RunStatus, StepStatus, StopReason
from maker_cli.jobs.run_result import RunConfig
from maker_cli.jobs.runner import _undecided
from maker_cli.jobs.vote import plan_vote, vote


def undecided_step(stopped: StopReason, *, samples: int, valid: int, red_flags: dict[str, int]) -> StepResult:
    return StepResult(
        step=7,
        status=StepStatus.UNDECIDED,
        winner=None,
        value=None,
        tallies={"a": valid - 1, "b": 1},
        samples=samples,
        valid=valid,
        red_flags=red_flags,
        errors=0,
        retries=0,
        rounds=9,
        input_tokens=0,
        output_tokens=0,
        cost_usd=0.0,
        wall_s=0.1,
        stopped=stopped,
    )


def test_the_red_flag_stop_names_the_limit_it_reached():
    r = undecided_step(StopReason.RED_FLAGS, samples=428, valid=225, red_flags={"format": 101, "truncated": 102})
    status, message = _undecided(7, r, VoteConfig(k=25, max_red_flags=200))
    assert status == RunStatus.UNDECIDED
    assert message == (
        "step 7: stopped at the red-flag limit: 203 red-flagged samples "
        "(max_red_flags 200; truncated 102, format 101) among 428"
    )


def test_the_sample_cap_and_the_budget_keep_their_own_messages():
    r = undecided_step(StopReason.SAMPLE_CAP, samples=50, valid=48, red_flags={"format": 2})
    status, message = _undecided(3, r, VoteConfig(k=5, max_samples=50))
    assert status == RunStatus.UNDECIDED
    assert (
        message == "step 3 undecided after 50 samples (the cap, max_samples 50); leading answers: [('a', 47), ('b', 1)]"
    )
    status, message = _undecided(
        3, undecided_step(StopReason.BUDGET, samples=9, valid=9, red_flags={}), VoteConfig(k=5)
    )
    assert status == RunStatus.BUDGET_EXHAUSTED and "--max-cost" in message


def test_a_run_config_carries_the_default_red_flag_limit():
    job = merge_job_settings(load_settings(None), flags={"model": "sim:p=0.6,invalid=0.5"})
    assert job.max_red_flags is None and job.source("max_red_flags") == "default"
    config = RunConfig.of(job, k=25, valid_rate=0.5)
    assert config.max_red_flags == maths.default_max_red_flags(25, 0.5)
    assert config.vote_config().max_red_flags == config.max_red_flags
    assert RunConfig.of(job, k=25).max_red_flags == maths.default_max_red_flags(25)  # valid rate unknown
    given = merge_job_settings(load_settings(None), flags={"model": "m", "max_red_flags": 12})
    assert RunConfig.of(given, k=25, valid_rate=0.5).max_red_flags == 12
    # a run stored by an older version, without the value, still gets the default when resumed
    old = RunConfig.model_validate({"model": "m", "k": 25, "valid_rate": 0.5})
    assert old.max_red_flags is None and old.vote_config().max_red_flags == maths.default_max_red_flags(25, 0.5)


def test_a_vote_reports_the_red_flag_limit_it_applies(monkeypatch):
    plan = plan_vote(
        "2 + 2? Answer: N",
        task=None,
        inputs=None,
        system=None,
        answer_regex=None,
        flags={"model": "sim:answer=4", "k": 3},
    )
    assert plan.job.max_red_flags == plan.config.max_red_flags == maths.default_max_red_flags(3)
    assert plan.job.source("max_red_flags") == "default"
    result = vote("2 + 2? Answer: N", model="sim:answer=4", k=3)
    assert result.settings is not None and result.settings.max_red_flags == maths.default_max_red_flags(3)
    assert result.settings_sources["max_red_flags"] == "default"
    monkeypatch.setenv("MAKER_MAX_RED_FLAGS", "9")
    result = vote("2 + 2? Answer: N", model="sim:answer=4", k=3)
    assert result.settings.max_red_flags == 9 and result.settings_sources["max_red_flags"] == "env"
