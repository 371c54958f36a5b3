"""Scores of four-digit grids (PairedMNIST --layout 2x2, issue 36): the
pairs' metrics (paper Sec. 4.1) per position and per linked pair of digits."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from common.digit_pairs import DIGIT_PIXELS
from common.digit_pairs import GRID_POSITIONS as POSITIONS
from common.tensors import as_float
from eval.dependency import dependency_metric, joint_label_frequencies
from eval.fid import fid_from_features
from eval.mnist import classify

WITHIN = ((0, 1), (2, 3))  # the columns: upper and lower digit
BETWEEN = (0, 2)  # the upper digits of the two columns


def grid_digits(grids: Tensor) -> list[Tensor]:
    """grids (N, 3136) -> the four positions' digits, each (N, 1, 28, 28) float in [0, 1]."""
    x = as_float(grids)
    return [x[:, k * DIGIT_PIXELS:(k + 1) * DIGIT_PIXELS].reshape(-1, 1, 28, 28) for k in range(len(POSITIONS))]


def _dependency(real_labels: np.ndarray, fake_labels: np.ndarray, pair: tuple[int, int]) -> float:
    cols = list(pair)
    return dependency_metric(joint_label_frequencies(real_labels[:, cols]), joint_label_frequencies(fake_labels[:, cols]))


def grid_scores(classifier: nn.Module, real_grids: Tensor, real_labels: Tensor, fake_grids: Tensor) -> dict[str, float]:
    """FID per position (fid_ul, ...; each against its own real statistics)
    and their mean ``fid``; ``dependency_within``: the pairs' dependency
    metric of each column (upper, lower digit), averaged; ``dependency_between``:
    the metric on the upper-left and upper-right classes. Fake labels are the
    classifier's, real ones the true classes.

    real_grids: (N, 3136) in [0, 1] or uint8, real_labels: (N, 4) true classes,
    fake_grids: (M, 3136) in [0, 1].
    """
    out: dict[str, float] = {}
    predicted = []
    for position, real, fake in zip(POSITIONS, grid_digits(real_grids), grid_digits(fake_grids), strict=True):
        real_features, _ = classify(classifier, real)
        fake_features, labels = classify(classifier, fake)
        out[f"fid_{position}"] = fid_from_features(real_features.cpu().numpy(), fake_features.cpu().numpy())
        predicted.append(labels)
    out["fid"] = float(np.mean([out[f"fid_{p}"] for p in POSITIONS]))
    real_l, fake_l = real_labels.cpu().numpy(), torch.stack(predicted, 1).cpu().numpy()
    out["dependency_within"] = float(np.mean([_dependency(real_l, fake_l, pair) for pair in WITHIN]))
    out["dependency_between"] = _dependency(real_l, fake_l, BETWEEN)
    out["same_digit_fraction_generated"] = float(np.mean([np.mean(fake_l[:, a] == fake_l[:, b]) for a, b in WITHIN]))
    out["column_link_fraction_generated"] = float(np.mean(fake_l[:, 2] == (fake_l[:, 0] + 1) % 10))
    return out
