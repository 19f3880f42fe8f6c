"""The order a pytest-xdist worker gives the collection: each worker's first share of the tests
starts with long ones, so that no long test is left to end the run alone."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest

from tests.support.parallel import start_long_tests_first


@dataclass
class Item:
    name: str

    def get_closest_marker(self, name: str) -> object | None:
        return object() if name == "slow" and self.name.startswith("long") else None


def ordered(names: list[str], **config: Any) -> list[str]:
    items: list[Any] = [Item(name) for name in names]
    start_long_tests_first(SimpleNamespace(**config), items)  # type: ignore[arg-type]
    return [item.name for item in items]


def worksteal_shares(count: int, workers: int) -> list[range]:
    """The contiguous shares that ``--dist worksteal`` first hands out, as it computes them."""
    shares, start = [], 0
    for worker in range(workers):
        size = (count - start) // (workers - worker)
        shares.append(range(start, start + size))
        start += size
    return shares


@pytest.mark.parametrize("workers", [2, 3, 4, 8])
def test_every_worker_starts_with_a_long_test_while_there_are_enough(workers: int) -> None:
    names = [f"fast{i}" for i in range(30)] + [f"long{i}" for i in range(5)]
    result = ordered(names, workerinput={"workercount": workers})
    assert sorted(result) == sorted(names)
    heads = [result[share.start] for share in worksteal_shares(len(names), workers)]
    assert sum(head.startswith("long") for head in heads) == min(workers, 5)
    for share in worksteal_shares(len(names), workers):
        mine = [result[i] for i in share]
        longs = [name for name in mine if name.startswith("long")]
        assert mine[: len(longs)] == longs  # a share's long tests come before its fast ones


def test_outside_a_worker_the_collection_keeps_its_order() -> None:
    names = ["fast0", "long0", "fast1", "long1"]
    assert ordered(names) == names
    assert ordered(names, workerinput={"workercount": 1}) == names
