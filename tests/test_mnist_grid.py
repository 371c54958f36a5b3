"""PairedMNIST --layout 2x2 (issue 36): the grids' data rule, observations, scores and whole runs."""

import json

import numpy as np
import pytest
import torch
from torch import nn

from analysis import sample
from datasets.mnist_grids import COLUMNS, draw_grid_indices, grid_image, make_grids, observed_split
from eval.mnist_grids import grid_scores
from PairedMNIST import PairedMNIST
from training.ensemble_run import main
from training.mnist_grid import grid_factorisation, grid_observations
from training.options import build_parser


def test_the_data_rule_links_lower_digits_and_columns():
    weights = torch.ones(10).index_fill(0, torch.tensor([8]), 2.0)  # uneven: class 8 twice as common
    labels = torch.multinomial(weights, 40000, replacement=True, generator=torch.Generator().manual_seed(0))
    idx = draw_grid_indices(labels, 0.3, 0.8, torch.Generator().manual_seed(1))
    c = labels[idx]
    assert torch.equal(idx[:, 0], torch.arange(40000))  # upper-left: every training digit once
    for got, want in (((c[:, 1] == c[:, 0]), 0.3), ((c[:, 2] == (c[:, 0] + 1) % 10), 0.8), ((c[:, 3] == c[:, 2]), 0.3)):
        assert abs(got.float().mean().item() - want) < 0.01
    with pytest.raises(ValueError, match="every class"):
        draw_grid_indices(labels.clamp(max=8), 0.3, 0.8, torch.Generator())
    # "another class" in proportion to the class frequencies: class 8 is twice as common as the others
    other = c[:, 3][c[:, 3] != c[:, 2]]
    share = torch.bincount(other, minlength=10).float() / other.numel()
    assert abs(share[8].item() / share[0].item() - 2) < 0.15
    again = draw_grid_indices(labels, 0.3, 0.8, torch.Generator().manual_seed(1))
    assert torch.equal(idx, again)  # drawn from the seed alone


def test_grid_layout_and_image():
    images = torch.arange(4, dtype=torch.uint8)[:, None, None].expand(4, 28, 28)
    grids = make_grids(images, torch.tensor([[0, 1, 2, 3]]))
    assert grids.shape == (1, 3136) and grids[0, ::784].tolist() == [0, 1, 2, 3]
    picture = grid_image(grids.float())
    assert picture.shape == (1, 1, 56, 56)
    assert [picture[0, 0, y, x].item() for y, x in ((0, 0), (30, 0), (0, 30), (30, 30))] == [0, 1, 2, 3]


def test_observations_are_disjoint_and_hold_every_digit_once():
    grids = torch.arange(10)[:, None].repeat(1, 3136)  # value = grid index
    complete, columns, digits = observed_split(grids, 2, 3)
    assert complete[:, 0].tolist() == [0, 1] and columns["left"].shape == (3, 1568)
    assert columns["right"][:, 0].tolist() == [2, 3, 4] and digits["lr"][:, 0].tolist() == [5, 6, 7, 8, 9]
    with pytest.raises(ValueError, match="num_joint"):
        observed_split(grids, 5, 6)


@pytest.mark.parametrize("kind, nodes", [("hierarchical", {"left": 3, "right": 3, "ul": 5, "lr": 5}),
                                         ("autoregressive", {"ul_to_ll": 3, "ul": 5, "ur": 8, "lr": 8}),
                                         ("flat", {"ul": 8, "ll": 8, "ur": 8, "lr": 8})])
def test_columns_feed_the_node_that_is_the_column(kind, nodes):
    f = grid_factorisation(kind)
    grids = torch.arange(10.0)[:, None] * 10000 + torch.arange(3136)  # grid g, entry j: 10000 g + j
    _, columns, digits = observed_split(grids, 2, 3)
    alone = grid_observations(f, columns, digits)
    assert {n: len(x) for n, x in alone.items() if n in nodes} == nodes
    assert set(alone) <= {*f.names, *f.groups}
    for node, x in alone.items():
        assert x.shape[1] == f.size(node)
    # the left column (grids 2-4) goes whole to the node that is that column; otherwise its digits go to marginals
    column_node = {"hierarchical": "left", "autoregressive": "ul_to_ll"}.get(kind)
    if column_node:
        assert f.leaves_of(column_node) == COLUMNS["left"]
        assert any(torch.equal(alone[column_node][i:i + 3], columns["left"]) for i in range(len(alone[column_node])))
    else:
        assert any(torch.equal(alone["ul"][i:i + 3], columns["left"][:, :784]) for i in range(len(alone["ul"])))
    right_digits = alone["ur"] if kind != "hierarchical" else alone["right"][:, :784]
    assert any(torch.equal(right_digits[i:i + 3], columns["right"][:, :784]) for i in range(len(right_digits)))


class _Stub(nn.Module):
    """A 'classifier' of 49 pixel features whose class is the argmax of the first ten."""

    def features(self, x):
        return x.reshape(x.shape[0], -1)[:, ::16]

    def head(self, f):
        return f[:, :10]


def test_grid_scores_of_real_grids_against_themselves_are_zero():
    grids = torch.rand(300, 3136, generator=torch.Generator().manual_seed(0))
    digits = grids.reshape(300, 4, 784)[:, :, ::16][:, :, :10]
    labels = digits.argmax(2)  # the stub's classes: real labels agree with the predicted ones
    s = grid_scores(_Stub(), grids, labels, grids)
    assert s["fid"] == pytest.approx(0, abs=1e-6) and s["dependency_within"] == 0 and s["dependency_between"] == 0
    # the right column moved to other rows as a whole: columns intact, the link between upper digits broken
    moved = torch.cat([grids[:, :1568], grids[torch.randperm(300, generator=torch.Generator().manual_seed(1)), 1568:]], 1)
    s = grid_scores(_Stub(), grids, labels, moved)
    assert s["dependency_within"] == 0 and s["dependency_between"] > 0.05
    shifted = grid_scores(_Stub(), grids, labels, grids * 0.5)
    assert shifted["fid"] > 0.1 and shifted["fid"] == pytest.approx(np.mean([shifted[f"fid_{p}"] for p in
                                                                             ("ul", "ll", "ur", "lr")]))


def _args(mnist_root, out, *extra):
    return ["--data_root", str(mnist_root), "--out_path", str(out), "--cache_dir", str(out / "cache"),
            "--epochs", "1", "--epoch_iter", "2", "--batchSize", "4", "--num_joint_samples", "5",
            "--num_column_samples", "40", "--eval_samples", "50", "--no_progress", "--log_every", "1",
            "--layout", "2x2", "--experiment_name", "r", *extra]


def test_a_hierarchical_run_writes_the_three_metrics_and_samples(mnist_root, tmp_path):
    assert main(PairedMNIST(), _args(mnist_root, tmp_path, "--factorisation", "hierarchical")) == 0
    run = tmp_path / "PairedMNIST" / "r"
    results = json.loads((run / "results.json").read_text())
    assert results["model"] == "FactorGAN" and results["factorisation"] == "hierarchical"
    for key in ("fid", "dependency_within", "dependency_between"):
        assert np.isfinite(results[key]) and np.isfinite(results["floor"][key])
    logged = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert {"D/p_dep/left/loss", "D/q_dep/right/loss", "D/p_dep/loss", "D/ul/loss"} <= set(logged)
    split = json.loads((run / "split.json").read_text())
    assert split["num_column_samples"] == 40 and len(split["ur_index"]) == 600
    out = tmp_path / "s.npz"
    assert sample.main(["--generator", str(run / "checkpoints" / "G.pt"), "--n", "3", "--out", str(out)]) == 0
    assert np.load(out)["samples"].shape == (3, 4, 28, 28)


def test_resume_continues_exactly_and_periodic_scores_log(mnist_root, tmp_path):
    flags = ["--factorisation", "autoregressive", "--epochs", "2", "--eval_every", "2", "--eval_subset", "20"]
    assert main(PairedMNIST(), _args(mnist_root, tmp_path / "full", *flags)) == 0
    assert main(PairedMNIST(), _args(mnist_root, tmp_path / "part", *flags, "--max_steps", "2")) == 0
    assert main(PairedMNIST(), _args(mnist_root, tmp_path / "part", *flags, "--resume")) == 0
    full, part = (torch.load(tmp_path / d / "PairedMNIST" / "r" / "checkpoints" / "last.pt", weights_only=False)
                  for d in ("full", "part"))
    for k, v in full["discriminator"].items():
        assert torch.equal(v, part["discriminator"][k]), k
    assert any(k.startswith("group_p.ul_to_ur") for k in full["discriminator"])
    rows = [json.loads(x) for x in (tmp_path / "full" / "PairedMNIST" / "r" / "metrics.jsonl").read_text().splitlines()]
    assert {"val/fid/ours", "val/dependency_within/ours", "val/dependency_between/ours"} <= {k for r in rows for k in r}


def test_pools_of_each_level(mnist_root, tmp_path):
    opts = build_parser("", PairedMNIST().add_options).parse_args(
        _args(mnist_root, tmp_path, "--factorGAN", "1", "--factorisation", "autoregressive"))
    setup, _ = PairedMNIST().build(opts, torch.device("cpu"))
    sizes = {name: len(pool) for name, pool in setup.pools.items()}
    assert sizes == {"ul": 600, "ll": 600, "ur": 600, "lr": 600, "p_dep": 5, "p_dep/ul_to_ur": 5,
                     "p_dep/ul_to_ll": 45}


@pytest.mark.parametrize("flags, message", [
    (["--layout", "2x1", "--factorisation", "hierarchical"], "add --layout 2x2"),
    (["--factorisation", "flat", "--factorGAN", "0"], "--factorisation flat means --factorGAN 1, but --factorGAN 0"),
    (["--factorGAN", "0", "--factorisation", "flat"], "--factorisation flat means --factorGAN 1, but --factorGAN 0"),
    (["--factorGAN", "1", "--factorisation", "joint"], "--factorisation joint means --factorGAN 0, but --factorGAN 1"),
    (["--model", "cogan"], "trains GAN and FactorGAN"),
    (["--num_column_samples", "596"], "at most 600"),
    (["--factorGAN", "1", "--seeds", "1", "2"], "--seeds: ensembles do not implement --layout 2x2"),
])
def test_what_the_grids_refuse(flags, message, mnist_root, tmp_path, capsys):
    assert main(PairedMNIST(), _args(mnist_root, tmp_path, *flags)) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
