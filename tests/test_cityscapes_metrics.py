import math

import pytest
import torch

from eval.cityscapes import (
    ALL_COLOURS,
    CLASS_NAMES,
    EVAL_COLOURS,
    IGNORE,
    class_scores,
    colour_of,
    confusion_matrix,
    evaluated,
    mse,
    pixel_accuracy,
    predicted_classes,
    prior_map,
    true_classes,
)


def _map(train_ids):
    return colour_of(torch.tensor(train_ids)[None])  # (1, 3, H, W)


def test_palette_sizes():
    assert ALL_COLOURS.shape == (35, 3) and EVAL_COLOURS.shape == (19, 3)


def test_perfect_prediction_scores_one_and_zero_mse():
    truth = _map([[0, 1], [13, 18]])
    assert pixel_accuracy(truth, truth).item() == 1.0
    assert mse(truth, truth).item() == 0.0


def test_jpeg_noise_is_snapped_to_the_nearest_colour():
    truth = _map([[0, 2], [8, 10]])
    noisy = (truth + 0.03 * torch.randn(truth.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    assert torch.equal(true_classes(noisy), true_classes(truth))
    assert pixel_accuracy(noisy, truth).item() == 1.0


def test_ignored_ground_truth_pixels_do_not_count():
    truth = _map([[0, 1], [2, 3]])
    truth[0, :, 1, 1] = 0.0  # black: "unlabeled", ignored
    assert true_classes(truth)[0, 1, 1] == IGNORE
    pred = truth.clone()
    pred[0, :, 1, 1] = EVAL_COLOURS[5]  # whatever is predicted there does not matter
    pred[0, :, 0, 0] = EVAL_COLOURS[7]  # one wrong of three evaluated pixels
    assert abs(pixel_accuracy(pred, truth).item() - 2 / 3) < 1e-6


def test_predictions_map_only_to_evaluated_classes():
    black = torch.zeros(1, 3, 1, 1)  # nearest colour overall is an ignored class
    assert 0 <= predicted_classes(black).item() < 19


def test_shared_colours_resolve_to_the_evaluated_class():
    pole, car = EVAL_COLOURS[5].view(1, 3, 1, 1), EVAL_COLOURS[13].view(1, 3, 1, 1)
    assert true_classes(pole).item() == 5 and true_classes(car).item() == 13


def test_prior_map_takes_the_most_frequent_class_per_pixel():
    maps = torch.cat([_map([[0, 1]]), _map([[0, 2]]), _map([[3, 2]])])
    expected = _map([[0, 2]])[0]
    assert torch.allclose(prior_map((maps * 255).round().to(torch.uint8)), expected, atol=1 / 255)


def _confusion(pred, truth, num_classes):
    pred, truth = torch.tensor(pred), torch.tensor(truth)
    return confusion_matrix(pred, truth, evaluated(truth), num_classes)


def test_class_names_follow_the_train_ids():
    assert len(CLASS_NAMES) == 19 and CLASS_NAMES[0] == "road" and CLASS_NAMES[13] == "car"
    assert CLASS_NAMES[18] == "bicycle"


def test_class_scores_of_a_hand_made_label_map():
    # ground truth (one pixel ignored) and prediction, 4 classes, class 3 absent from both
    truth = [[0, 0, 1], [1, 2, IGNORE]]
    pred = [[0, 1, 1], [2, 2, 0]]
    confusion = _confusion(pred, truth, 4)
    assert confusion.tolist() == [[1, 1, 0, 0, 0], [0, 1, 1, 0, 0], [0, 0, 1, 0, 0], [0, 0, 0, 0, 0]]
    s = class_scores(confusion)
    # recall: road-like class 0: 1 of 2, class 1: 1 of 2, class 2: 1 of 1
    assert s["class_accuracy"][:3].tolist() == [0.5, 0.5, 1.0] and math.isnan(s["class_accuracy"][3])
    # IoU = correct / (truth + predicted - correct): 1/(2+1-1), 1/(2+2-1), 1/(1+2-1)
    assert s["iou"][:3].tolist() == pytest.approx([1 / 2, 1 / 3, 1 / 2]) and math.isnan(s["iou"][3])
    assert s["mean_class_accuracy"] == pytest.approx(2 / 3)  # class 3 left out
    assert s["mean_iou"] == pytest.approx((1 / 2 + 1 / 3 + 1 / 2) / 3)


def test_predictions_outside_the_classes_are_wrong_but_no_false_positive():
    confusion = _confusion([[3, 9]], [[0, 0]], 4)  # 9 is no class: the "other" column
    assert confusion[0].tolist() == [0, 0, 0, 1, 1] and confusion.sum() == 2
    s = class_scores(confusion)
    assert s["class_accuracy"][0] == 0.0 and math.isnan(s["class_accuracy"][3])
    # class 3, predicted but absent from the ground truth, has IoU 0 and counts in the mean
    assert s["iou"][0] == 0.0 and s["iou"][3] == 0.0 and math.isnan(s["iou"][1])
    assert s["mean_iou"] == 0.0 and s["mean_class_accuracy"] == 0.0


def test_confusion_over_batches_adds_up_and_counts_the_evaluated_pixels():
    gen = torch.Generator().manual_seed(0)
    truth = torch.randint(0, 19, (4, 5, 6), generator=gen)
    truth[truth > 16] = IGNORE
    pred = torch.randint(0, 19, (4, 5, 6), generator=gen)
    valid = evaluated(truth)
    whole = confusion_matrix(pred, truth, valid)
    parts = sum(confusion_matrix(pred[i], truth[i], valid[i]) for i in range(4))
    assert torch.equal(whole, parts) and whole.sum() == valid.sum()
    assert whole.diagonal().sum() == ((pred == truth) & valid).sum()  # the pixel accuracy's count


def test_a_perfect_prediction_has_every_score_one():
    truth = true_classes(_map([[0, 1], [13, 18]]))
    s = class_scores(confusion_matrix(truth, truth, evaluated(truth)))
    assert s["mean_iou"] == 1.0 and s["mean_class_accuracy"] == 1.0
    assert int((~s["iou"].isnan()).sum()) == 4


def test_ignored_ground_truth_outside_the_classes_is_refused():
    truth = torch.tensor([[0, 25]])
    with pytest.raises(ValueError, match="0..3"):
        confusion_matrix(truth, truth, torch.ones_like(truth, dtype=torch.bool), 4)
