"""The fast rows of `tissuefate validate` pass; the calibration rows run in the slow tier."""

import pytest

from tissuefate.validation import CASES, run_validation, write_validation


def test_fast_validation_rows_pass(tmp_path):
    rows = run_validation(fast=True)
    assert len(rows) >= 6
    failed = [f"{r.case}: {r.quantity} = {r.simulated_str} vs {r.reference_str} ({r.tolerance})"
              for r in rows if not r.passed]
    assert not failed, failed
    write_validation(rows, tmp_path)
    assert (tmp_path / "validation.csv").read_text().count("\n") == len(rows) + 1


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n, (fast, _) in CASES.items() if not fast])
def test_calibration_rows_run(name):
    rows = run_validation(only=[name])
    assert rows and all(r.simulated == r.simulated for r in rows)  # finite numbers, reported
