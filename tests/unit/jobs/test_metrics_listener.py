"""The metrics listener on its own: failed calls counted by kind (each kind a real failure of the
litellm path against the fake server on 127.0.0.1), the gauges (progress, k, the p estimate, the
time left), one registry per listener, and the endpoint's addresses and errors."""

from __future__ import annotations

import logging
import math
import socket

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

import maker_cli
from maker_cli.core.engine import StepResult
from maker_cli.core.events import (
    BranchDiscarded,
    CallFailed,
    JobStarted,
    JobWatcher,
    Retried,
    RoundFinished,
    SampleFinished,
    StepDecided,
    announce,
)
from maker_cli.core.redflags import RedFlag
from maker_cli.core.status import StepStatus
from maker_cli.errors import ProviderError, UsageError
from maker_cli.jobs.event_log import event_record
from maker_cli.jobs.metrics import MetricsEndpoint, MetricsListener, serve_metrics
from maker_cli.providers.base import Completion
from maker_cli.testing import FakeOpenAIServer
from maker_cli.testing.sim_responder import sim_responder


def samples(listener: MetricsListener) -> dict[str, float]:
    """name{label="value"} -> value, from the listener's exposition."""
    out = {}
    for family in text_string_to_metric_families(listener.exposition()):
        for s in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
            out[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
    return out


def decided(step: int, votes: dict[str, int], winner: str | None = "a") -> StepDecided:
    status = StepStatus.DECIDED if winner is not None else StepStatus.UNDECIDED
    valid = sum(votes.values())
    return StepDecided(StepResult(step, status, winner, None, votes, valid, valid, {}, 0, 0, 1, 0, 0, 0.0, 0.0))


@pytest.mark.parametrize(
    ("status", "kind", "expected"),
    [
        (429, None, "rate_limit"),
        (408, None, "timeout"),
        (503, None, "server"),
        (404, None, "client"),
        (None, None, "other"),
        (500, "connection", "connection"),  # what the provider found wins over the status
    ],
)
def test_a_provider_error_says_its_kind(status, kind, expected):
    error = ProviderError("x", status=status, kind=kind)
    assert error.kind == expected and expected in ProviderError.KINDS


def test_failed_calls_are_counted_by_kind(monkeypatch):
    monkeypatch.setenv("MAKER_MAX_ATTEMPTS", "1")  # every fault fails its call at once
    metrics = MetricsListener()
    with FakeOpenAIServer(responder=sim_responder("sim:p=1,answer=42")) as srv:
        for fault in ("503", "429", "drop", "slow"):
            srv.inject(fault, delay=1.0)
        srv.inject("malformed", body='{"choices": []}')  # JSON, but no answer in it
        seen: list[CallFailed] = []
        result = maker_cli.vote(
            "q",
            model="openai/fake",
            api_base=srv.base_url,
            k=1,
            timeout=0.3,
            listeners=[metrics, lambda e: seen.append(e) if isinstance(e, CallFailed) else None],
        )
    m = samples(metrics)
    kinds = {kind: m[f'maker_call_errors_total{{kind="{kind}"}}'] for kind in ProviderError.KINDS}
    assert kinds == {
        "timeout": 1,
        "connection": 1,
        "rate_limit": 1,
        "server": 1,
        "client": 0,
        "malformed": 1,
        "other": 0,
    }
    assert result.decided and result.errors == 5 == sum(kinds.values())
    assert sorted(event_record(e)["kind"] for e in seen) == [
        "connection",
        "malformed",
        "rate_limit",
        "server",
        "timeout",
    ]


def test_the_gauges_follow_the_latest_job():
    metrics = MetricsListener()
    m = samples(metrics)
    for name in ("maker_steps_total", "maker_k", "maker_estimated_p", "maker_seconds_left_estimate"):
        assert math.isnan(m[name]), name  # nothing known before a job says so
    metrics.job_started(JobStarted("run", 10, steps_done=4, k=3, model="sim:p=0.9", task="hanoi-4"))
    assert math.isnan(metrics.seconds_left())  # no step yet: no pace
    metrics(RoundFinished(4, 1, {"a": 3}, "a", 3, 5))
    metrics(decided(4, {"a": 3}))
    metrics(decided(5, {"a": 4, "b": 1}))
    metrics(decided(6, {"a": 1, "b": 1}, winner=None))  # undecided: no progress, no p
    metrics(BranchDiscarded(6, 2, None, True))  # a speculative decision the run did not keep
    m = samples(metrics)
    assert m["maker_steps_done"] == 5 and m["maker_steps_total"] == 10 and m["maker_k"] == 5
    assert m["maker_steps_decided_total"] == 2 and m["maker_steps_undecided_total"] == 1
    assert m["maker_estimated_p"] == pytest.approx(7 / 8)  # votes for the winners over valid votes
    assert m["maker_speculative_wasted_samples_total"] == 2 and m["maker_speculative_wasted_cost_usd_total"] == 0
    assert 0 < metrics.seconds_left() < 60
    metrics.job_started(JobStarted("vote", 1))
    metrics(decided(0, {"a": 2}))
    assert metrics.seconds_left() == 0 and samples(metrics)["maker_k"] == 5  # k stays until a job says another


def test_a_calibrations_progress_is_its_samples_and_p_its_correct_share():
    metrics = MetricsListener()
    result = maker_cli.calibrate(
        "hanoi", disks=3, model="sim:p=0.8,invalid=0.1,seed=4", samples=40, listeners=[metrics]
    )
    m = samples(metrics)
    assert m["maker_steps_done"] == m["maker_steps_total"] == result.samples == 40
    assert m["maker_estimated_p"] == pytest.approx(result.p, rel=1e-12)
    assert m["maker_correct_samples_total"] == result.correct and math.isnan(m["maker_k"])
    (info,) = [key for key in m if key.startswith("maker_job_info")]
    assert 'kind="calibration"' in info and 'task="hanoi-3"' in info and 'run_id="calibration-' in info


def test_a_red_flag_reason_the_listener_does_not_know_gets_its_own_series():
    metrics = MetricsListener()
    completion = Completion("x", 10, 2, "stop", 0.25, 0.001, cached_tokens=6)
    metrics(SampleFinished(0, completion, None, RedFlag("brand_new")))
    m = samples(metrics)
    assert m['maker_red_flags_total{reason="brand_new"}'] == 1 and m["maker_samples_total"] == 1
    assert m["maker_input_tokens_total"] == 10 and m["maker_cached_tokens_total"] == 6
    assert m["maker_cost_usd_total"] == pytest.approx(0.001) and m["maker_call_latency_seconds_sum"] == 0.25


def test_each_listener_has_its_own_registry_unless_given_one():
    one, two = MetricsListener(), MetricsListener()
    one(CallFailed(0, "boom", 2, "server"))
    one(Retried(0, 3))
    assert samples(one)["maker_retries_total"] == 5 and samples(two)["maker_retries_total"] == 0
    registry = CollectorRegistry()
    assert MetricsListener(registry).registry is registry
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        MetricsListener(registry)  # one job's metrics per registry


def test_only_job_watchers_hear_that_a_job_starts():
    heard: list[JobStarted] = []

    class Watcher:
        def __call__(self, event: object) -> None: ...

        def job_started(self, job: JobStarted) -> None:
            heard.append(job)

    plain = heard.append  # a callable without job_started
    assert isinstance(Watcher(), JobWatcher) and isinstance(MetricsListener(), JobWatcher)
    assert not isinstance(plain, JobWatcher)
    job = JobStarted("vote", 1, k=3)
    announce([plain, Watcher()], job)
    assert heard == [job]


def test_the_endpoint_serves_on_a_free_port_and_closes(caplog):
    with serve_metrics(port=0) as endpoint:
        assert endpoint.port > 0 and endpoint.url == f"http://127.0.0.1:{endpoint.port}/metrics"
        with socket.create_connection(("127.0.0.1", endpoint.port), timeout=5):
            pass
    endpoint.close()  # twice is fine
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", endpoint.port), timeout=5)
    with pytest.raises(UsageError, match="a port is 0"):
        MetricsEndpoint(MetricsListener(), 70000)
    caplog.set_level("WARNING", logger="maker")
    with serve_metrics(port=0, addr="127.0.0.2") as other:  # loopback, but not the default: said
        assert other.url.startswith("http://127.0.0.2:")
    assert next(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING).startswith(
        "metrics on 127.0.0.2: the endpoint has no authentication"
    )


def test_an_ipv6_address_is_bracketed_in_the_url():
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback here")
    with serve_metrics(port=0, addr="::1") as endpoint:
        assert endpoint.url == f"http://[::1]:{endpoint.port}/metrics"
