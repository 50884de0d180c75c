"""The benchmark's report: a target aimed at but not met is printed, and does not fail the run."""

from __future__ import annotations

import pytest

from bench.harness import report


@pytest.fixture(autouse=True)
def results() -> None:
    saved = list(report.RESULTS)
    report.RESULTS.clear()
    yield
    report.RESULTS[:] = saved


def test_target_not_met_is_printed_and_does_not_fail(capsys: pytest.CaptureFixture[str]) -> None:
    report.check("throughput", "ratio", measured="25%", limit=">= 60%", passed=False, gating=False)

    failed = report.summary()

    assert failed == 0
    assert "[TARGET (not met)] ratio: 25%  (target >= 60%)" in capsys.readouterr().out


def test_gating_target_fails_and_a_met_one_passes(capsys: pytest.CaptureFixture[str]) -> None:
    report.check("throughput", "floor ratio", measured="50%", limit=">= 60%", passed=False)
    report.check("throughput", "bare ratio", measured="70%", limit=">= 60%", passed=True, gating=False)

    failed = report.summary()

    out = capsys.readouterr().out
    assert failed == 1
    assert "[FAIL] floor ratio: 50%" in out
    assert "[PASS] bare ratio: 70%" in out
