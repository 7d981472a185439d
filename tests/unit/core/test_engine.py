"""The voting engine: zero-waste rounds, red flags, caps, errors, concurrency, and statistics."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from engine_fixtures import REF, judge
from hypothesis import given, settings
from hypothesis import strategies as st

from maker_cli.core.engine import DECIDED, UNDECIDED, Engine, VoteConfig
from maker_cli.core.events import RoundFinished, SampleFinished, StepDecided
from maker_cli.core.race import VoteRace
from maker_cli.core.redflags import RedFlagRules
from maker_cli.core.step import StepPrompt
from maker_cli.errors import MissingApiKey, ProviderError
from maker_cli.providers.base import CallResult, Completion, ProviderInfo, SampleRequest
from maker_cli.providers.sim import SimProvider


def comp(text: str, *, out: int = 5, finish: str = "stop", cost: float | None = 0.001) -> Completion:
    return Completion(text, 10, out, finish, 0.0, cost)


class Scripted:
    """A provider that answers from a script of completions (or exceptions), recording requests."""

    def __init__(self, script, *, supports_n: bool = True, inline: bool = False, delay: float = 0.0):
        self.script = list(script)
        self.requests: list[SampleRequest] = []
        self.delay = delay
        self.active = 0
        self.max_active = 0
        self.info = ProviderInfo("scripted", simulated=True, supports_n=supports_n, prices_known=True, inline=inline)

    async def complete(self, request: SampleRequest) -> CallResult:
        self.requests.append(request)
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            out = []
            for _ in range(request.n):
                item = self.script.pop(0)
                if isinstance(item, BaseException):
                    raise item
                out.append(item if isinstance(item, Completion) else comp(item))
            return CallResult(out)
        finally:
            self.active -= 1

    async def aclose(self) -> None:
        pass


def vote(provider, cfg: VoteConfig, *, listeners=(), step: int = 0, concurrency: int = 16):
    engine = Engine(provider, concurrency=concurrency, listeners=listeners)
    return asyncio.run(engine.vote(StepPrompt(step, "sys", "user"), judge, cfg))


# --- the race -----------------------------------------------------------------------------------


@given(st.lists(st.sampled_from("abc"), max_size=60), st.integers(1, 6))
def test_race_never_decides_without_a_k_lead(votes, k):
    race = VoteRace(k)
    for v in votes:
        race.add(v)
        winner = race.winner()
        if winner is not None:
            others = [n for key, n in race.counts.items() if key != winner]
            assert all(race.counts[winner] - n >= k for n in others)
            assert race.counts[winner] >= k
        else:
            ranked = sorted(race.counts.values(), reverse=True) + [0, 0]
            assert ranked[0] - ranked[1] < k


@given(st.lists(st.sampled_from(["A", "B", "C", "bad"]), min_size=1, max_size=12), st.randoms())
@settings(max_examples=60, deadline=None)
def test_order_within_a_round_cannot_change_the_outcome(round_one, rnd):
    """The same multiset of answers in any order gives the same decision and tallies."""
    k = 2
    texts = [("Answer: " + x) if x != "bad" else "garbage" for x in round_one]
    # enough valid votes for "A" afterwards so every race can finish
    tail = ["Answer: A"] * 40
    shuffled = texts[:]
    rnd.shuffle(shuffled)
    cfg = VoteConfig(k=k, eager=len(texts) - k if len(texts) > k else 0, max_samples=60)
    a = vote(Scripted(texts + tail, inline=True), cfg)
    b = vote(Scripted(shuffled + tail, inline=True), cfg)
    assert (a.status, a.winner, a.tallies, a.rounds) == (b.status, b.winner, dict(b.tallies), b.rounds)


# --- rounds -------------------------------------------------------------------------------------


@pytest.mark.parametrize("inline", [True, False])
def test_zero_waste_rounds_launch_k_minus_margin(inline):
    # round 1: A A B (margin 1) -> round 2 needs k - 1 = 2: A A -> margin 3 -> decided
    p = Scripted(["Answer: A", "Answer: A", "Answer: B", "Answer: A", "Answer: A"], inline=inline)
    r = vote(p, VoteConfig(k=3))
    assert r.status == DECIDED and r.winner == "a"
    assert [(q.temperature, q.n) for q in p.requests] == [(0.0, 1), (0.1, 2), (0.1, 2)]
    assert (r.samples, r.valid, r.rounds) == (5, 5, 2)
    assert r.tallies == {"a": 4, "b": 1}


def test_without_n_support_each_sample_is_its_own_call():
    p = Scripted(["Answer: A"] * 3, supports_n=False)
    r = vote(p, VoteConfig(k=3))
    assert r.decided and [q.n for q in p.requests] == [1, 1, 1]
    assert [q.temperature for q in p.requests] == [0.0, 0.1, 0.1]


def test_eager_adds_samples_per_round():
    p = Scripted(["Answer: A"] * 5)
    r = vote(p, VoteConfig(k=3, eager=2))
    assert r.decided and r.samples == 5 and r.rounds == 1


def test_red_flags_are_replaced_at_once_and_counted_by_reason():
    script = [
        "Answer: A",
        comp("Answer: A", finish="length"),  # truncated by the provider
        comp("Answer: A", out=900),  # over the token limit by the provider's usage
        "no answer here",  # format
        "Answer: A",
        "Answer: A",
    ]
    p = Scripted(script)
    r = vote(p, VoteConfig(k=3, rules=RedFlagRules(max_output_tokens=750)))
    assert r.decided and r.valid == 3 and r.samples == 6 and r.rounds == 1
    assert r.red_flags == {"truncated": 1, "too_long": 1, "format": 1}
    assert r.red_flagged == 3


def test_long_text_with_small_token_count_is_not_red_flagged():
    """Length is judged by tokens from the provider, never by characters."""
    long = "Answer: A" + " " * 10_000
    p = Scripted([comp(long, out=10)] * 3)
    r = vote(p, VoteConfig(k=3, rules=RedFlagRules(max_output_tokens=50)))
    assert r.decided and r.red_flags == {}


def test_must_not_match_patterns_red_flag():
    p = Scripted(["I cannot help. Answer: A", "Answer: A", "Answer: A", "Answer: A"])
    r = vote(p, VoteConfig(k=3, rules=RedFlagRules(must_not_match=(r"(?i)cannot",))))
    assert r.decided and r.red_flags == {"forbidden_pattern": 1}


def test_sample_cap_ends_undecided_never_a_plurality_winner():
    p = Scripted(["Answer: A", "Answer: A", "Answer: B", "Answer: B", "Answer: A", "Answer: B"] * 3)
    r = vote(p, VoteConfig(k=3, max_samples=7))
    assert r.status == UNDECIDED and r.winner is None and r.value is None
    assert r.samples == 7
    assert sum(r.tallies.values()) == 7


def test_cap_counts_red_flagged_samples():
    p = Scripted(["junk"] * 10)
    r = vote(p, VoteConfig(k=2, max_samples=4))
    assert r.status == UNDECIDED and r.samples == 4 and r.valid == 0 and r.red_flags == {"format": 4}


def test_failed_calls_are_errors_not_votes_or_red_flags():
    script = [ProviderError("boom 500", retries=2, status=500), "Answer: A", "Answer: A", "Answer: A"]
    p = Scripted(script, supports_n=False)
    r = vote(p, VoteConfig(k=3))
    assert r.decided and r.errors == 1 and r.red_flags == {} and r.valid == 3 and r.samples == 3
    assert r.retries == 2


def test_fatal_provider_errors_stop_at_once():
    p = Scripted([MissingApiKey("OPENAI_API_KEY is not set")] + ["Answer: A"] * 3, supports_n=False)
    with pytest.raises(MissingApiKey):
        vote(p, VoteConfig(k=3))


def test_too_many_failed_calls_raise():
    p = Scripted([ProviderError("down", status=503)] * 20, supports_n=False)
    with pytest.raises(ProviderError, match="calls failed"):
        vote(p, VoteConfig(k=2, max_call_errors=4))


def test_unknown_price_is_reported_as_unknown_not_zero():
    p = Scripted([comp("Answer: A", cost=None)] + ["Answer: A"] * 2)
    assert vote(p, VoteConfig(k=3)).cost_usd is None
    p = Scripted(["Answer: A"] * 3)
    assert vote(p, VoteConfig(k=3)).cost_usd == pytest.approx(0.003)


def test_events_are_emitted_in_order():
    seen = []
    p = Scripted(["Answer: A", "junk", "Answer: A", "Answer: A"])
    vote(p, VoteConfig(k=3), listeners=[seen.append])
    kinds = [type(e).__name__ for e in seen]
    assert kinds.count("SampleFinished") == 4
    assert isinstance(seen[-1], StepDecided) and isinstance(seen[-2], RoundFinished)
    flagged = [e for e in seen if isinstance(e, SampleFinished) and e.red_flag is not None]
    assert len(flagged) == 1 and flagged[0].key is None


def test_recorded_samples_carry_their_temperature():
    p = Scripted(["Answer: A", "junk", "Answer: A", "Answer: A"], supports_n=False)
    r = vote(p, VoteConfig(k=3, record_samples=True))
    assert r.records is not None and len(r.records) == 4
    assert sorted(x.temperature for x in r.records) == [0.0, 0.1, 0.1, 0.1]
    assert [x.red_flag for x in r.records].count("format: no 'Answer:' line") == 1


def test_one_concurrency_limit_across_concurrent_steps():
    p = Scripted(["Answer: A"] * 300, supports_n=False, delay=0.005)
    engine = Engine(p, concurrency=4)

    async def many():
        cfg = VoteConfig(k=3)
        return await asyncio.gather(*(engine.vote(StepPrompt(i, "s", "u"), judge, cfg) for i in range(20)))

    results = asyncio.run(many())
    assert all(r.decided for r in results)
    assert p.max_active == 4


def test_cancellation_leaves_nothing_running():
    p = Scripted(["Answer: A"] * 30, supports_n=False, delay=10)
    engine = Engine(p)

    async def run():
        task = asyncio.ensure_future(engine.vote(StepPrompt(0, "s", "u"), judge, VoteConfig(k=3)))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0)
        return [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]

    assert asyncio.run(run()) == []


# --- statistics against the exact maths --------------------------------------------------------


def test_hard_steps_are_a_fixed_seeded_fraction():
    sim = SimProvider("sim:p=0.99,hard=0.1,hard_p=0.2,seed=5")
    hard = [s for s in range(20000) if sim.hard_step(s)]
    assert 0.09 < len(hard) / 20000 < 0.11
    assert hard == [s for s in range(20000) if SimProvider("sim:p=0.99,hard=0.1,hard_p=0.2,seed=5").hard_step(s)]
    assert hard != [s for s in range(20000) if SimProvider("sim:hard=0.1,seed=6").hard_step(s)]


def test_every_combination_of_n_support_and_inline_agrees():
    texts = ["Answer: A", "Answer: B", "junk", "Answer: A", "Answer: A", "Answer: A", "Answer: A"]
    outcomes = set()
    for supports_n, inline in itertools.product([True, False], [True, False]):
        r = vote(Scripted(texts, supports_n=supports_n, inline=inline), VoteConfig(k=2))
        outcomes.add((r.winner, r.samples, r.valid, tuple(sorted(r.tallies.items()))))
    assert len(outcomes) == 1


# --- stopping undecided: the cap with `n`, runaway red flags, a spend limit ---------------------


@pytest.mark.parametrize("seed", range(40))
def test_sample_cap_holds_with_n_requests_and_red_flags(seed):
    """A red flag inside an n-request must not launch a replacement past the cap."""
    sim = SimProvider(f"sim:p=0.6,invalid=0.5,errors=spread,seed={seed}")
    engine = Engine(sim)

    async def go():
        return [
            await engine.vote(StepPrompt(s, "s", "u", REF), judge, VoteConfig(k=4, max_samples=6)) for s in range(20)
        ]

    for r in asyncio.run(go()):
        assert r.samples <= 6
        if not r.decided:
            assert r.stopped == "sample_cap" and r.winner is None


def test_a_model_that_never_answers_in_format_stops_undecided():
    r = vote(Scripted(["junk"] * 50), VoteConfig(k=2, max_red_flags=10))
    # it stops launching at the 10th red flag; samples already in flight (at most k) still land
    assert r.status == UNDECIDED and r.stopped == "red_flags" and 10 <= r.samples <= 12 and r.valid == 0


def test_the_stop_reached_first_is_the_one_reported():
    """The red-flag limit reached at the 2nd sample and the cap at the 4th (samples in flight) read as
    the cap; the limit that came first is the reason, and the cap stays the cap when it came first."""
    for inline in (True, False):
        r = vote(Scripted(["junk"] * 10, inline=inline), VoteConfig(k=3, max_samples=4, max_red_flags=2))
        assert r.status == UNDECIDED and r.stopped == "red_flags" and r.samples == 4
        r = vote(Scripted(["junk"] * 10, inline=inline), VoteConfig(k=3, max_samples=4, max_red_flags=4))
        assert r.stopped == "red_flags" and r.samples == 4  # both at the 4th sample: the red flags say why
        r = vote(Scripted(["junk"] * 10, inline=inline), VoteConfig(k=3, max_samples=4, max_red_flags=5))
        assert r.stopped == "sample_cap" and r.samples == 4


def test_spend_limit_stops_a_step_undecided():
    sim = SimProvider("sim:p=1,invalid=1,seed=1", price_in=1000, price_out=1000)  # every sample red-flagged, dear
    engine = Engine(sim)
    r = asyncio.run(engine.vote(StepPrompt(0, "s", "u", REF), judge, VoteConfig(k=2), spend_limit=0.5))
    assert r.status == UNDECIDED and r.stopped == "budget"
    assert r.cost_usd >= 0.5 and r.samples < 200


def test_unknown_cost_cannot_be_held_to_a_spend_limit():
    p = Scripted([comp("junk", cost=None)] + ["Answer: A"] * 5)
    r = asyncio.run(Engine(p).vote(StepPrompt(0, "s", "u"), judge, VoteConfig(k=2), spend_limit=10.0))
    assert r.status == UNDECIDED and r.stopped == "budget"


def test_engine_follows_a_provider_that_drops_n_mid_run():
    p = Scripted(["Answer: A"] * 10, supports_n=True)
    engine = Engine(p)
    p.info = ProviderInfo("scripted", simulated=True, supports_n=False, prices_known=True)
    r = asyncio.run(engine.vote(StepPrompt(0, "s", "u"), judge, VoteConfig(k=3)))
    assert r.decided and [q.n for q in p.requests] == [1, 1, 1]
