"""The PairedMNIST dependency metric (paper Sec. 4.1, Eq. 5)."""

from __future__ import annotations

import numpy as np


def joint_label_frequencies(labels: np.ndarray, classes: int = 10) -> np.ndarray:
    """labels: (N, 2) class of the upper and lower digit -> (classes, classes) P(a, b)."""
    labels = np.asarray(labels, dtype=np.int64)
    counts = np.zeros((classes, classes))
    np.add.at(counts, (labels[:, 0], labels[:, 1]), 1)
    return counts / counts.sum()


def dependency_ratios(joint: np.ndarray, eps: float = 1e-3) -> np.ndarray:
    """c(a, b) = P(a, b) / (P(a) P(b) + eps) from a (C, C) joint frequency table."""
    return joint / (np.outer(joint.sum(axis=1), joint.sum(axis=0)) + eps)


def dependency_metric(real_joint: np.ndarray, fake_joint: np.ndarray) -> float:
    """Mean |c_real(a, b) - c_fake(a, b)| over all cells (lower is better)."""
    return float(np.abs(dependency_ratios(real_joint) - dependency_ratios(fake_joint)).mean())
