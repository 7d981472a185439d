"""The confidence of one sample (not of a decision: that is `maker_cli.core.confidence`).

Used by `cisc` (each vote weighs its sample's confidence) and by early stopping (the leader's mean
sample confidence). Two sources, and every result says which one it used (`confidence_source`):

- **logprobs**, when the provider returned token log-probabilities (maker asks for them, with
  `logprobs=True`, only when a method needs them: cisc or early stopping): the geometric mean of
  the reply's token probabilities, exp(mean log p). That is the length-normalised sequence
  probability, the "response probability" family of confidences the CISC paper (arXiv:2502.06233)
  compares; the mean keeps a long answer from scoring low for its length alone, where the product
  (or the minimum) would. A MAKER step's reply is the answer (a short, formatted reply), so all
  its tokens count.
- **heuristic** otherwise: the design document's "Confidence Extraction" (finish reason, length
  against the token limit, hedging and self-correction phrases, confident assertions), a number
  in [0.1, 0.99]. It is a rough, text-only guess: replies in the same format get the same score,
  so it weighs little in a race between answers of one format; it is labelled as such everywhere.
  Format validity, the document's last signal, is implied: only valid votes are scored.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from maker_cli.providers.base import Completion

ConfidenceSource = Literal["logprobs", "heuristic"]

BASE = 0.8
"""The heuristic's score of a plain reply that stopped on its own, before the adjustments."""
FLOOR, CEILING = 0.1, 0.99

_HEDGES = re.compile(
    r"\b(maybe|perhaps|i think|i believe|probably|possibly|might be|not sure|i guess|seems? to be)\b", re.IGNORECASE
)
_CORRECTIONS = re.compile(
    r"\b(wait,|actually,|let me reconsider|i made a mistake|on second thought|hmm,|let me correct|sorry, i meant|"
    r"that's not right)",
    re.IGNORECASE,
)
_ASSERTIONS = re.compile(r"\b(definitely|clearly|certainly|the answer is)\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class SampleConfidence:
    value: float  # in [0, 1]
    source: ConfidenceSource


def from_logprobs(logprobs: Sequence[float] | None) -> float | None:
    """exp(mean token log-probability), or None without (finite) log-probabilities."""
    if not logprobs:
        return None
    finite = [lp for lp in logprobs if not math.isnan(lp)]
    if not finite:
        return None
    mean = sum(min(0.0, lp) for lp in finite) / len(finite)
    return math.exp(mean)


def heuristic(text: str, finish_reason: str | None, output_tokens: int | None, max_output_tokens: int | None) -> float:
    """The design document's text-only score in [0.1, 0.99] (see the module doc)."""
    score = BASE
    if finish_reason == "length":
        score -= 0.4
    if output_tokens is not None and max_output_tokens:
        used = output_tokens / max_output_tokens
        if used > 0.9:
            score -= 0.2
        elif used > 0.5:
            score -= 0.1
    score -= min(0.3, 0.1 * len(_HEDGES.findall(text)))
    score -= min(0.3, 0.15 * len(_CORRECTIONS.findall(text)))
    score += min(0.1, 0.05 * len(_ASSERTIONS.findall(text)))
    return min(CEILING, max(FLOOR, score))


def sample_confidence(completion: Completion, max_output_tokens: int | None = None) -> SampleConfidence:
    """The sample's confidence: from its log-probabilities when it has them, else the heuristic."""
    value = from_logprobs(completion.logprobs)
    if value is not None:
        return SampleConfidence(value, "logprobs")
    guess = heuristic(completion.text, completion.finish_reason, completion.output_tokens, max_output_tokens)
    return SampleConfidence(guess, "heuristic")


__all__ = ["ConfidenceSource", "SampleConfidence", "from_logprobs", "heuristic", "sample_confidence"]
