"""How a step ends under its stops (sample cap, red-flag limit), exactly: closed spectral forms and
the DP against each other and against a brute-force sample-by-sample chain; the shared red-flag
rule; the exact variance, percentiles and leftover agents (the issue "Hardening": estimates that
are exact where they say so)."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from maker_cli.core import maths
from maker_cli.core.distributions import alive_list
from maker_cli.core.stops import _dp_stops, hopeful_step, race_stops, step_stops

# --------------------------------------------------------------------------- references


def brute_stops(p: float, k: int, v: float, cap: int | None, flags: int | None) -> tuple[float, float]:
    """(P(undecided), E[samples]) by a chain over (lead, red flags), one sample at a time: the
    engine's rules read literally (stop at `cap` samples or at the `flags`-th red flag)."""
    q, u = 1.0 - p, 1.0 - v
    cur = {(0, 0): 1.0}
    undecided = samples = 0.0
    n = 0
    while cur:
        if cap is not None and n >= cap:
            undecided += sum(cur.values())
            break
        if sum(cur.values()) < 1e-300:
            break
        samples += sum(cur.values())
        n += 1
        new: dict[tuple[int, int], float] = {}
        for (lead, reds), w in cur.items():
            if u > 0.0:
                if flags is not None and reds + 1 >= flags:
                    undecided += w * u
                else:
                    new[(lead, reds + 1)] = new.get((lead, reds + 1), 0.0) + w * u
            for step, prob in ((1, v * p), (-1, v * q)):
                if abs(lead + step) < k:
                    new[(lead + step, reds)] = new.get((lead + step, reds), 0.0) + w * prob
        cur = new
    return undecided, samples


def brute_rounds(p: float, k: int, v: float, cap: int | None, flags: int | None) -> tuple[float, float]:
    """(P(undecided), E[samples]) as the engine runs a step, one sample at a time over (lead, votes
    the round still wants, samples, red flags): a round asks for k - |lead| valid votes; between
    rounds the race is decided at |lead| >= k, and hopeless (stopped) when fewer samples than the
    round's votes are left under the cap; a sample past the cap or the flags-th red flag stops it."""
    q, u = 1.0 - p, 1.0 - v
    cur = {(0, 0, 0, 0): 1.0}  # (lead, wanted, samples, red flags)
    undecided = samples = 0.0
    while cur:
        new: dict[tuple[int, int, int, int], float] = {}
        for (lead, wanted, used, reds), w in cur.items():
            if w < 1e-300:
                continue
            if wanted == 0:  # a round boundary
                if abs(lead) >= k:
                    samples += w * used
                    continue
                wanted = k - abs(lead)
                if cap is not None and wanted > cap - used:  # loss of hope
                    undecided += w
                    samples += w * used
                    continue
            if cap is not None and used >= cap:
                undecided += w
                samples += w * used
                continue
            moves = [((lead + 1, wanted - 1, used + 1, reds), v * p), ((lead - 1, wanted - 1, used + 1, reds), v * q)]
            if u > 0.0:
                if flags is not None and reds + 1 >= flags:
                    undecided += w * u
                    samples += w * u * (used + 1)
                else:
                    moves.append(((lead, wanted, used + 1, reds + 1), u))
            for key, prob in moves:
                if prob > 0.0:
                    new[key] = new.get(key, 0.0) + w * prob
        cur = new
    return undecided, samples


def exact_alive(p: float, k: int, n: int) -> Fraction:
    """P(no decision after n votes), in exact rational arithmetic (p taken as the exact binary value)."""
    pf = Fraction(p)
    qf = 1 - pf
    cur = {0: Fraction(1)}
    for _ in range(n):
        new: dict[int, Fraction] = {}
        for lead, w in cur.items():
            for step, prob in ((1, pf), (-1, qf)):
                if abs(lead + step) < k:
                    new[lead + step] = new.get(lead + step, Fraction(0)) + w * prob
        cur = new
    return sum(cur.values(), Fraction(0))


def exact_variance(p: float, k: int) -> Fraction:
    """Var of the votes per step from the first two moments' linear systems, in rationals."""
    pf = Fraction(p)
    qf = 1 - pf
    n = 2 * k - 1

    def solve(rhs: list[Fraction]) -> list[Fraction]:  # -q x[i-1] + x[i] - p x[i+1] = rhs[i]
        c, d = [Fraction(0)] * n, [Fraction(0)] * n
        c[0], d[0] = -pf, rhs[0]
        for i in range(1, n):
            den = 1 + qf * c[i - 1]
            c[i], d[i] = -pf / den, (rhs[i] + qf * d[i - 1]) / den
        x = [Fraction(0)] * n
        x[-1] = d[-1]
        for i in range(n - 2, -1, -1):
            x[i] = d[i] - c[i] * x[i + 1]
        return x

    h = solve([Fraction(1)] * n)
    hh = [Fraction(0), *h, Fraction(0)]
    g = solve([1 + 2 * (pf * hh[i + 2] + qf * hh[i]) for i in range(n)])
    return g[k - 1] - h[k - 1] ** 2


# --------------------------------------------------------------------------- P(undecided): exact everywhere


def test_the_tail_is_exact_not_a_normal_approximation():
    """maker estimate --steps 1000000 --p 0.52 --max-samples 20000 said 2.2e-10 (a normal tail);
    the exact value is 0.997 (k = 210)."""
    u = maths.p_undecided(0.52, 210, 20000)
    assert u == pytest.approx(alive_list(0.52, 210, 20000)[-1], rel=1e-9, abs=0)  # the DP, independently
    assert u == pytest.approx(5.9275578e-06, rel=1e-6, abs=0)
    job = -math.expm1(1_000_000 * math.log1p(-u))
    assert job == pytest.approx(0.99733506, rel=1e-6)
    assert step_stops(0.52, 210, 1.0, 20000).exact


def test_a_tiny_probability_is_the_value_not_the_stopping_threshold():
    """--steps 1 --p 0.99979796 --k 5 --max-samples 19 said 2.5e-19 (the DP's 1e-18 threshold)."""
    exact = float(exact_alive(0.99979796, 5, 19))
    assert exact == pytest.approx(1.3163435e-25, rel=1e-6, abs=0)
    assert maths.p_undecided(0.99979796, 5, 19) == pytest.approx(exact, rel=1e-9, abs=0)


@pytest.mark.parametrize(
    ("p", "k", "v", "cap", "flags"),
    [
        (0.8, 3, 1.0, 10, None),
        (0.7, 3, 0.8, None, 5),
        (0.7, 3, 0.8, 12, 5),
        (0.6, 4, 0.5, 30, 10),
        (0.6, 4, 0.5, 30, 40),
        (0.9, 2, 0.3, None, 3),
        (0.55, 5, 0.9, 60, 8),
        (0.99, 5, 1.0, 19, None),
        (0.75, 3, 0.6, 8, 8),
        (0.75, 3, 0.6, 8, 3),
        (1.0, 3, 0.7, 10, 4),
        (1.0, 3, 1.0, 2, None),
        (0.6, 1, 0.5, 5, 3),
        (0.8, 6, 0.95, 40, None),
        (0.51, 4, 0.9, None, 20),
        (0.8, 3, 1.0, 2, None),
    ],
)
def test_stops_match_the_sample_by_sample_chain(p, k, v, cap, flags):
    got = race_stops(p, k, v, cap, flags)
    undecided, samples = brute_stops(p, k, v, cap, flags)
    assert got.exact
    assert got.p_undecided == pytest.approx(undecided, rel=1e-10, abs=1e-300)
    assert got.expected_samples == pytest.approx(samples, rel=1e-10)
    # with loss of hope (the engine's rounds): the same P(undecided), the samples of the round chain
    engine = step_stops(p, k, v, cap, flags)
    hope_undecided, hope_samples = brute_rounds(p, k, v, cap, flags)
    assert engine.p_undecided == pytest.approx(hope_undecided, rel=1e-9, abs=1e-300)
    assert engine.expected_samples == pytest.approx(hope_samples, rel=1e-9)
    assert engine.hope_saved == pytest.approx(samples - hope_samples, rel=1e-7, abs=1e-12)


@settings(max_examples=150, deadline=None)
@given(
    p=st.one_of(st.floats(0.5001, 0.9999), st.floats(0.5 + 1e-7, 0.501), st.floats(0.999, 1 - 1e-12)),
    k=st.integers(1, 60),
    v=st.one_of(st.just(1.0), st.floats(0.05, 1.0)),
    cap=st.one_of(st.none(), st.integers(1, 400)),
    flags=st.one_of(st.none(), st.integers(1, 300)),
)
def test_closed_forms_agree_with_the_dp(p, k, v, cap, flags):
    """Whatever method step_stops picks (closed form with its rounding bound, or the DP), it agrees
    with the DP, whose terms are all positive, to 1e-9."""
    got = race_stops(p, k, v, cap, flags)
    flags_used = None if v >= 1.0 or (cap is not None and flags is not None and flags >= cap) else flags
    if cap is None and flags_used is None:
        assert got.p_undecided == 0.0 and got.method == "none"
        assert got.expected_samples == pytest.approx(maths.expected_votes(p, k) / v, rel=1e-12)
        return
    und, valid = _dp_stops(p, k, v, cap, flags_used, 1e12)
    assert got.exact
    assert got.p_undecided == pytest.approx(und, rel=1e-9, abs=1e-290)
    assert got.expected_samples == pytest.approx(valid / v, rel=1e-9)
    assert got.expected_samples <= maths.expected_votes(p, k) / v * (1 + 1e-12)  # stops only cut


def test_bounds_when_the_exact_computation_is_too_long():
    exact = step_stops(0.6, 8, 0.7, 60, 12)
    cheap = step_stops(0.6, 8, 0.7, 60, 12, max_work=1)
    assert exact.exact and exact.method == "dp"
    assert not cheap.exact and cheap.method == "bounds"
    assert cheap.p_undecided_low <= exact.p_undecided <= cheap.p_undecided
    assert cheap.expected_samples_low <= exact.expected_samples <= cheap.expected_samples


# --------------------------------------------------------------------------- the red-flag stop


def test_red_flag_stop_is_priced():
    """maker run hanoi --disks 10 --model sim:p=0.6,invalid=0.5 stopped undecided at step 26 (200 red
    flags), while the estimate said P(undecided) = 1e-15; the exact value is about 0.10 per step."""
    stops = step_stops(0.6, 25, 0.5, 100_000, 200)
    assert stops.exact
    assert stops.p_undecided == pytest.approx(0.10100104, rel=1e-6)
    assert stops.p_undecided == pytest.approx(_dp_stops(0.6, 25, 0.5, None, 200, 1e12)[0], rel=1e-9)
    # the default for k = 25 at valid rate 0.5 leaves a healthy model essentially never stopped
    flags = maths.default_max_red_flags(25, 0.5)
    assert step_stops(0.6, 25, 0.5, 100_000, flags).p_undecided < 1e-20


def test_default_max_red_flags_rule():
    assert (
        maths.default_max_red_flags(3)
        == 230
        == maths.default_max_red_flags(3, None)
        == maths.default_max_red_flags(3, 0)
    )
    assert maths.default_max_red_flags(25, 1.0) == 450
    votes = 4 * 25 * 25 + 100
    expected = 450 + math.ceil(votes + 6 * math.sqrt(votes * 0.5) / 0.5)
    assert maths.default_max_red_flags(25, 0.5) == expected == 3483
    ks = [maths.default_max_red_flags(k, 0.8) for k in range(1, 50)]
    assert ks == sorted(ks)  # grows with k
    assert maths.default_max_red_flags(10, 0.5) > maths.default_max_red_flags(10, 0.9)  # and with red flags


@pytest.mark.parametrize("p", [0.51, 0.55, 0.7, 0.9, 0.99, 0.999])
@pytest.mark.parametrize("v", [0.05, 0.2, 0.5, 0.9, 0.999])
@pytest.mark.parametrize("steps", [1, 1023, 2**20 - 1, 10**8])
def test_default_red_flag_stop_leaves_a_healthy_job_alone(p, v, steps):
    """At k_min and the valid rate the estimate assumes, the default stop ends some step undecided
    with a probability below 0.2% of the target's failure budget (as docs/commands/estimate.md says)."""
    k = maths.k_min(p, steps, 0.95)
    stops = step_stops(p, k, v, None, maths.default_max_red_flags(k, v))
    assert stops.exact
    job = -math.expm1(steps * math.log1p(-stops.p_undecided))
    assert job < 2e-3 * 0.05


def test_engine_run_and_estimate_share_the_rule():
    from maker_cli.core.engine import VoteConfig
    from maker_cli.core.estimate import EstimateInputs, estimate
    from maker_cli.jobs.run_result import RunConfig

    assert VoteConfig(k=7).max_red_flags == maths.default_max_red_flags(7)
    assert VoteConfig(k=7, max_red_flags=12).max_red_flags == 12
    with pytest.raises(ValueError):
        VoteConfig(k=7, max_red_flags=0)
    run = RunConfig(model="sim:p=0.6,invalid=0.5", k=25, valid_rate=0.5)
    assert run.vote_config().max_red_flags == maths.default_max_red_flags(25, 0.5)
    assert RunConfig(model="m", k=25, valid_rate=0.5, max_red_flags=200).vote_config().max_red_flags == 200
    report = estimate(EstimateInputs(steps=1023, p=0.6, k=25, valid_rate=0.5))
    assert report.max_red_flags == run.vote_config().max_red_flags and report.max_red_flags_derived
    given = estimate(EstimateInputs(steps=1023, p=0.6, k=25, valid_rate=0.5, max_red_flags=200))
    assert given.max_red_flags == 200 and not given.max_red_flags_derived
    assert given.p_undecided_per_step == pytest.approx(0.10100104, rel=1e-6)


# --------------------------------------------------------------------------- success folds in the stops


def test_success_needs_every_step_decided():
    """--steps 1023 --p 0.85 --max-samples 20 said meets_target: true with p_undecided_job 0.989."""
    from maker_cli.core.estimate import EstimateInputs, estimate

    r = estimate(EstimateInputs(steps=1023, p=0.85, max_samples=20))
    assert r.p_undecided_job == pytest.approx(0.98876215, rel=1e-6)
    assert r.p_success == pytest.approx(r.p_full * (1 - r.p_undecided_per_step) ** 1023, rel=1e-9)
    assert r.p_full >= 0.95 and r.meets_target is False
    assert any("undecided steps dominate" in w for w in r.warnings)
    calm = estimate(EstimateInputs(steps=1023, p=0.85, max_samples=200))
    assert calm.meets_target is True and not any("undecided" in w for w in calm.warnings)


def test_outcome_is_independent_of_the_race_length():
    """Why P(decided and correct) = p_step x P(decided): every path that ends at +k after n votes
    mirrors one that ends at -k after n votes, (p/q)^k times less likely."""
    p, k = 0.7, 3
    dist = maths.votes_pmf(p, k)
    q = 1 - p
    cur = {0: 1.0}
    for n in range(1, 40):
        new: dict[int, float] = {}
        win = lose = 0.0
        for lead, w in cur.items():
            for step, prob in ((1, p), (-1, q)):
                after = lead + step
                if after == k:
                    win += w * prob
                elif after == -k:
                    lose += w * prob
                else:
                    new[after] = new.get(after, 0.0) + w * prob
        cur = new
        if win + lose > 0:
            assert win / (win + lose) == pytest.approx(maths.p_step(p, k), rel=1e-12)
            assert win + lose == pytest.approx(dist.pmf[n], rel=1e-12)


# --------------------------------------------------------------------------- variance, percentiles, leftover agents


@pytest.mark.parametrize(
    ("p", "k"),
    [
        (0.9999, 50),
        (1 - 1e-9, 30),
        (1 - 1e-12, 5),
        (0.999999, 3),
        (0.999, 40),
        (0.99, 60),
        (0.501, 40),
        (0.51, 3),
        (0.8, 2),
        (0.55, 30),
    ],
)
def test_votes_variance_is_exact_near_one_and_for_large_k(p, k):
    """The old tridiagonal solve lost digits near p = 1 (2e-10 at p = 0.9999, k = 50)."""
    assert maths.votes_variance(p, k) == pytest.approx(float(exact_variance(p, k)), rel=1e-12, abs=0)


def test_votes_variance_edges():
    assert maths.votes_variance(0.5, 4) == pytest.approx(2 * 16 * 15 / 3)
    assert maths.votes_variance(0.5 + 1e-9, 4) == pytest.approx(160.0, rel=1e-6)
    assert maths.votes_variance(0.9, 1) == 0.0 and maths.votes_variance(1.0, 5) == 0.0
    assert maths.votes_variance(0.999999, 5000) > 0.0


def test_percentiles_are_exact_for_a_few_steps():
    """--steps 1 --p 0.55 --k 30: the normal approximation put p99 21% low."""
    one = maths.job_percentiles(0.55, 30, 1)
    assert one.method == "exact"
    pmf = maths.votes_pmf(0.55, 30, tail=1e-14).pmf
    cdf, acc = [], 0.0
    for x in pmf:
        acc += x
        cdf.append(acc)
    assert one.samples == tuple(float(next(n for n, c in enumerate(cdf) if c >= q)) for q in (0.5, 0.95, 0.99))
    assert one.samples[2] == 880.0
    three = maths.job_percentiles(0.6, 8, 3)
    assert three.method == "exact"
    pmf = maths.votes_pmf(0.6, 8, tail=1e-14).pmf
    total = [1.0]
    for _ in range(3):
        out = [0.0] * (len(total) + len(pmf) - 1)
        for i, a in enumerate(total):
            if a:
                for j, b in enumerate(pmf):
                    out[i + j] += a * b
        total = out
    acc, want = 0.0, []
    for q in (0.5, 0.95, 0.99):
        acc = 0.0
        want.append(float(next(n for n, x in enumerate(total) if (acc := acc + x) >= q)))
    assert three.samples == tuple(want)
    with_flags = maths.job_percentiles(0.8, 3, 4, 0.7)
    assert with_flags.method == "exact"


def test_percentiles_say_when_the_stops_move_them():
    assert not maths.job_percentiles(0.7, 3, 5, stop_mass=1e-12).ignores_stops
    assert maths.job_percentiles(0.7, 3, 5, stop_mass=0.3).ignores_stops


def test_the_last_agent_has_the_leftover_steps():
    """With m not dividing the steps, the last agent was charged p^m for fewer steps."""
    p, k = 0.9, 3
    # 10 steps, m = 4: two agents of 4 steps and one of 2
    assert maths.agent_groups(10, 4) == [(2, 4), (1, 2)]
    assert maths.agent_groups(8, 4) == [(2, 4)]
    assert maths.agent_groups(3, 4) == [(1, 3)]
    want = maths.p_step(p**4, k) ** 2 * maths.p_step(p**2, k)
    assert maths.p_full(p, k, 10, 4) == pytest.approx(want, rel=1e-14)
    cost = (2 * maths.expected_votes(p**4, k) * 4 + maths.expected_votes(p**2, k) * 2) / 0.5 * 0.01
    assert maths.job_cost(p, k, 10, 4, valid_rate=0.5, cost_per_step_call=0.01) == pytest.approx(cost)
    t = 0.9
    k_min = maths.k_min(p, 10, t, 4)
    assert maths.p_full(p, k_min, 10, 4) >= t and (k_min == 1 or maths.p_full(p, k_min - 1, 10, 4) < t)


def test_p_rule_is_one_thing():
    """p must be in (0.5, 1]: p = 1 is the degenerate perfect model, above 1 a usage error."""
    from maker_cli.errors import CannotConverge, UsageError

    assert maths.check_p(1.0) == 1.0 and maths.k_min(1.0, 100) == 1
    for bad in (1.0000001, 0.0, -1.0, float("nan"), True):
        with pytest.raises(UsageError, match=r"\(0\.5, 1\]"):
            maths.check_p(bad)
    with pytest.raises(CannotConverge, match="p = 0.4999999 <= 0.5"):
        maths.check_p(0.4999999)
    assert maths.p_text(0.5000001) == "0.5000001" and maths.p_text(1.0) == "1"


@pytest.mark.parametrize(
    ("p", "k", "v", "cap", "flags"),
    [
        (0.7, 3, 0.6, 10, None),
        (0.8, 2, 0.5, 6, 3),
        (0.65, 4, 0.7, 14, 5),
        (0.6, 3, 1.0, 8, None),
        (0.55, 2, 1.0, 3, None),
    ],
)
def test_loss_of_hope_keeps_p_undecided_and_saves_samples(p, k, v, cap, flags):
    """The loss-of-hope DP reproduces P(undecided) of the model without it (it stops only steps the
    cap would stop undecided) and spends fewer samples; a hand case: k = 2, cap 3, p = 0.55: after
    a 1-1 first round one sample is left and 2 are needed: stop, saving 1 with P = 2pq."""
    hopeful = hopeful_step(p, k, v, cap, flags)
    plain = race_stops(p, k, v, cap, flags)
    assert hopeful is not None
    assert hopeful[0] == pytest.approx(plain.p_undecided, rel=1e-12, abs=1e-15)
    assert hopeful[1] < plain.expected_samples
    if (p, k, cap) == (0.55, 2, 3):
        assert plain.expected_samples - hopeful[1] == pytest.approx(2 * 0.55 * 0.45, rel=1e-12)


def test_loss_of_hope_on_a_long_cap_is_bounded_work():
    assert hopeful_step(0.52, 210, 1.0, 20_000, None) is None  # too long: the estimate keeps the upper bound
    too_long = step_stops(0.52, 210, 1.0, 20_000)
    assert too_long.hope_saved is None
    assert too_long.expected_samples == race_stops(0.52, 210, 1.0, 20_000).expected_samples
    # a cap that (almost) never binds: nothing to save, and no DP run (it would be too long)
    assert hopeful_step(0.7, 5, 0.5, 100_000, 300) is None
    assert step_stops(0.7, 5, 0.5, 100_000, 300).hope_saved == 0.0


@settings(max_examples=40, deadline=None)
@given(
    p=st.floats(0.51, 0.99),
    k=st.integers(1, 6),
    v=st.one_of(st.just(1.0), st.floats(0.3, 1.0)),
    cap=st.integers(1, 30),
    flags=st.one_of(st.none(), st.integers(1, 20)),
)
def test_loss_of_hope_matches_the_round_chain(p, k, v, cap, flags):
    engine = step_stops(p, k, v, cap, flags)
    undecided, samples = brute_rounds(p, k, v, cap, None if v >= 1.0 or (flags is not None and flags >= cap) else flags)
    assert engine.exact and engine.hope_saved is not None
    assert engine.p_undecided == pytest.approx(undecided, rel=1e-9, abs=1e-15)
    assert engine.expected_samples == pytest.approx(samples, rel=1e-9, abs=1e-12)
