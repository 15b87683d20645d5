"""Per-class grouping and seeded sampling of labels: stratified splits and subsamples, k shots per class."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from zoo_core.errors import DataError

if TYPE_CHECKING:
    from _typeshed import SupportsRichComparisonT as Label


def indices_by_class(labels: Iterable[Label]) -> dict[Label, list[int]]:
    """``{label: [indices of its items, ascending]}``, in sorted label order.

    Labels are any hashable, sortable values (strings, ints, numpy integers): ``["b", "a", "b"]``
    gives ``{"a": [1], "b": [0, 2]}``.
    """
    groups: dict[Label, list[int]] = {}
    for index, label in enumerate(labels):
        groups.setdefault(label, []).append(index)
    return {label: groups[label] for label in sorted(groups)}


def stratified_split(
    labels: Sequence[str], fraction: float, seed: int, *, min_per_class: int = 2
) -> tuple[list[int], list[int]]:
    """``(keep, held_out)`` sorted indices: about ``fraction`` of each class held out.

    Per class, ``round(n * fraction)`` (half up) items are held out, at least 1 and at most
    n - 1; classes with fewer than ``min_per_class`` (and at least 2) items stay whole in keep.
    One ``numpy.random.RandomState(seed)`` draws a permutation per class in label order.
    """
    import numpy as np

    if not 0 < fraction < 1:
        raise DataError(f"split fraction must be between 0 and 1, got {fraction}; e.g. 0.2")
    rng = np.random.RandomState(seed)
    keep: list[int] = []
    held: list[int] = []
    for indices in indices_by_class(labels).values():
        n = len(indices)
        if n < max(2, min_per_class):
            keep.extend(indices)
            continue
        # Half up, not Python's round-half-to-even: 5 items at 50% should hold out 3, like 7 holds out 4.
        k = min(max(math.floor(n * fraction + 0.5), 1), n - 1)
        order = rng.permutation(n)
        held.extend(indices[j] for j in order[:k])
        keep.extend(indices[j] for j in order[k:])
    return sorted(keep), sorted(held)


def take_shots(labels: Sequence[str], k: int, seed: int) -> list[int]:
    """Sorted indices of ``k`` random items per class (all of a class with fewer)."""
    import numpy as np

    if k < 1:
        raise DataError(f"shots per class must be at least 1, got {k}")
    rng = np.random.RandomState(seed)
    picked: list[int] = []
    for indices in indices_by_class(labels).values():
        if len(indices) <= k:
            picked.extend(indices)
        else:
            picked.extend(indices[j] for j in rng.permutation(len(indices))[:k])
    return sorted(picked)


def stratified_subsample(labels: Sequence[str], max_items: int, seed: int) -> list[int]:
    """Sorted indices of at most ``max_items`` items, classes in proportion, at least 1 each.

    With more classes than ``max_items`` the result has one item per class (more than asked).
    """
    import numpy as np

    if max_items < 1:
        raise DataError(f"the number of items to sample must be at least 1, got {max_items}")
    total = len(labels)
    if max_items >= total:
        return list(range(total))
    groups = indices_by_class(labels)
    quota = {c: max_items * len(ix) / total for c, ix in groups.items()}
    take = {c: min(len(groups[c]), max(1, math.floor(q))) for c, q in quota.items()}
    # Largest remainders fill what flooring left over...
    by_remainder = sorted(groups, key=lambda c: (-(quota[c] - math.floor(quota[c])), c))
    while sum(take.values()) < max_items:
        grown = False
        for c in by_remainder:
            if sum(take.values()) >= max_items:
                break
            if take[c] < len(groups[c]):
                take[c] += 1
                grown = True
        if not grown:
            break
    # ...and the at-least-one rule may overshoot: take back from the classes most over their share.
    while sum(take.values()) > max_items:
        shrinkable = [c for c in groups if take[c] > 1]
        if not shrinkable:
            break
        c = max(shrinkable, key=lambda c: (take[c] - quota[c], take[c]))
        take[c] -= 1
    rng = np.random.RandomState(seed)
    picked: list[int] = []
    for c, indices in groups.items():
        picked.extend(indices[j] for j in rng.permutation(len(indices))[: take[c]])
    return sorted(picked)
