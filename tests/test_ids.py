"""Monotonic ids: a batch of ids is the same sequence as one id at a time would be."""

from __future__ import annotations

import pytest

from growthos_pipeline.ids import _PAIRS, MonotonicIds


def encoded(prefix: str, r: int) -> str:
    return prefix + "".join(_PAIRS[(r >> shift) & 1023] for shift in range(70, -1, -10))


@pytest.mark.parametrize("count", [1, 3, 100, 1024, 1025, 3000])
@pytest.mark.parametrize("start", [0, 1000, 1023, (1 << 79) + 1020])
def test_a_batch_is_consecutive_ids_across_run_boundaries(count: int, start: int) -> None:
    ids = MonotonicIds("evt")
    ids.new()  # sets the millisecond's prefix
    ids._ms = 1 << 60  # stay in that millisecond: ids count up from the random part
    ids._random = start - 1
    batch = ids.new_many(count)
    assert batch == [encoded(ids._prefix, start + k) for k in range(count)]
    assert batch == sorted(batch) and len(set(batch)) == count
    assert ids.new() > batch[-1]
