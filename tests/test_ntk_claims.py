"""The three equivalences at two widths, and the verification report's files."""

import json
import math

import pytest

from rnd_explore.ntk import VerificationSettings, analytic_reference, make_dataset, measure_width
from rnd_explore.ntk.report import run_sweep, write_report

# 200 members x 8 heads = 1600 samples per test point: a variance has relative Monte-Carlo
# std sqrt(2 / 1600) = 3.5%, so 3 sigma is about 0.1. Width 32 is narrow enough for
# finite-width bias to exceed that noise; width 256 is close to the limit.
TOLERANCE = 0.1


@pytest.fixture(scope="module")
def measurements():
    settings = VerificationSettings(members=200).validate()
    data = make_dataset(settings)
    reference = analytic_reference(data, settings.spec)
    return {width: measure_width(width, settings, data, reference) for width in (32, 256)}


@pytest.mark.slow
def test_training_converges(measurements):
    for measurement in measurements.values():
        for steps, residual in measurement["training"].values():
            assert residual < 1e-6


@pytest.mark.slow
def test_claims_hold_at_moderate_width(measurements):
    wide = measurements[256]

    assert abs(wide["claim1"]["variance_ratio"] - 1) < TOLERANCE
    assert abs(wide["claim1"]["extra"]["ensemble_variance_ratio"] - 1) < TOLERANCE
    assert abs(wide["claim2"]["variance_ratio"] - 1) < TOLERANCE
    assert wide["claim2"]["relative_frobenius_error"] < 1.5 * TOLERANCE
    assert wide["claim3"]["relative_frobenius_error"] < 1.5 * TOLERANCE
    assert wide["claim3"]["extra"]["mean_relative_error"] < 1.5 * TOLERANCE


@pytest.mark.slow
def test_distribution_shapes_pass(measurements):
    wide = measurements[256]["claim1"]["extra"]
    bayes = measurements[256]["claim2"]["extra"]

    assert wide["chi2_ks_distance"] < wide["chi2_ks_critical_5pct"]
    assert bayes["gaussian_ks_distance"] < bayes["gaussian_ks_critical_5pct"]


@pytest.mark.slow
def test_controls_fail(measurements):
    extra = measurements[256]["claim2"]["extra"]

    # The NNGP posterior underestimates the Bayesian-RND variance about threefold here, and
    # 2 Sigma_f is the RND error covariance, not the posterior's.
    assert extra["control_nngp_posterior_error"] > 1.0
    assert extra["control_nngp_posterior_variance_ratio"] > 2.0
    assert extra["control_two_sigma_f_error"] > 3 * TOLERANCE


@pytest.mark.slow
def test_errors_shrink_with_width(measurements):
    narrow, wide = measurements[32], measurements[256]

    assert abs(wide["claim2"]["variance_ratio"] - 1) < abs(narrow["claim2"]["variance_ratio"] - 1)
    narrow_ensemble = abs(narrow["claim1"]["extra"]["ensemble_variance_ratio"] - 1)
    wide_ensemble = abs(wide["claim1"]["extra"]["ensemble_variance_ratio"] - 1)
    assert wide_ensemble < narrow_ensemble
    assert wide["claim3"]["extra"]["mean_relative_error"] < narrow["claim3"]["extra"]["mean_relative_error"]


def test_report_files_contain_the_numbers(tmp_path):
    settings = VerificationSettings(widths=(16, 32), members=20, heads=2, train_points=4, test_points=3)
    report = run_sweep(settings)

    paths = write_report(report, tmp_path)

    saved = json.loads(paths["json"].read_text())
    markdown = paths["markdown"].read_text()
    assert [measurement["width"] for measurement in saved["measurements"]] == [16, 32]
    for measurement in report["measurements"]:
        ratio = measurement["claim2"]["variance_ratio"]
        assert f"| {measurement['width']} | claim2 | {ratio:.3f} |" in markdown
    assert saved["measurements"][1]["claim1"]["variance_ratio"] == pytest.approx(
        report["measurements"][1]["claim1"]["variance_ratio"]
    )
    assert saved["measurements"][0]["claim1"]["noise_floor"] == pytest.approx(math.sqrt(2 / 40))
    assert paths["errors_plot"].stat().st_size > 5_000
    assert paths["variances_plot"].stat().st_size > 5_000


def test_settings_reject_bad_values():
    with pytest.raises(ValueError, match="depth must be >= 2"):
        VerificationSettings(depth=1).validate()
    with pytest.raises(ValueError, match="Unknown dataset 'mnist'"):
        VerificationSettings(dataset="mnist").validate()
    with pytest.raises(ValueError, match="width must be an integer >= 1, got 0"):
        VerificationSettings(widths=(0,)).validate()


def test_one_dimensional_report_draws_posterior_samples(tmp_path):
    settings = VerificationSettings(widths=(32,), members=10, heads=2, dataset="sine1d", train_points=4, test_points=20)
    report = run_sweep(settings)

    paths = write_report(report, tmp_path)

    draws = report["measurements"][0]["posterior_draws"]
    assert len(draws) == 5
    assert all(len(draw) == 20 for draw in draws)
    assert paths["posterior_plot"].stat().st_size > 5_000
