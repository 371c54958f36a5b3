import torch

from common.digit_pairs import split_digits
from datasets.mnist_pairs import RedrawnPairs, draw_lower_indices, load_mnist, make_pairs
from PairedMNIST import PairedMNIST
from training.options import build_parser


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


def _digits(n, seed=0):
    """n distinct 'images' (each row unique) with random labels."""
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 28, 28), generator=g, dtype=torch.uint8)
    return images, torch.randint(0, 10, (n,), generator=g)


def _passes(pool, batch, passes, seed=0):
    """The batches of whole passes, as uint8 rows (N, 1568)."""
    rng = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(passes):
        got, batches = 0, []
        while got < len(pool):
            b = pool.sample(batch, rng)
            batches.append(b)
            got += b.shape[0]
        out.append(batches)
    return out


def test_reference_passes_visit_each_upper_once_with_a_short_last_batch():
    images, labels = _digits(60)
    pool = RedrawnPairs(images, labels, 0.9)
    for batches in _passes(pool, 25, 3):
        assert [b.shape[0] for b in batches] == [25, 25, 10]
        uppers = (torch.cat(batches)[:, :784] * 255).round().to(torch.uint8)
        assert torch.equal(uppers[uppers[:, 0].argsort()].sort(0).values,
                           images.reshape(60, 784).sort(0).values)  # a permutation of the set
    small = RedrawnPairs(*_digits(10), 0.5)
    assert [b.shape[0] for batches in _passes(small, 25, 2) for b in batches] == [10, 10]


def test_reference_rows_are_the_upper_digit_then_its_drawn_lower_digit():
    images, labels = _digits(60)
    pool, rng, flat = RedrawnPairs(images, labels, 0.5), torch.Generator().manual_seed(1), images.reshape(60, 784)
    for _ in range(7):  # passes of 25, 25, 10 rows
        batch = (pool.sample(25, rng) * 255).round().to(torch.uint8)
        idx = pool.order[pool.position - batch.shape[0]:pool.position]
        assert torch.equal(batch, torch.cat([flat[idx], flat[pool.lower[idx]]], dim=1))


def test_reference_pairs_come_from_the_first_n_images_only(mnist_root, tmp_path):
    exp = PairedMNIST()
    opts = build_parser("", exp.add_options).parse_args(
        ["--pairing", "reference", "--num_joint_samples", "30", "--data_root", str(mnist_root)])
    setup, split = exp.build(opts, torch.device("cpu"))
    images, _ = load_mnist(mnist_root, train=True)
    first = {bytes(row) for row in images[:30].reshape(30, 784).numpy()}
    rng = torch.Generator().manual_seed(0)
    seen = torch.cat([setup.pools["joint"].sample(8, rng) for _ in range(40)])
    rows = (seen * 255).round().to(torch.uint8).reshape(-1, 784).numpy()
    assert {bytes(r) for r in rows} == first  # uppers and lowers: all of, and only, the first 30
    assert split["pairing"] == "reference" and "lower_index" not in split


def test_reference_same_class_rate_is_lambda_plus_the_class_share():
    # class 0 holds 55 % of the set: P(same | upper 0) = lam + (1 - lam) * 0.55
    labels = torch.cat([torch.zeros(500, dtype=torch.long), torch.arange(1, 11).remainder(10).repeat(50)])
    images = torch.arange(labels.shape[0] * 784).reshape(-1, 28, 28).remainder(251).to(torch.uint8)
    for lam in (0.1, 0.9):
        pool = RedrawnPairs(images, labels, lam)
        rng = torch.Generator().manual_seed(3)
        same = {0: [], 1: []}
        for _ in range(40):
            pool.sample(len(pool), rng)
            lower_class = labels[pool.lower]
            for c, rates in same.items():
                rates.append((lower_class[labels == c] == c).float().mean())
        for c, share in ((0, 0.55), (1, 0.05)):
            rate = torch.stack(same[c]).mean().item()
            assert abs(rate - (lam + (1 - lam) * share)) < 0.02, (lam, c, rate)


def test_reference_lower_digits_change_between_passes_and_repeat_for_a_seed():
    images, labels = _digits(200)
    a = [torch.cat(p) for p in _passes(RedrawnPairs(images, labels, 0.4), 25, 2, seed=5)]
    b = [torch.cat(p) for p in _passes(RedrawnPairs(images, labels, 0.4), 25, 2, seed=5)]
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])

    def lower_of_upper(batch):  # upper digit bytes -> lower digit bytes
        return {bytes(r[:784]): bytes(r[784:]) for r in (batch * 255).round().to(torch.uint8).numpy()}
    first, second = lower_of_upper(a[0]), lower_of_upper(a[1])
    changed = sum(first[k] != second[k] for k in first)
    assert changed > 100  # with 10 classes and 20 images each, few lower digits repeat by chance


def test_reference_pool_state_round_trip_continues_the_pass():
    images, labels = _digits(50)
    rng = torch.Generator().manual_seed(1)
    pool = RedrawnPairs(images, labels, 0.9)
    pool.sample(20, rng)
    state, rng_state = {k: (v.clone() if torch.is_tensor(v) else v) for k, v in pool.state_dict().items()}, \
        rng.get_state()
    expected = [pool.sample(20, rng) for _ in range(4)]
    restored = RedrawnPairs(images, labels, 0.9)
    restored.load_state_dict(state)
    rng.set_state(rng_state)
    assert all(torch.equal(e, restored.sample(20, rng)) for e in expected)
