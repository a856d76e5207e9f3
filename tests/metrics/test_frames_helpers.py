"""The integer shortcuts of :mod:`devflow.metrics.frames` (packed sort keys, bincount group-bys)
give exactly what a plain multi-key sort and a dictionary group-by give, on the fast path and on
the exact fallbacks that big values force."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import polars as pl
import pytest

from devflow.metrics.frames import _coded, _edit_order, _grouped_sums, _order


def _sorted_keys(order: np.ndarray, *columns: np.ndarray) -> list[tuple[int, ...]]:
    return [tuple(int(c[i]) for c in columns) for i in order]


@pytest.mark.parametrize("group_scale", [1, 2**40])  # 2**40: group × span overflows 63 bits → lexsort
def test_edit_order_sorts_by_group_then_time(group_scale: int) -> None:
    rng = np.random.default_rng(7)
    group = rng.integers(0, 50, 5000).astype(np.int64) * group_scale
    timestamp = rng.integers(0, 2**30, 5000).astype(np.int64)
    order = _edit_order(group, timestamp)
    assert sorted(order.tolist()) == list(range(5000))
    got = _sorted_keys(order, group, timestamp)
    assert got == sorted(zip(group.tolist(), timestamp.tolist(), strict=True))


@pytest.mark.parametrize("scale", [1, 2**30])  # 2**30 on three keys: no packed key fits → lexsort
def test_order_matches_a_multi_key_sort(scale: int) -> None:
    rng = np.random.default_rng(3)
    columns = [rng.integers(0, 40, 3000).astype(np.int64) * scale for _ in range(3)]
    order = _order(columns)
    assert _sorted_keys(order, *columns) == sorted(zip(*(c.tolist() for c in columns), strict=True))


@pytest.mark.parametrize(
    ("user_of_session", "big"),
    [(True, False), (False, False), (True, True)],  # big: sums ≥ 2**53 → Polars group-by, exact
)
def test_grouped_sums_match_a_dictionary(user_of_session: bool, big: bool) -> None:
    rng = np.random.default_rng(11)
    n = 4000
    sessions = rng.integers(0, 60, n).astype(np.int64)
    users = sessions % 7 if user_of_session else rng.integers(0, 7, n).astype(np.int64)
    days = rng.integers(20_000, 20_010, n).astype(np.int64)
    values = rng.integers(-5, 50, n).astype(np.int64) * (2**52 if big else 1)
    flags = rng.random(n) < 0.3
    groups = _grouped_sums([users, sessions, days], {"v": values, "f": flags, "n": None})
    keys, sums = groups.keys, groups.sums
    expected: dict[tuple[int, int, int], list[int]] = defaultdict(lambda: [0, 0, 0])
    for u, s, d, v, f in zip(users, sessions, days, values, flags, strict=True):
        entry = expected[(int(u), int(s), int(d))]
        entry[0] += int(v)
        entry[1] += int(f)
        entry[2] += 1
    got = {
        (int(u), int(s), int(d)): [int(sums["v"][i]), int(sums["f"][i]), int(sums["n"][i])]
        for i, (u, s, d) in enumerate(zip(*keys, strict=True))
    }
    assert got == dict(expected)
    assert len(keys[0]) == len(expected)
    # every row points at its own group
    for i in range(n):
        g = int(groups.row_group[i])
        assert (int(keys[0][g]), int(keys[1][g]), int(keys[2][g])) == (
            int(users[i]),
            int(sessions[i]),
            int(days[i]),
        )


def test_codes_are_exact_across_the_chunks_of_a_scan() -> None:
    """String codes over a column in many chunks (one per scanned file): equal strings share a code
    whichever chunk they are in, nulls get -1, and decoding gives the strings back."""
    rng = np.random.default_rng(7)
    pool = [f"{i:036d}" for i in range(50)] + ["", "ü-ß"]
    chunks = [
        pl.Series(
            "s",
            [None if rng.random() < 0.1 else pool[int(rng.integers(len(pool)))] for _ in range(n)],
            dtype=pl.String,
        )
        for n in (0, 5, 300, 1, 77)
    ]
    column = pl.concat(chunks, rechunk=False)
    assert column.n_chunks() > 1
    coded = _coded(column)
    values = column.to_list()
    assert coded.codes.tolist() == [-1 if v is None else coded.dictionary.to_list().index(v) for v in values]
    assert coded.decode(coded.codes).to_list() == values
    assert len(set(coded.dictionary.to_list())) == coded.size  # one code per distinct string
