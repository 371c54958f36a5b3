import pytest
import torch

from training.factorisation import Factorisation


def test_take_returns_named_slices_in_order():
    f = Factorisation([("a", 2), ("b", 3), ("c", 1)])
    x = torch.arange(12.0).reshape(2, 6)
    assert torch.equal(f.take(x, "b"), x[:, 2:5])
    assert torch.equal(f.take(x, ["c", "a"]), torch.cat([x[:, 5:6], x[:, 0:2]], 1))
    assert torch.equal(f.take(x, f.names), x)


def test_take_along_channel_axis_of_images():
    f = Factorisation([("photo", 3), ("map", 3)], dim=1)
    x = torch.randn(4, 6, 8, 8)
    assert torch.equal(f.take(x, "map"), x[:, 3:])


def test_wrong_size_is_rejected():
    f = Factorisation([("a", 2), ("b", 2)])
    with pytest.raises(ValueError, match="expected 4"):
        f.take(torch.zeros(3, 5), "a")


def test_shuffle_keeps_first_part_and_permutes_each_other_part():
    f = Factorisation([("a", 1), ("b", 1), ("c", 1)])
    batch = 64
    x = torch.stack([torch.arange(batch), 1000 + torch.arange(batch), 2000 + torch.arange(batch)], 1).float()
    s = f.shuffle(x, torch.Generator().manual_seed(0))
    assert torch.equal(s[:, 0], x[:, 0])
    for j in (1, 2):  # same multiset, different order
        assert torch.equal(s[:, j].sort().values, x[:, j].sort().values)
        assert not torch.equal(s[:, j], x[:, j])
    # independent permutations: b and c no longer move together
    assert not torch.equal(s[:, 2] - s[:, 1], x[:, 2] - x[:, 1])


def test_shuffle_is_reproducible_with_a_seeded_generator():
    f = Factorisation([("a", 2), ("b", 2)])
    x = torch.randn(10, 4)
    one = f.shuffle(x, torch.Generator().manual_seed(3))
    two = f.shuffle(x, torch.Generator().manual_seed(3))
    assert torch.equal(one, two)


def test_duplicate_part_names_are_rejected():
    with pytest.raises(ValueError, match="unique"):
        Factorisation([("a", 1), ("a", 1)])
