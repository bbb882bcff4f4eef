"""Deterministic assignment of users to experiment variations, as GrowthBook's SDKs do it.

A user's hash attribute (``id`` by default) and the experiment's seed (its key by default)
hash to a number in ``[0, 1)``: ``(fnv1a32(value + seed) % 1000) / 1000`` for hash version 1,
``(fnv1a32(str(fnv1a32(seed + value))) % 10000) / 10000`` for version 2. Each variation owns a
range ``[start, start + coverage * weight)`` where ``start`` is the sum of the weights before it,
so lowering the coverage never moves a user from one variation to another; a number that falls
in no range is outside the experiment. A namespace ``(id, start, end)`` admits only users whose
``hash("__" + id, value, 1)`` lies in ``[start, end)``, so that experiments sharing a namespace
with disjoint ranges never share a user. FNV-1a runs over UTF-16 code units, like the
JavaScript SDK's ``charCodeAt`` loop, so every SDK agrees on non-ASCII ids.

Examples
--------
>>> fnv1a32("a")
3826002220
>>> gb_hash("", "a", 1), gb_hash("seed", "a", 2), gb_hash("seed", "a", 99)
(0.22, 0.0505, None)
>>> bucket_ranges(3, weights=[0.2, 0.3, 0.5])
[(0.0, 0.2), (0.2, 0.5), (0.5, 1.0)]
>>> choose_variation(0.4, [(0.0, 0.25), (0.5, 0.75)])
-1
>>> assign("123", key="feature", variations=3)
Assignment(variation=2, in_experiment=True, hash_used=True, bucket=0.863)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

FNV_OFFSET = 0x811C9DC5
FNV_PRIME = 0x01000193
HASH_VERSIONS = (1, 2)
#: Weight vectors summing outside this band are replaced by equal weights (GrowthBook's rule).
WEIGHT_SUM_BAND = (0.99, 1.01)

Range = tuple[float, float]
Namespace = tuple[str, float, float]


def fnv1a32(text: str) -> int:
    """FNV-1a, 32 bits, over the UTF-16 code units of ``text``.

    >>> fnv1a32(""), fnv1a32("é") == fnv1a32("\\u00e9")
    (2166136261, True)
    """
    value = FNV_OFFSET
    data = text.encode("utf-16-le", "surrogatepass")
    for i in range(0, len(data), 2):
        value = ((value ^ (data[i] | data[i + 1] << 8)) * FNV_PRIME) & 0xFFFFFFFF
    return value


def gb_hash(seed: str, value: str, version: int) -> float | None:
    """GrowthBook's hash of ``value`` under ``seed``: a number in ``[0, 1)``, or None for an
    unknown hash ``version``.

    >>> gb_hash("foo", "ab", 2)
    0.2575
    """
    if version == 2:
        return (fnv1a32(str(fnv1a32(seed + value))) % 10000) / 10000
    if version == 1:
        return (fnv1a32(value + seed) % 1000) / 1000
    return None


def equal_weights(count: int) -> list[float]:
    """``count`` equal weights (none for a count below 1).

    >>> equal_weights(4)
    [0.25, 0.25, 0.25, 0.25]
    """
    return [1 / count] * count if count >= 1 else []


def _usable(weights: Sequence[float] | None, count: int) -> bool:
    if weights is None or len(weights) != count or any(w < 0 for w in weights):
        return False
    low, high = WEIGHT_SUM_BAND
    return low <= sum(weights) <= high


def bucket_ranges(
    count: int, *, coverage: float = 1.0, weights: Sequence[float] | None = None
) -> list[Range]:
    """Each variation's range of hash values; coverage is clamped to ``[0, 1]`` and unusable
    weights (wrong length, negative, sum outside 0.99..1.01) become equal weights.

    >>> bucket_ranges(2, coverage=0.5)
    [(0.0, 0.25), (0.5, 0.75)]
    """
    coverage = min(max(coverage, 0.0), 1.0)
    chosen = list(weights) if weights is not None and _usable(weights, count) else None
    ranges: list[Range] = []
    start = 0.0
    for weight in chosen or equal_weights(count):
        ranges.append((start, start + coverage * weight))
        start += weight
    return ranges


def in_range(n: float, bounds: Range) -> bool:
    """``bounds[0] <= n < bounds[1]``."""
    return bounds[0] <= n < bounds[1]


def choose_variation(n: float, ranges: Sequence[Range]) -> int:
    """The index of the first range holding ``n``; -1 when none does.

    >>> choose_variation(0.5, [(0, 0.5), (0.5, 0.5), (0.5, 1)])
    2
    """
    for index, bounds in enumerate(ranges):
        if in_range(n, bounds):
            return index
    return -1


def in_namespace(hash_value: str, namespace: Namespace) -> bool:
    """Whether ``hash_value`` falls in the namespace ``(id, start, end)``.

    >>> in_namespace("1", ("namespace1", 0.4, 1)), in_namespace("1", ("namespace1", 0, 0.4))
    (True, False)
    """
    n = gb_hash("__" + namespace[0], hash_value, 1)
    return n is not None and namespace[1] <= n < namespace[2]


@dataclass(frozen=True)
class Assignment:
    """The variation a user gets (0, the control, when outside the experiment), whether the
    hash chose it (``hash_used``; False for a forced variation) and the hash value (None
    when no hash was computed: an inactive experiment, a namespace miss, a bad hash version)."""

    variation: int
    in_experiment: bool
    hash_used: bool
    bucket: float | None


def assign(
    hash_value: str,
    *,
    key: str,
    variations: int,
    weights: Sequence[float] | None = None,
    coverage: float = 1.0,
    seed: str | None = None,
    hash_version: int = 1,
    namespace: Namespace | None = None,
    force: int | None = None,
    active: bool = True,
) -> Assignment:
    """The variation of the experiment ``key`` for the user whose hash attribute is
    ``hash_value``, in the order of GrowthBook's ``run``: an empty value, an inactive
    experiment or a namespace miss get the control outside the experiment; then the hash
    picks a range (none: outside); then a forced variation overrides the hashed one.

    >>> assign("1", key="my-test", variations=2, namespace=("namespace", 0, 0.1))
    Assignment(variation=0, in_experiment=False, hash_used=False, bucket=None)
    >>> assign("1", key="key", variations=2, seed="foo", hash_version=2)
    Assignment(variation=1, in_experiment=True, hash_used=True, bucket=0.5844)
    >>> assign("1", key="my-test", variations=2, force=1)
    Assignment(variation=1, in_experiment=True, hash_used=False, bucket=0.969)
    >>> assign("1", key="my-test", variations=2, coverage=0.01, force=1).in_experiment
    False
    """
    outside = Assignment(0, False, False, None)
    if variations < 2 or not hash_value or not active:
        return outside
    if namespace is not None and not in_namespace(hash_value, namespace):
        return outside
    n = gb_hash(seed or key, hash_value, hash_version)
    if n is None:
        return outside
    chosen = choose_variation(n, bucket_ranges(variations, coverage=coverage, weights=weights))
    if chosen < 0:
        return Assignment(0, False, False, n)
    if force is not None:
        return Assignment(force, True, False, n) if 0 <= force < variations else outside
    return Assignment(chosen, True, True, n)
