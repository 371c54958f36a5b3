"""Factorisation trees (paper App. A.3): hierarchical (eq. 7) and autoregressive (eq. 8) FactorGAN."""

import pytest
import torch

from models.mlp import MLPDiscriminator, MLPGenerator
from tests.spy import Spy
from training.data import NoiseInput, TensorPool, tree_pools
from training.discriminator import P_DEP, Q_DEP, FactorisedDiscriminator, factorised_or_joint
from training.factorisation import ROOT, Factorisation
from training.loop import GANSetup, LoopConfig, MemoryLog, TrainState, assign_pools, train
from training.stacked_discriminator import StackedDiscriminator

GRID = Factorisation([("left", [("ul", 2), ("ll", 3)]), ("right", [("ur", 2), ("lr", 1)])])
SEQUENCE = Factorisation.autoregressive([("a", 2), ("b", 1), ("c", 3), ("d", 1)])


def _disc(f: Factorisation, with_p: bool = True) -> FactorisedDiscriminator:
    torch.manual_seed(0)
    return factorised_or_joint(
        "FactorGAN" if with_p else "FactorGAN-no-cp", f,
        marginal=lambda part: MLPDiscriminator(f.sizes[part], hidden=8),
        joint=lambda sn: MLPDiscriminator(f.total, hidden=8, spectral_norm=sn),
        lipschitz=(True, True), group=lambda g, sn: MLPDiscriminator(f.size(g), hidden=8, spectral_norm=sn)).eval()


def test_tree_structure():
    assert GRID.names == ("ul", "ll", "ur", "lr") and GRID.groups == ("left", "right") and GRID.depth == 2
    assert GRID.children[ROOT] == ("left", "right") and GRID.node_slices["right"] == slice(5, 8)
    assert SEQUENCE.groups == ("a_to_c", "a_to_b") and SEQUENCE.depth == 3
    assert SEQUENCE.children == {ROOT: ("a_to_c", "d"), "a_to_c": ("a_to_b", "c"), "a_to_b": ("a", "b")}
    assert Factorisation.autoregressive([("a", 1), ("b", 1)]).groups == ()  # two steps: the flat FactorGAN


@pytest.mark.parametrize("f", [GRID, SEQUENCE], ids=["hierarchical", "autoregressive"])
@pytest.mark.parametrize("with_p", [True, False])
def test_tree_logit_is_the_signed_sum_of_every_sub_discriminator(f, with_p):
    d, x = _disc(f, with_p), torch.rand(6, f.total)
    expected = sum(d.marginals[p](f.take(x, p)) for p in f.names) - d.dep_q(x)
    expected = expected + d.dep_p(x) if with_p else expected
    for g in f.groups:  # eq. 7 / eq. 8: + D_P^g(x_g) - D_Q^g(x_g)
        expected = expected - d.group_q[g](f.take(x, g)) + (d.group_p[g](f.take(x, g)) if with_p else 0)
    assert torch.allclose(d(x), expected, atol=1e-6)
    names = [*f.names, *([P_DEP] if with_p else []), Q_DEP]
    for g in f.groups:
        names += [f"p_dep/{g}", f"q_dep/{g}"] if with_p else [f"q_dep/{g}"]
    assert list(d.sub_discriminators()) == names


@pytest.mark.parametrize("f, group", [(GRID, ROOT), (GRID, "left"), (SEQUENCE, ROOT), (SEQUENCE, "a_to_c")],
                         ids=["grid-root", "grid-left", "sequence-root", "sequence-nested"])
def test_group_shuffle_permutes_whole_blocks(f, group):
    x = torch.arange(64.0)[:, None] * 10 + torch.arange(f.total)  # row r, entry j: 10 r + j
    s = f.shuffle(x, torch.Generator().manual_seed(0), group)
    offset = f.node_slices[group].start
    first, *others = f.children[group]  # the first node stays (in a sequence: the whole prefix, itself a group)
    kept = f.node_slices[first]
    assert s.shape[1] == f.size(group) and torch.equal(s[:, kept.start - offset:kept.stop - offset], x[:, kept])
    for node in others:  # each node's block is one other row's whole block (ur and lr move together)
        at = f.node_slices[node]
        block = s[:, at.start - offset:at.stop - offset]
        source = ((block[:, 0] - at.start) / 10).long()
        assert torch.equal(block, x[source, at]) and torch.equal(source.sort().values, torch.arange(64))
        assert not torch.equal(source, torch.arange(64))


def test_losses_shuffle_each_group_on_its_own_entries():
    d, seen = _disc(GRID), {}

    d.group_p["left"], d.group_q["right"] = Spy("p_left", seen), Spy("q_right", seen)
    real_left, fake = torch.rand(8, 5), torch.rand(8, GRID.total)
    real = {name: torch.rand(8, GRID.total) for name in d.real_parts()} | {"p_dep/left": real_left}
    d.losses(real, {name: fake for name in d.sub_discriminators()}, torch.Generator().manual_seed(0))
    assert torch.equal(seen["p_left"][:8], real_left)  # real first, then the same batch shuffled
    assert torch.equal(seen["p_left"][8:, :2], real_left[:, :2])
    assert torch.equal(seen["p_left"][8:, 2:].sort(0).values, real_left[:, 2:].sort(0).values)
    assert torch.equal(seen["q_right"][:8], fake[:, 5:])


def test_each_pool_level_feeds_its_discriminators():
    """complete samples hold 1, the left column alone 2, ul alone 3, lr alone 4."""
    d = _disc(GRID)
    def full(value, n, width):
        return torch.full((n, width), float(value))
    pools = tree_pools(d, full(1, 2, 8), {"left": full(2, 3, 5), "ul": full(3, 4, 2), "lr": full(4, 5, 1)})
    values = {name: sorted(pool.data[:, 0].tolist()) for name, pool in pools.items()}
    assert values == {"ul": [1] * 2 + [2] * 3 + [3] * 4, "ll": [1] * 2 + [2] * 3, "ur": [1] * 2,
                      "lr": [1] * 2 + [4] * 5, P_DEP: [1] * 2, "p_dep/left": [1] * 2 + [2] * 3,
                      "p_dep/right": [1] * 2}
    assert pools["ll"].data.shape == (5, 3) and pools["p_dep/left"].data.shape == (5, 5)
    assert torch.equal(pools["ul"].data[2:5], full(2, 3, 2))  # ul cut out of the left columns


def test_every_prefix_of_a_sequence_is_a_pool():
    d = _disc(SEQUENCE)
    alone = {"a_to_b": torch.full((3, 3), 2.0), "a_to_c": torch.full((4, 6), 3.0)}
    pools = tree_pools(d, torch.ones(2, 7), alone)
    assert len(pools["p_dep/a_to_b"]) == 2 + 4 + 3 and len(pools["p_dep/a_to_c"]) == 2 + 4
    assert len(pools[P_DEP]) == 2 and len(pools["d"]) == 2 and len(pools["a"]) == 9


def test_a_pool_that_nothing_fills_is_refused():
    with pytest.raises(ValueError, match="'p_dep' needs the parts"):
        tree_pools(_disc(GRID), None, {"left": torch.zeros(2, 5), "right": torch.zeros(2, 3)})
    with pytest.raises(ValueError, match="no node called 'x'"):
        tree_pools(_disc(GRID), torch.zeros(2, 8), {"x": torch.zeros(2, 1)})
    with pytest.raises(ValueError, match="no node called 'root'"):
        tree_pools(_disc(GRID), torch.zeros(2, 8), {ROOT: torch.zeros(2, 8)})
    with pytest.raises(ValueError, match="tree_pools"):
        assign_pools(_disc(GRID), TensorPool(torch.zeros(2, 8)), TensorPool(torch.zeros(2, 8)))


@pytest.mark.parametrize("nodes, message", [
    ([("g", [])], "group 'g' needs at least two nodes"),
    ([("a", 1), ("g", [("b", 1)])], "group 'g' needs at least two nodes"),
    ([("a", 1), ("g", [("a", 1), ("b", 1)])], "'a' is used twice"),
    ([("g", 1), ("g", [("a", 1), ("b", 1)])], "'g' is used twice"),
    ([("root", 1), ("b", 1)], "reserved"),
    ([("a", 0), ("b", 1)], "positive"),
    ([("a", "2"), ("b", 1)], "a size"),
    ([("a", 2, 3)], "a node is"),
])
def test_bad_trees_are_refused_in_one_line(nodes, message):
    with pytest.raises(ValueError, match=message) as err:
        Factorisation(nodes)
    assert "\n" not in str(err.value)


def test_sizes_that_do_not_tile_the_sample_are_refused():
    with pytest.raises(ValueError, match="add up to 8, not the sample's 9"):
        Factorisation([("left", [("ul", 2), ("ll", 3)]), ("right", [("ur", 2), ("lr", 1)])], total=9)
    with pytest.raises(ValueError, match="expected 8"):
        _disc(GRID)(torch.zeros(2, 9))


def test_a_gan_on_a_tree_is_one_joint_discriminator_on_complete_samples():
    joint = MLPDiscriminator(8, hidden=8).eval()
    d = FactorisedDiscriminator.joint(GRID, joint)
    x = torch.rand(3, 8)
    assert torch.equal(d(x), joint(x)) and list(d.sub_discriminators()) == ["joint"]
    assert {n: len(p) for n, p in tree_pools(d, torch.zeros(2, 8), {"left": torch.zeros(4, 5)}).items()} == {"joint": 2}


def test_ensembles_refuse_trees():
    with pytest.raises(ValueError, match="flat factorisations only"):
        StackedDiscriminator([_disc(GRID), _disc(GRID)])


def _short_run(tree: bool, steps: int = 12):
    """A FactorGAN on 2-part data: the flat construction (assign_pools on paired
    and marginal pools) or the tree one (a depth-1 tree, tree_pools on disjoint
    observations: 20 complete samples and the other 180 parts alone)."""
    g = torch.Generator().manual_seed(0)
    data = torch.rand(200, 6, generator=g)
    torch.manual_seed(1)
    if tree:
        f = Factorisation.autoregressive([("A", 2), ("B", 4)], total=6)
        disc = factorised_or_joint("FactorGAN", f, lambda p: MLPDiscriminator(f.sizes[p], hidden=16),
                                   lambda sn: MLPDiscriminator(6, hidden=16, spectral_norm=sn), (True, True),
                                   group=lambda name, sn: MLPDiscriminator(f.size(name), hidden=16))
        pools = tree_pools(disc, data[:20], {"A": data[20:, :2], "B": data[20:, 2:]})
    else:
        f = Factorisation([("A", 2), ("B", 4)])
        disc = FactorisedDiscriminator(f, {"A": MLPDiscriminator(2, hidden=16), "B": MLPDiscriminator(4, hidden=16)},
                                       dep_p=MLPDiscriminator(6, hidden=16), dep_q=MLPDiscriminator(6, hidden=16))
        pools = assign_pools(disc, TensorPool(data[:20]), TensorPool(data))
    setup = GANSetup(MLPGenerator(4, 6, hidden=16), disc, NoiseInput(4), pools)
    state, log = TrainState.create(setup, seed=3), MemoryLog()
    train(state, LoopConfig(epochs=1, epoch_iter=steps, batch_size=8, log_every=1, progress=False), log)
    return log.history, state.state_dict()


def test_a_depth_one_tree_is_todays_factorgan_bit_for_bit():
    flat_log, flat_state = _short_run(tree=False)
    tree_log, tree_state = _short_run(tree=True)
    assert flat_log == tree_log
    for part in ("generator", "discriminator"):
        assert flat_state[part].keys() == tree_state[part].keys()
        assert all(torch.equal(flat_state[part][k], tree_state[part][k]) for k in flat_state[part])
