"""Paraphrases and their embeddings for the simulated model (offline tests of semantic matching).

The simulated model (`sim:paraphrase=F`) restates an answer with one of `TEMPLATES` ("Paris" ->
"the answer is Paris"); `sim_vector` embeds a text deterministically so that every restatement of
one answer lands close to the others (cosine about 0.98) and different answers land far apart
(cosine near 0, at most about 0.4 in 128 dimensions): the simulated embedding model (`sim`) and
the fake server's `/v1/embeddings` both use it.
"""

from __future__ import annotations

import hashlib
import math
import random
import re

from maker_cli.core.clusters import cosine as cosine  # part of this module's API

TEMPLATES = (
    "{}",
    "the answer is {}",
    "it is {}",
    "{}, I believe",
    "I would say {}",
    "{} (final answer)",
    "my answer: {}",
    "surely {}",
)
DIMENSIONS = 128
NOISE = 0.15  # the length of a text's own noise next to its answer's unit vector
_PATTERNS = [re.compile(re.escape(t).replace(r"\{\}", "(.+)"), re.IGNORECASE | re.DOTALL) for t in TEMPLATES[1:]]


def paraphrase(text: str, variant: int) -> str:
    """`text` restated with template `variant` (modulo their number; 0 is the text itself)."""
    return TEMPLATES[variant % len(TEMPLATES)].format(text)


def core(text: str) -> str:
    """The answer a restatement states: the templates peeled off, case and outer space ignored."""
    text = " ".join(text.split()).strip(" .")
    for _ in range(4):  # a restatement of a restatement
        for pattern in _PATTERNS:
            found = pattern.fullmatch(text)
            if found is not None:
                text = found.group(1).strip(" .")
                break
        else:
            break
    return text.lower()


def _unit(seed_text: str, dimensions: int) -> list[float]:
    seed = int.from_bytes(hashlib.sha256(seed_text.encode("utf-8", "surrogatepass")).digest()[:8], "big")
    rng = random.Random(seed)
    vector = [rng.gauss(0.0, 1.0) for _ in range(dimensions)]
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]


def sim_vector(text: str, dimensions: int = DIMENSIONS) -> list[float]:
    """A unit vector: the answer's own direction plus a little of the text's (see the module doc)."""
    base = _unit("answer\x00" + core(text), dimensions)
    noise = _unit("text\x00" + text, dimensions)
    vector = [b + NOISE * n for b, n in zip(base, noise, strict=True)]
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]
