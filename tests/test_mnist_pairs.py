import torch

from datasets.mnist_pairs import draw_lower_indices, make_pairs, split_digits


def _labels(n=20000, seed=0):
    return torch.randint(0, 10, (n,), generator=torch.Generator().manual_seed(seed))


def test_same_digit_frequency_matches_lambda():
    labels = _labels()
    for lam in (0.1, 0.9):
        lower = draw_lower_indices(labels, lam, torch.Generator().manual_seed(1))
        same = (labels[lower] == labels).float().mean().item()
        assert abs(same - lam) < 0.015, (lam, same)


def test_different_digits_follow_class_frequencies():
    # class 0 is 5x as frequent as the others: among "different" lower digits of
    # upper class 1, class 0 must be about 5/(5+8) of the draws
    labels = torch.cat([torch.zeros(5000, dtype=torch.long), torch.arange(1, 10).repeat(1000)])
    lower = draw_lower_indices(labels, 0.0, torch.Generator().manual_seed(2))
    lower_class = labels[lower]
    assert not (lower_class == labels).any()
    of_ones = lower_class[labels == 1]
    assert abs((of_ones == 0).float().mean().item() - 5 / 13) < 0.05


def test_pairs_are_identical_across_constructions_and_differ_across_seeds():
    labels = _labels(3000)
    a = draw_lower_indices(labels, 0.4, torch.Generator().manual_seed(7))
    b = draw_lower_indices(labels, 0.4, torch.Generator().manual_seed(7))
    c = draw_lower_indices(labels, 0.4, torch.Generator().manual_seed(8))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_make_pairs_stacks_upper_then_lower():
    images = torch.randint(0, 256, (5, 28, 28), dtype=torch.uint8)
    lower = torch.tensor([4, 3, 2, 1, 0])
    pairs = make_pairs(images, lower)
    assert pairs.shape == (5, 1568) and pairs.dtype == torch.uint8
    up, low = split_digits(pairs)
    assert torch.equal(up[:, 0], images) and torch.equal(low[:, 0], images[lower])
