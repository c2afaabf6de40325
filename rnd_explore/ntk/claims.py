"""Measure the three RND / ensemble / Bayesian equivalences at one network width.

Each claim compares statistics over M members x D heads of finite networks, all trained
in one batched model by full-batch gradient descent in float64, with analytic kernels:

1. RND: ``1/2 E[eps^2]`` and the empirical variance of an M-member ensemble trained on zero
   labels both equal ``Sigma_f``, the deep-ensemble variance, so ``Cov(eps) = 2 Sigma_f``.
   The head-averaged ``1/2 mean_h eps_h^2`` is ``Sigma_f / D * chi2_D``, whose shape is
   tested apart from its scale.
2. Bayesian RND: ``Cov(eps_b)`` equals the NTK-GP posterior covariance, with Gaussian
   marginals. Two controls must fail: the NNGP posterior and ``2 Sigma_f``.
3. Posterior samples ``mean + eps_b`` have the posterior mean ``Theta_*X Theta_XX^-1 Y`` and
   the posterior covariance.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from gymnasium import spaces

from rnd_explore._checks import check_choice, check_positive_float, check_positive_int
from rnd_explore.bonuses import BayesianRNDBonus, BonusConfig, EnsembleVarianceBonus, RNDBonus
from rnd_explore.ntk.empirical import empirical_ntk, train_full_batch
from rnd_explore.ntk.kernels import ReluKernelSpec, ensemble_covariance, gp_posterior_covariance, posterior_mean, relu_kernels

DATASETS = ("gaussian", "sine1d")


@dataclass
class VerificationSettings:
    """Settings of one verification sweep."""

    widths: tuple[int, ...] = (64, 256, 1024)
    """Hidden layer widths, one measurement each."""
    depth: int = 2
    """Weight layers (2 = one hidden layer)."""
    members: int = 200
    """M, independent networks per model; samples per test point are M x heads."""
    heads: int = 8
    """D, outputs per network."""
    weight_variance: float = 2.0
    """s_w^2."""
    bias_variance: float = 0.5
    """s_b^2."""
    dataset: str = "gaussian"
    """gaussian: Gaussian points in R^dimension (well conditioned); sine1d: 1-D points for pictures."""
    train_points: int = 8
    """Training inputs."""
    test_points: int = 8
    """Held-out inputs where the statistics are compared."""
    dimension: int = 8
    """Input dimension of the gaussian data set."""
    seed: int = 0
    """Seed of the data and of every network."""
    tolerance: float = 1e-6
    """Training stops when every absolute residual is below it."""
    max_steps: int = 20_000
    """Gradient-descent steps at most."""
    repeats: int = 1
    """Independent sets of networks per width, seeded seed, seed + 100, seed + 200 and so on.
    The report gives the mean and standard error of every statistic over them."""
    device: str = "cpu"
    """Torch device."""

    def validate(self) -> "VerificationSettings":
        """Check the fields and return ``self``."""
        for width in self.widths:
            check_positive_int("width", width)
        if len(set(self.widths)) != len(self.widths):
            raise ValueError(f"widths must not repeat, got {list(self.widths)}. List each width once.")
        for name in ("depth", "members", "heads", "train_points", "test_points", "dimension", "max_steps", "repeats"):
            check_positive_int(name, getattr(self, name))
        if self.depth < 2:
            raise ValueError(f"depth must be >= 2 (at least one hidden layer), got {self.depth}.")
        if self.members < 2:
            raise ValueError(f"members must be >= 2 (the ensemble variance needs two), got {self.members}.")
        if self.test_points < 2:
            raise ValueError(f"test_points must be >= 2 (covariances need two points), got {self.test_points}.")
        check_positive_float("weight_variance", self.weight_variance)
        check_positive_float("tolerance", self.tolerance)
        check_choice("dataset", self.dataset, DATASETS)
        return self

    @property
    def spec(self) -> ReluKernelSpec:
        """The kernel specification of the networks."""
        return ReluKernelSpec(self.depth, self.weight_variance, self.bias_variance)


@dataclass
class Dataset:
    """Training inputs ``[n, d]``, labels ``[n]`` and held-out test inputs ``[m, d]`` (float64)."""

    train: torch.Tensor
    labels: torch.Tensor
    test: torch.Tensor


def make_dataset(settings: VerificationSettings) -> Dataset:
    """Draw the data set named by ``settings.dataset`` with ``settings.seed``."""
    generator = torch.Generator().manual_seed(settings.seed)
    if settings.dataset == "gaussian":
        train = torch.randn(settings.train_points, settings.dimension, generator=generator, dtype=torch.float64)
        test = torch.randn(settings.test_points, settings.dimension, generator=generator, dtype=torch.float64)
        direction = torch.randn(settings.dimension, generator=generator, dtype=torch.float64)
        labels = torch.sin(train @ direction / math.sqrt(settings.dimension))
    else:
        train = torch.linspace(-2.0, 2.0, settings.train_points, dtype=torch.float64)[:, None]
        test = torch.linspace(-3.0, 3.0, settings.test_points, dtype=torch.float64)[:, None]
        labels = torch.sin(2.0 * train[:, 0])
    return Dataset(train=train, labels=labels, test=test)


@dataclass
class AnalyticReference:
    """Analytic quantities at the test points (``[m]`` vectors and ``[m, m]`` matrices)."""

    ensemble_covariance: torch.Tensor
    ntk_posterior: torch.Tensor
    nngp_posterior: torch.Tensor
    posterior_mean: torch.Tensor
    theta_train: torch.Tensor


def analytic_reference(data: Dataset, spec: ReluKernelSpec) -> AnalyticReference:
    """Compute the analytic ensemble covariance, both GP posteriors and the posterior mean."""
    kappa_train, theta_train = relu_kernels(data.train, data.train, spec)
    kappa_cross, theta_cross = relu_kernels(data.test, data.train, spec)
    kappa_test, theta_test = relu_kernels(data.test, data.test, spec)
    return AnalyticReference(
        ensemble_covariance=ensemble_covariance(kappa_test, kappa_cross, kappa_train, theta_cross, theta_train),
        ntk_posterior=gp_posterior_covariance(theta_test, theta_cross, theta_train),
        nngp_posterior=gp_posterior_covariance(kappa_test, kappa_cross, kappa_train),
        posterior_mean=posterior_mean(theta_cross, theta_train, data.labels),
        theta_train=theta_train,
    )


@dataclass
class ClaimResult:
    """Agreement of one empirical covariance with its analytic prediction at the test points."""

    variance_ratio: float
    """Mean over test points of empirical variance / predicted variance (1 at infinite width)."""
    relative_frobenius_error: float
    """||C_empirical - C_predicted||_F / ||C_predicted||_F."""
    samples: int
    """Samples per test point."""
    ratio_noise: float
    """Expected Monte-Carlo std of ``variance_ratio`` for Gaussian samples, given the predicted
    correlations between test points."""
    frobenius_noise: float
    """Expected Monte-Carlo size of ``relative_frobenius_error`` for Gaussian samples."""
    noise_floor: float = field(init=False)
    """sqrt(2 / samples): relative std of one variance estimated from that many samples."""
    extra: dict[str, float] = field(default_factory=dict)
    """Claim-specific statistics (shape tests, controls, mean error)."""

    def __post_init__(self) -> None:
        self.noise_floor = math.sqrt(2.0 / self.samples)


def compare_covariance(samples: torch.Tensor, predicted: torch.Tensor, centred: bool = True) -> ClaimResult:
    """Compare ``samples [S, m]`` with a predicted covariance ``[m, m]``.

    With ``centred=True`` the second moment about zero is used, because the quantity is
    known to have mean zero; otherwise the sample covariance.
    """
    if centred:
        empirical = samples.T @ samples / samples.shape[0]
    else:
        empirical = torch.cov(samples.T)
    ratio = (empirical.diagonal() / predicted.diagonal()).mean().item()
    error = (torch.linalg.norm(empirical - predicted) / torch.linalg.norm(predicted)).item()
    count = samples.shape[0]
    # For Gaussian samples Var(C_ij estimate) = (C_ii C_jj + C_ij^2) / S, and the estimated
    # variances of points i and j have covariance 2 C_ij^2 / S.
    diagonal = predicted.diagonal()
    correlation = predicted / torch.sqrt(diagonal[:, None] * diagonal[None, :])
    ratio_noise = math.sqrt(2.0 * correlation.square().sum().item() / count) / predicted.shape[0]
    entry_variance = (diagonal[:, None] * diagonal[None, :] + predicted.square()) / count
    frobenius_noise = math.sqrt(entry_variance.sum().item()) / torch.linalg.norm(predicted).item()
    return ClaimResult(variance_ratio=ratio, relative_frobenius_error=error, samples=count,
                       ratio_noise=ratio_noise, frobenius_noise=frobenius_noise)


def relative_error(samples: torch.Tensor, predicted: torch.Tensor) -> float:
    """Relative Frobenius error of the second moment of ``samples`` against ``predicted``."""
    empirical = samples.T @ samples / samples.shape[0]
    return (torch.linalg.norm(empirical - predicted) / torch.linalg.norm(predicted)).item()


def chi_square_ks(values: torch.Tensor, degrees: int) -> float:
    """Largest Kolmogorov-Smirnov distance over test points to the chi-square(degrees) law.

    ``values`` is ``[M, m]``: M independent samples at each of m test points. Each column is
    divided by its mean and multiplied by ``degrees``, so only the shape is tested.
    """
    distances = []
    for column in values.T:
        scaled, _ = torch.sort(column / column.mean() * degrees)
        cdf = torch.special.gammainc(torch.tensor(degrees / 2.0, dtype=scaled.dtype), scaled / 2)
        distances.append(_ks_distance(cdf))
    return max(distances)


def gaussian_ks(values: torch.Tensor) -> float:
    """Largest Kolmogorov-Smirnov distance over test points of standardised ``values [M, m]`` to N(0, 1)."""
    distances = []
    for column in values.T:
        ordered, _ = torch.sort(column / column.square().mean().sqrt())
        distances.append(_ks_distance(torch.special.ndtr(ordered)))
    return max(distances)


def ks_critical_value(samples: int, tests: int, level: float = 0.05) -> float:
    """Asymptotic KS critical value for the largest of ``tests`` distances (Bonferroni)."""
    return math.sqrt(-0.5 * math.log(level / (2 * tests))) / math.sqrt(samples)


def _ks_distance(sorted_cdf: torch.Tensor) -> float:
    count = sorted_cdf.numel()
    upper = torch.arange(1, count + 1, dtype=sorted_cdf.dtype) / count
    lower = torch.arange(0, count, dtype=sorted_cdf.dtype) / count
    return torch.maximum(upper - sorted_cdf, sorted_cdf - lower).max().item()


def _bonus_config(settings: VerificationSettings, width: int, seed: int) -> BonusConfig:
    return BonusConfig(
        num_members=settings.members,
        hidden_sizes=(width,) * (settings.depth - 1),
        output_dim=settings.heads,
        parameterization="ntk",
        weight_std=math.sqrt(settings.weight_variance),
        bias_std=math.sqrt(settings.bias_variance),
        seed=seed,
    )


def _heads_as_samples(values: torch.Tensor) -> torch.Tensor:
    """``[M, m, D]`` -> ``[M * D, m]``: every (member, head) pair is one sample."""
    return values.permute(0, 2, 1).reshape(-1, values.shape[1])


def measure_width(
    width: int, settings: VerificationSettings, data: Dataset, reference: AnalyticReference, network_seed: int | None = None
) -> dict:
    """Train the RND, ensemble and Bayesian-RND models at ``width`` and compare with ``reference``.

    ``network_seed`` (default ``settings.seed``) seeds the networks; the data stay fixed.
    Returns a JSON-serialisable dict with one ``ClaimResult`` per claim (as dicts), the
    training steps, residuals and learning rate, whether every model converged, and the
    per-point variances.
    """
    seed = settings.seed if network_seed is None else network_seed
    device = torch.device(settings.device)
    space = spaces.Box(-np.inf, np.inf, (data.train.shape[1],), np.float64)
    train = data.train.to(device)
    test = data.test.to(device)
    rnd = _build(RNDBonus, space, settings, width, seed)
    theta = empirical_ntk(rnd.predictor, train, train, heads=[0])
    learning_rate = 0.9 / torch.linalg.eigvalsh(theta).max().item()
    result: dict = {"width": width, "learning_rate": learning_rate, "training": {}}

    with torch.no_grad():
        rnd_labels = rnd.target(train)
    result["training"]["rnd"] = train_full_batch(rnd.predictor, train, rnd_labels, learning_rate,
                                                 settings.tolerance, settings.max_steps)
    with torch.no_grad():
        rnd_errors = (rnd.predictor(test) - rnd.target(test)).cpu()
    ensemble = _build(EnsembleVarianceBonus, space, settings, width, seed + 1)
    zeros = torch.zeros(1, train.shape[0], settings.heads, dtype=torch.float64, device=device)
    result["training"]["ensemble"] = train_full_batch(ensemble.members, train, zeros, learning_rate,
                                                      settings.tolerance, settings.max_steps)
    with torch.no_grad():
        ensemble_outputs = ensemble.members(test).cpu()

    sigma_f = reference.ensemble_covariance
    half_rnd = compare_covariance(_heads_as_samples(rnd_errors) / math.sqrt(2.0), sigma_f)
    half_rnd.extra["ensemble_variance_ratio"] = (
        ensemble_outputs.var(dim=0, unbiased=True).mean(dim=1) / sigma_f.diagonal()
    ).mean().item()
    centred_outputs = ensemble_outputs - ensemble_outputs.mean(dim=0, keepdim=True)
    half_rnd.extra["ensemble_relative_frobenius_error"] = relative_error(
        _heads_as_samples(centred_outputs) * math.sqrt(settings.members / (settings.members - 1)), sigma_f
    )
    head_averaged = 0.5 * rnd_errors.square().mean(dim=2)  # [M, m]
    half_rnd.extra["chi2_ks_distance"] = chi_square_ks(head_averaged, settings.heads)
    half_rnd.extra["chi2_ks_critical_5pct"] = ks_critical_value(settings.members, head_averaged.shape[1])
    result["claim1"] = asdict(half_rnd)

    bayes = _build(BayesianRNDBonus, space, settings, width, seed + 2)
    with torch.no_grad():
        bayes_labels = bayes.target(train)
    result["training"]["bayes_rnd"] = train_full_batch(bayes.predictor, train, bayes_labels, learning_rate,
                                                       settings.tolerance, settings.max_steps)
    with torch.no_grad():
        bayes_errors = _heads_as_samples(bayes.prediction_error(test).cpu())
    claim2 = compare_covariance(bayes_errors, reference.ntk_posterior)
    # One head per member keeps the KS samples independent at finite width.
    one_head = bayes_errors[:: settings.heads]
    claim2.extra["gaussian_ks_distance"] = gaussian_ks(one_head)
    claim2.extra["gaussian_ks_critical_5pct"] = ks_critical_value(one_head.shape[0], one_head.shape[1])
    claim2.extra["control_nngp_posterior_error"] = relative_error(bayes_errors, reference.nngp_posterior)
    claim2.extra["control_nngp_posterior_variance_ratio"] = (
        (bayes_errors.square().mean(dim=0) / reference.nngp_posterior.diagonal()).mean().item()
    )
    claim2.extra["control_two_sigma_f_error"] = relative_error(bayes_errors, 2 * sigma_f)
    result["claim2"] = asdict(claim2)

    mean_network = bayes.mean_network
    with torch.no_grad():
        initial_train = bayes.mean_initial(train)
        initial_test = bayes.mean_initial(test)
    shifted_labels = data.labels.to(device)[None, :, None] + initial_train
    result["training"]["posterior_mean"] = train_full_batch(mean_network, train, shifted_labels, learning_rate,
                                                            settings.tolerance, settings.max_steps)
    with torch.no_grad():
        mean_estimate = (mean_network(test) - initial_test)[0, :, 0].cpu()
    draws = mean_estimate[None, :] + bayes_errors
    claim3 = compare_covariance(draws, reference.ntk_posterior, centred=False)
    mean_error = torch.linalg.norm(draws.mean(dim=0) - reference.posterior_mean) / torch.linalg.norm(reference.posterior_mean)
    claim3.extra["mean_relative_error"] = mean_error.item()
    # The sample mean of S draws has covariance Sigma_post / S around the true mean.
    claim3.extra["mean_noise"] = math.sqrt(reference.ntk_posterior.trace().item() / draws.shape[0]) / (
        torch.linalg.norm(reference.posterior_mean).item()
    )
    claim3.extra["mean_network_relative_error"] = (
        torch.linalg.norm(mean_estimate - reference.posterior_mean) / torch.linalg.norm(reference.posterior_mean)
    ).item()
    result["claim3"] = asdict(claim3)
    # One head from each of five members: heads of one member share its hidden layer.
    result["posterior_draws"] = draws[:: settings.heads][:5].tolist()
    result["posterior_mean_estimate"] = mean_estimate.tolist()

    result["converged"] = all(residual < settings.tolerance for _, residual in result["training"].values())
    result["variances"] = {
        "ensemble_predicted": sigma_f.diagonal().tolist(),
        "rnd_half_mean_square": (0.5 * rnd_errors.square().mean(dim=(0, 2))).tolist(),
        "ensemble_empirical": ensemble_outputs.var(dim=0, unbiased=True).mean(dim=1).tolist(),
        "posterior_predicted": reference.ntk_posterior.diagonal().tolist(),
        "bayes_rnd_mean_square": bayes_errors.square().mean(dim=0).tolist(),
    }
    return result


def _build(bonus_class, space, settings: VerificationSettings, width: int, seed: int):
    bonus = bonus_class(space, 1, _bonus_config(settings, width, seed), settings.device)
    return bonus.double()
