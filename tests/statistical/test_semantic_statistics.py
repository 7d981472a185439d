"""Semantic matching pays: when a model restates its answers (the simulated model's `paraphrase`),
exact matching splits the right answer's votes over its paraphrases and needs more samples; with an
`embedding` step the paraphrases vote together, and a vote is the paper's two-answer race again
(P(right) and E[votes] from the exact formulas, tolerances from the standard error)."""

from __future__ import annotations

import asyncio
import math
import statistics

from maker_cli.core.engine import Engine, StepResult, VoteConfig
from maker_cli.providers.embeddings import make_matcher
from maker_cli.providers.paraphrase import core
from maker_cli.providers.sim import SimProvider
from maker_cli.specs.matching import EmbeddingMatch
from maker_cli.specs.question import QuestionSpec
from maker_cli.tasks.question import QuestionTask

P, K, VOTES = 0.8, 3, 400
SPEC = QuestionSpec.model_validate(
    {
        "name": "capital",
        "user": "The capital of {{country}}?",
        "inputs": ["country", "expected"],
        "answer": {"regex": "(?m)^Answer: *(?P<answer>.+?) *$", "canonical": ["strip", "lowercase"]},
        "expected": "{{expected}}",
        "sim_response": "Answer: {{answer}}",
    }
)
RULE = EmbeddingMatch(model="sim", threshold=0.9)


def votes(semantic: bool) -> list[StepResult]:
    task = QuestionTask(SPEC, {"country": "France", "expected": "Paris"})
    prompt = task.prompt(simulated=True)
    sim = SimProvider(f"sim:p={P},paraphrase=0.5,errors=collide,seed={7 if semantic else 8}")
    engine = Engine(sim)
    cfg = VoteConfig(k=K, max_samples=200)

    async def go() -> list[StepResult]:
        return [
            await engine.vote(prompt, task.judge(), cfg, matcher=make_matcher(RULE) if semantic else None)
            for _ in range(VOTES)
        ]

    return asyncio.run(go())


def test_paraphrases_decide_right_with_fewer_samples_when_matched():
    matched, exact = votes(True), votes(False)
    r = (1 - P) / P
    p_right = 1 / (1 + r**K)
    expected_votes = K / (2 * P - 1) * (1 - r**K) / (1 + r**K)

    right = [v.decided and core(v.winner or "") == "paris" for v in matched]
    share = sum(right) / VOTES
    se = math.sqrt(p_right * (1 - p_right) / VOTES)
    assert share >= p_right - 4 * se  # the two-answer race again: about 0.985 right
    samples = [v.samples for v in matched]
    mean = statistics.fmean(samples)
    assert abs(mean - expected_votes) < 4 * statistics.stdev(samples) / math.sqrt(VOTES)

    exact_samples = [v.samples for v in exact]
    exact_mean = statistics.fmean(exact_samples)
    se_diff = math.sqrt(statistics.variance(samples) / VOTES + statistics.variance(exact_samples) / VOTES)
    assert exact_mean - mean > 4 * se_diff  # paraphrases split the votes without matching
    assert exact_mean > 1.3 * mean
    assert all(len(v.tallies) >= 1 for v in exact) and statistics.fmean(len(v.tallies) for v in exact) > 2
