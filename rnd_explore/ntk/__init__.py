"""Offline verification of the RND / deep-ensemble / Bayesian-inference equivalences.

Analytic NNGP and NTK kernels of ReLU networks, the empirical NTK of the batched core, and
a sweep over widths that measures how close finite networks come to the three claims.
"""

from rnd_explore.ntk.claims import VerificationSettings, analytic_reference, make_dataset, measure_width
from rnd_explore.ntk.empirical import empirical_ntk, train_full_batch
from rnd_explore.ntk.kernels import ReluKernelSpec, ensemble_covariance, gp_posterior_covariance, relu_kernels
from rnd_explore.ntk.report import run_sweep, write_report

__all__ = [
    "ReluKernelSpec",
    "VerificationSettings",
    "analytic_reference",
    "empirical_ntk",
    "ensemble_covariance",
    "gp_posterior_covariance",
    "make_dataset",
    "measure_width",
    "relu_kernels",
    "run_sweep",
    "train_full_batch",
    "write_report",
]
