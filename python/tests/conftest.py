"""Fixtures of the Python package's tests: generated documents (seeded, with nulls) and a
directory of pipeline files with their Python modules."""

import random

import pyarrow as pa
import pytest

WORDS = ["river", "node", "Arrow", "fusion", "batch", "été", "naïve", "QUERY", "x", "longer-word"]


def documents(rows, seed=7):
    """`rows` documents: `id`, `text` (a few words, null about one time in ten) and `score`
    (an int, null about one time in eight)."""
    generator = random.Random(seed)
    texts = [
        None if generator.random() < 0.1 else " ".join(generator.choices(WORDS, k=generator.randint(1, 6)))
        for _ in range(rows)
    ]
    scores = [None if generator.random() < 0.125 else generator.randint(-50, 50) for _ in range(rows)]
    return pa.table({"id": pa.array(range(rows), pa.int64()), "text": texts, "score": pa.array(scores, pa.int64())})


@pytest.fixture
def docs():
    """200 generated documents."""
    return documents(200)
