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
    settings = VerificationSettings(widths=(16, 32), members=20, heads=2, train_points=4, test_points=3, repeats=2)
    report = run_sweep(settings)

    paths = write_report(report, tmp_path)

    saved = json.loads(paths["json"].read_text())
    markdown = paths["markdown"].read_text()
    assert [measurement["width"] for measurement in saved["measurements"]] == [16, 32]
    for measurement in report["measurements"]:
        ratios = [run["claim2"]["variance_ratio"] for run in measurement["repeats"]]
        entry = measurement["aggregate"]["claim2"]["variance_ratio"]
        assert entry["mean"] == pytest.approx(sum(ratios) / 2)
        assert entry["se"] == pytest.approx(abs(ratios[0] - ratios[1]) / 2)
        assert f"{entry['mean']:.3f} +- {entry['se']:.3f}" in markdown
    assert saved["measurements"][0]["claim1"]["noise_floor"] == pytest.approx(math.sqrt(2 / 40))
    assert "did not converge" not in markdown
    assert paths["errors_plot"].stat().st_size > 5_000
    assert paths["variances_plot"].stat().st_size > 5_000


def test_report_warns_when_training_stops_early(tmp_path):
    settings = VerificationSettings(widths=(16,), members=4, heads=2, train_points=4, test_points=3, max_steps=5)

    report = run_sweep(settings)

    assert report["measurements"][0]["converged"] is False
    assert "did not converge at widths [16]" in write_report(report, tmp_path)["markdown"].read_text()


def test_expected_noise_matches_independent_samples():
    from rnd_explore.ntk.claims import compare_covariance
    import torch

    generator = torch.Generator().manual_seed(0)
    covariance = torch.tensor([[1.0, 0.5], [0.5, 2.0]], dtype=torch.float64)
    factor = torch.linalg.cholesky(covariance)
    ratios = []
    for _ in range(400):
        samples = torch.randn(200, 2, generator=generator, dtype=torch.float64) @ factor.T
        result = compare_covariance(samples, covariance)
        ratios.append(result.variance_ratio)

    # The spread of the ratio over 400 repeats matches the predicted Monte-Carlo std within 15%
    # (the std of a std estimated from 400 draws is about 3.5%).
    spread = torch.tensor(ratios).std().item()
    assert spread == pytest.approx(result.ratio_noise, rel=0.15)


def test_settings_reject_bad_values():
    with pytest.raises(ValueError, match="widths must not repeat"):
        VerificationSettings(widths=(16, 32, 16)).validate()
    with pytest.raises(ValueError, match="test_points must be >= 2"):
        VerificationSettings(test_points=1).validate()
    with pytest.raises(ValueError, match="members must be >= 2"):
        VerificationSettings(members=1).validate()
    with pytest.raises(ValueError, match="tolerance must be a finite number > 0"):
        VerificationSettings(tolerance=float("nan")).validate()
    with pytest.raises(ValueError, match="weight_variance must be a finite number > 0, got 0"):
        VerificationSettings(weight_variance=0.0).validate()
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
