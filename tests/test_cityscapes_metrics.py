import torch

from eval.cityscapes import (
    ALL_COLOURS,
    EVAL_COLOURS,
    IGNORE,
    colour_of,
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
