import numpy as np
import pytest

from eval.dependency import dependency_metric, dependency_ratios, joint_label_frequencies
from eval.fid import feature_statistics, fid_from_features, frechet_distance


def test_fid_of_identical_sets_is_zero():
    feats = np.random.default_rng(0).normal(size=(500, 8))
    assert fid_from_features(feats, feats) == pytest.approx(0.0, abs=1e-8)


def test_fid_of_equal_covariances_is_squared_mean_difference():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(6, 6))
    cov = a @ a.T + np.eye(6)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    assert frechet_distance(mu1, cov, mu2, cov) == pytest.approx(np.sum((mu1 - mu2) ** 2), rel=1e-8)


def test_fid_of_scaled_isotropic_gaussians_closed_form():
    # N(0, a I) vs N(0, b I) in d dims: d (sqrt(a) - sqrt(b))^2
    d, a, b = 5, 4.0, 1.0
    assert frechet_distance(np.zeros(d), a * np.eye(d), np.zeros(d), b * np.eye(d)) == pytest.approx(d * 1.0)


def test_fid_handles_singular_covariances():
    cov = np.diag([1.0, 0.0, 2.0])
    assert frechet_distance(np.zeros(3), cov, np.ones(3), cov) == pytest.approx(3.0)


def test_feature_statistics_shapes():
    mu, cov = feature_statistics(np.random.default_rng(0).normal(size=(10, 3)))
    assert mu.shape == (3,) and cov.shape == (3, 3)


def test_dependency_metric_zero_for_identical_tables():
    labels = np.random.default_rng(0).integers(0, 10, size=(1000, 2))
    joint = joint_label_frequencies(labels)
    assert joint.sum() == pytest.approx(1.0)
    assert dependency_metric(joint, joint) == 0.0


def test_dependency_ratios_closed_form():
    # independent uniform labels: P(a,b) = 1/100, P(a) P(b) = 1/100
    joint = np.full((10, 10), 0.01)
    assert np.allclose(dependency_ratios(joint), 0.01 / (0.01 + 0.001))
    # all mass on the diagonal (lower = upper): c(a,a) = 0.1 / (0.01 + 0.001), 0 elsewhere
    diag = np.eye(10) / 10
    expected = np.mean(np.abs(dependency_ratios(diag) - dependency_ratios(joint)))
    assert dependency_metric(diag, joint) == pytest.approx(expected)
    assert dependency_metric(diag, joint) > 1.0
