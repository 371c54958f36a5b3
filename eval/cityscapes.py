"""Cityscapes segmentation metrics on colour-coded maps (paper Sec. 4.3).

The class colours are the public Cityscapes label definitions
(cityscapesScripts, ``helpers/labels.py``): (name, trainId, colour), where
trainId 255 marks classes ignored in evaluation.

Per-image pixel accuracy is the paper's metric; the class scores (per-class
accuracy and IoU, their means) come from one confusion matrix accumulated
over a whole set, as segmentation benchmarks compute them.
"""

from __future__ import annotations

import torch
from torch import Tensor

IGNORE = 255
# In label-id order, so that on shared colours the earlier label wins
# (pole before polegroup, car before license plate).
LABELS: tuple[tuple[str, int, tuple[int, int, int]], ...] = (
    ("unlabeled", IGNORE, (0, 0, 0)), ("ego vehicle", IGNORE, (0, 0, 0)),
    ("rectification border", IGNORE, (0, 0, 0)), ("out of roi", IGNORE, (0, 0, 0)),
    ("static", IGNORE, (0, 0, 0)), ("dynamic", IGNORE, (111, 74, 0)), ("ground", IGNORE, (81, 0, 81)),
    ("road", 0, (128, 64, 128)), ("sidewalk", 1, (244, 35, 232)), ("parking", IGNORE, (250, 170, 160)),
    ("rail track", IGNORE, (230, 150, 140)), ("building", 2, (70, 70, 70)), ("wall", 3, (102, 102, 156)),
    ("fence", 4, (190, 153, 153)), ("guard rail", IGNORE, (180, 165, 180)), ("bridge", IGNORE, (150, 100, 100)),
    ("tunnel", IGNORE, (150, 120, 90)), ("pole", 5, (153, 153, 153)), ("polegroup", IGNORE, (153, 153, 153)),
    ("traffic light", 6, (250, 170, 30)), ("traffic sign", 7, (220, 220, 0)), ("vegetation", 8, (107, 142, 35)),
    ("terrain", 9, (152, 251, 152)), ("sky", 10, (70, 130, 180)), ("person", 11, (220, 20, 60)),
    ("rider", 12, (255, 0, 0)), ("car", 13, (0, 0, 142)), ("truck", 14, (0, 0, 70)), ("bus", 15, (0, 60, 100)),
    ("caravan", IGNORE, (0, 0, 90)), ("trailer", IGNORE, (0, 0, 110)), ("train", 16, (0, 80, 100)),
    ("motorcycle", 17, (0, 0, 230)), ("bicycle", 18, (119, 11, 32)), ("license plate", IGNORE, (0, 0, 142)),
)
ALL_COLOURS = torch.tensor([c for _, _, c in LABELS], dtype=torch.float32) / 255  # (35, 3)
ALL_TRAIN_IDS = torch.tensor([t for _, t, _ in LABELS])  # (35,)
EVAL_COLOURS = torch.tensor([c for _, c in sorted((t, c) for _, t, c in LABELS if t != IGNORE)],
                            dtype=torch.float32) / 255  # (19, 3), row k = trainId k
NUM_CLASSES = len(EVAL_COLOURS)
CLASS_NAMES = tuple(n for _, n in sorted((t, n) for n, t, _ in LABELS if t != IGNORE))  # trainId order


def nearest_colour(maps: Tensor, palette: Tensor) -> Tensor:
    """Index of the nearest palette colour (Euclidean in RGB) for every pixel.

    maps: (B, 3, H, W) in [0, 1]; palette: (K, 3) in [0, 1] -> (B, H, W) int64.
    Ties go to the earlier palette entry.
    """
    palette = palette.to(maps.device, maps.dtype)
    pixels = maps.permute(0, 2, 3, 1)  # (B, H, W, 3)
    # |p - c|^2 = |p|^2 - 2 p.c + |c|^2; |p|^2 is the same for every colour
    dist = palette.pow(2).sum(1) - 2 * pixels @ palette.T  # (B, H, W, K)
    return dist.argmin(-1)


def predicted_classes(maps: Tensor) -> Tensor:
    """(B, 3, H, W) predicted maps -> (B, H, W) trainIds (nearest evaluated class)."""
    return nearest_colour(maps, EVAL_COLOURS)


def true_classes(maps: Tensor) -> Tensor:
    """(B, 3, H, W) ground-truth maps -> (B, H, W) trainIds, IGNORE where the
    nearest colour of any class is an ignored class (JPEG noise is removed by
    snapping to the nearest of all colours)."""
    return ALL_TRAIN_IDS.to(maps.device)[nearest_colour(maps, ALL_COLOURS)]


def evaluated(truth: Tensor) -> Tensor:
    """(B, H, W) ground-truth trainIds -> (B, H, W) bool: the pixels that are
    scored (not of an ignored class)."""
    return truth != IGNORE


def pixel_accuracy(pred_maps: Tensor, true_maps: Tensor) -> Tensor:
    """Per-image pixel accuracy over the non-ignored ground-truth pixels.

    pred_maps, true_maps: (B, 3, H, W) in [0, 1] -> (B,) accuracies
    (NaN for an image without evaluated pixels).
    """
    return image_accuracy(predicted_classes(pred_maps), true_classes(true_maps))


def image_accuracy(pred_classes: Tensor, gt_classes: Tensor) -> Tensor:
    """(B, H, W) predicted and ground-truth trainIds -> (B,) fraction of each
    image's evaluated pixels predicted right (NaN without evaluated pixels)."""
    valid = evaluated(gt_classes)
    correct = (pred_classes == gt_classes) & valid
    return correct.sum((1, 2)).float() / valid.sum((1, 2)).float()


def mse(pred_maps: Tensor, true_maps: Tensor) -> Tensor:
    """(B, 3, H, W) x 2 -> (B,) mean squared error per image."""
    return (pred_maps - true_maps).pow(2).mean((1, 2, 3))


def colour_of(train_ids: Tensor) -> Tensor:
    """(B, H, W) trainIds in 0..18 -> (B, 3, H, W) colour maps in [0, 1]."""
    return EVAL_COLOURS.to(train_ids.device)[train_ids].permute(0, 3, 1, 2)


def prior_map(true_maps: Tensor, batch_size: int = 64) -> Tensor:
    """The photo-blind per-pixel prior: at each pixel, the colour of the most
    frequent evaluated class over the given ground-truth maps.

    true_maps: (N, 3, H, W) uint8 or float -> (3, H, W) colour map.
    """
    counts = None
    for i in range(0, true_maps.shape[0], batch_size):
        batch = true_maps[i:i + batch_size]
        batch = batch.float() / 255 if batch.dtype == torch.uint8 else batch
        truth = true_classes(batch)  # (b, H, W)
        onehot = torch.nn.functional.one_hot(truth.clamp(max=len(EVAL_COLOURS)), len(EVAL_COLOURS) + 1)
        c = onehot[..., : len(EVAL_COLOURS)].sum(0)  # (H, W, 19), ignored pixels dropped
        counts = c if counts is None else counts + c
    return colour_of(counts.argmax(-1)[None])[0]


def confusion_matrix(pred_classes: Tensor, gt_classes: Tensor, valid: Tensor,
                     num_classes: int = NUM_CLASSES) -> Tensor:
    """Pixel counts: row = ground-truth class, column = predicted class.

    pred_classes, gt_classes: (...) int class ids; valid: (...) bool, the
    pixels to count (``evaluated(gt_classes)``: ignored ground truth is left
    out). Returns (num_classes, num_classes + 1) int64; the extra last column
    ("other") counts predictions outside 0..num_classes-1: they are wrong for
    their ground-truth class, and a false positive of no class.
    """
    gt = gt_classes[valid].long()
    if ((gt < 0) | (gt >= num_classes)).any():
        raise ValueError(f"valid ground-truth classes must lie in 0..{num_classes - 1}")
    pred = pred_classes[valid].long()
    pred = torch.where((pred < 0) | (pred >= num_classes), num_classes, pred)
    counts = torch.bincount(gt * (num_classes + 1) + pred, minlength=num_classes * (num_classes + 1))
    return counts.view(num_classes, num_classes + 1)


def class_scores(confusion: Tensor) -> dict[str, Tensor | float]:
    """Class scores, fractions in [0, 1], from a (K, K + 1) confusion matrix
    (rows ground truth, columns prediction, last column "other").

    class_accuracy: (K,) recall, correct / ground-truth pixels of the class,
    NaN for a class absent from the ground truth; iou: (K,) correct /
    (ground truth or predicted as the class), NaN for a class absent from both.
    mean_class_accuracy averages the classes present in the ground truth;
    mean_iou the classes present in the ground truth or the prediction (one
    predicted but absent from the ground truth has IoU 0 and counts); classes
    absent from both are left out of both means. NaN when nothing is left.
    """
    k = confusion.shape[0]
    confusion = confusion.double()
    correct = confusion.diagonal()
    truth = confusion.sum(1)  # "other" predictions included: they are misses
    predicted = confusion[:, :k].sum(0)
    accuracy = correct / truth  # 0 / 0 = NaN
    iou = correct / (truth + predicted - correct)
    return {"class_accuracy": accuracy, "iou": iou,
            "mean_class_accuracy": float(accuracy.nanmean()), "mean_iou": float(iou.nanmean())}
