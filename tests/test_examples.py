"""The scripts in examples/ run at their --small size and still learn.

A long check (``slow``: ``make test-all`` runs it, ``make test`` does not): four processes of
10-17 s each, which on the 2-core CI machine crowd out the rest of the suite and took
``make test`` past its two minutes. All four runs start together when the module's first test
asks for them (each uses one thread), so the module costs about the slowest run rather than
the sum. Each bound is loose
against the measured value (stated in the script's docstring) and tight against a script
that does not learn: chance is 50% accuracy, and an untrained field is off by O(1) in state.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
RUNS = {
    "hdnn_classify": ["hdnn_classify.py", "--small"],
    "hnn_spring": ["hnn_spring.py", "--small"],
    "hnn_spring_separable": ["hnn_spring.py", "--small", "--separable"],
    "diffeqflux_tutorial": ["diffeqflux_tutorial.py", "--small"],
}


@pytest.fixture(scope="module")
def outputs() -> dict[str, str]:
    procs = {
        name: subprocess.Popen(
            [sys.executable, "-W", "error", str(EXAMPLES / script), *flags],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for name, (script, *flags) in RUNS.items()
    }
    results = {}
    for name, proc in procs.items():
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"examples/{RUNS[name][0]} failed:\n{out}"
        results[name] = out
    return results


def _last_number(text: str, label: str) -> float:
    found = re.findall(rf"{label} ([0-9.e+-]+)", text)
    assert found, f"no '{label}' in the output:\n{text}"
    return float(found[-1].rstrip("%"))


def test_hdnn_classify_beats_chance(outputs):
    accuracy = _last_number(outputs["hdnn_classify"], "test accuracy")  # 94.73 measured
    assert accuracy > 75.0


@pytest.mark.parametrize("name", ["hnn_spring", "hnn_spring_separable"])
def test_hnn_spring_follows_the_exact_solution(outputs, name):
    state_mse = _last_number(outputs[name], "state MSE")  # 1.9e-2 and 1.5e-2 measured
    assert state_mse < 0.1
    assert _last_number(outputs[name], "energy MSE") < 1e-3  # 2.1e-5 and 1.1e-5 measured


def test_diffeqflux_tutorial_stays_on_the_orbit(outputs):
    state_mse = _last_number(outputs["diffeqflux_tutorial"], "state MSE")  # 1.6e-6 measured
    assert state_mse < 1e-3
