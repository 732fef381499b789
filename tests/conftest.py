"""How the suite runs under pytest-xdist: one torch thread per worker, the long tests first.

``make test`` runs two pytest-xdist workers on two cores; torch's default of one OpenMP thread
per core would put four threads on two cores while both workers compute.

The workers take the tests in collection order. A long
test that is started last keeps one worker busy while the other has nothing left to do, so the
tests marked ``@pytest.mark.long(seconds)`` (their CPU time in one process, measured) are
moved to the front of the collection, longest first; every other test keeps its place.
"""

from __future__ import annotations

import os

import pytest


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("PYTEST_XDIST_WORKER"):
        import torch

        torch.set_num_threads(1)


def _seconds(item: pytest.Item) -> float:
    marker = item.get_closest_marker("long")
    return float(marker.args[0]) if marker is not None else 0.0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    long = sorted((i for i in items if _seconds(i) > 0), key=_seconds, reverse=True)
    items[:] = long + [i for i in items if _seconds(i) == 0]
