"""The evaluation protocol behind ``station eval fingerprint``: pairs, error rates, the command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from calibration.defaults import CalibrationError
from calibration.fingerprint_eval import (
    error_rates,
    fvc_impostor_pairs,
    genuine_pairs,
    impostor_pairs,
)
from calibration.fingerprint_pipeline import folder_dpi, list_impressions
from station.cli import main


def test_an_fvc2002_folder_gives_the_protocol_pair_counts(datasets: Path) -> None:
    folder = datasets / "fingerprints" / "fvc2002_b" / "DB1_B"
    items = list_impressions(folder)
    assert len(items) == 80
    assert len(genuine_pairs(items)) == 280
    assert len(impostor_pairs(items)) == 2880
    fvc = fvc_impostor_pairs(items)
    assert len(fvc) == 45
    assert all(items[i][1] == 1 and items[j][1] == 1 for i, j in fvc)


def test_the_resolution_of_each_dev_set_is_known(datasets: Path) -> None:
    root = datasets / "fingerprints"
    for name, dpi in (("fvc2002_b/DB1_B", 500), ("fvc2002_b/DB2_B", 569), ("upek", 500)):
        paths = [path for _, _, path in list_impressions(root / name)]
        assert folder_dpi(paths) == dpi


def test_error_rates_of_separated_scores_are_zero() -> None:
    assert error_rates(np.array([0.8, 0.9]), np.array([0.1, 0.2, 0.3])) == (0, 0, 0, 0)


def test_error_rates_follow_the_definitions() -> None:
    genuine = np.array([0.2, 0.6, 0.7, 0.8])  # one genuine pair below every impostor
    impostor = np.linspace(0.0, 0.5, 200)
    eer, fmr100, fmr1000, zerofmr = error_rates(genuine, impostor)
    # accepting at 0.6 keeps 3 of 4 genuine pairs and no impostor: FNMR 0.25 at FMR 0
    assert zerofmr == fmr1000 == fmr100 == 0.25
    # between 0.2 and 0.5 FNMR is 0.25 while FMR falls from 0.6 to 0: they cross at 0.25
    assert eer == pytest.approx(0.25, abs=0.01)


def test_an_empty_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(CalibrationError):
        list_impressions(tmp_path)


def test_the_command_is_registered_under_eval() -> None:
    result = CliRunner().invoke(main, ["eval", "fingerprint", "--help"])
    assert result.exit_code == 0
    assert "--baseline" in result.output and "--json" in result.output


def test_the_json_output_has_the_documented_keys(datasets: Path, tmp_path: Path) -> None:
    source = datasets / "fingerprints" / "fvc2002_b" / "DB1_B"
    for name in ("101_1", "101_2", "102_1", "102_2"):
        (tmp_path / f"{name}.png").symlink_to(source / f"{name}.png")
    result = CliRunner().invoke(
        main, ["eval", "fingerprint", str(tmp_path), "--json", "--workers", "1"]
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    for key in ("eer", "fmr100", "fmr1000", "zerofmr", "genuine", "impostor", "seconds"):
        assert key in out
    assert (out["genuine"], out["impostor"], out["fvc_impostor"]) == (2, 4, 1)
    assert "baseline" not in out
    assert out["eer"] == 0.0


def test_the_nbis_baseline_runs_on_the_same_pairs_beside_ours(
    datasets: Path, tmp_path: Path
) -> None:
    """mindtct + bozorth3 (the afis port, about 9 s per image unless cached) on 2 x 2 prints."""
    source = datasets / "fingerprints" / "fvc2002_b" / "DB1_B"
    for name in ("101_1", "101_2", "102_1", "102_2"):
        (tmp_path / f"{name}.png").symlink_to(source / f"{name}.png")
    result = CliRunner().invoke(
        main,
        ["eval", "fingerprint", str(tmp_path), "--json", "--workers", "2", "--baseline", "nbis"],
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    baseline = out["baseline"]
    for key in ("eer", "fmr100", "fmr1000", "zerofmr", "genuine", "impostor", "seconds"):
        assert key in baseline
    assert (baseline["genuine"], baseline["impostor"]) == (out["genuine"], out["impostor"])
    assert 0.0 <= baseline["eer"] <= 1.0


def test_an_unknown_baseline_is_refused_with_the_valid_names(datasets: Path) -> None:
    from calibration.fingerprint_eval import evaluate_fingerprint

    with pytest.raises(CalibrationError, match="nbis"):
        evaluate_fingerprint(
            datasets / "fingerprints" / "fvc2002_b" / "DB1_B", baseline="other", limit_fingers=1
        )
