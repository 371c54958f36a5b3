"""PairedMNIST.py --seeds: every member writes the run directory of its --seed run."""

from __future__ import annotations

import json

import pytest
import torch

import training.ensemble
from PairedMNIST import PairedMNIST
from tests.test_paired_mnist_run import _args
from training.ensemble_run import main, member_name, without_ensemble_options
from training.options import RUNTIME_OPTIONS
from training.runner import main as single_main


def _last(run):
    return torch.load(run / "checkpoints" / "last.pt", weights_only=False)


def _tensors(state, prefix=""):
    """Every tensor of a (nested) checkpoint dict by its path."""
    out = {}
    for key, value in state.items():
        if isinstance(value, dict):
            out.update(_tensors(value, f"{prefix}{key}."))
        elif isinstance(value, torch.Tensor):
            out[f"{prefix}{key}"] = value
    return out


def _assert_close_runs(a, b, atol):
    """Two run directories of the same run: same files, options, split, logged steps; checkpoints within atol."""
    ca, cb = (json.loads((r / "config.json").read_text()) for r in (a, b))
    assert {k: v for k, v in ca.items() if k not in RUNTIME_OPTIONS} == {k: v for k, v in cb.items() if k not in RUNTIME_OPTIONS}
    assert (a / "split.json").read_text() == (b / "split.json").read_text()
    ma, mb = ([json.loads(x) for x in (r / "metrics.jsonl").read_text().splitlines()] for r in (a, b))
    assert [x["step"] for x in ma] == [x["step"] for x in mb] and [x.keys() for x in ma] == [x.keys() for x in mb]
    assert sorted(p.name for p in (a / "checkpoints").iterdir()) == sorted(p.name for p in (b / "checkpoints").iterdir())
    ta, tb = _tensors(_last(a)), _tensors(_last(b))
    assert ta.keys() == tb.keys()
    for key in ta:
        assert ta[key].shape == tb[key].shape and ta[key].dtype == tb[key].dtype, key
        if ta[key].is_floating_point():
            assert torch.allclose(ta[key], tb[key], rtol=0, atol=atol), key
        else:  # RNG states, pool orders and lower digits, steps
            assert torch.equal(ta[key], tb[key]), key
        # a member's tensors are its own, not views of the stacked ones
        assert tb[key].untyped_storage().nbytes() == tb[key].numel() * tb[key].element_size(), key


@pytest.mark.parametrize("pairing", ["fixed", "reference"])
def test_seeds_write_the_runs_of_each_seed(pairing, mnist_root, tmp_path):
    common = ["--factorGAN", "1", "--pairing", pairing, "--num_joint_samples", "20"]
    assert main(PairedMNIST(), _args(mnist_root, tmp_path / "ens", *common, "--seeds", "1", "7")) == 0
    for seed in (1, 7):
        name = f"FactorGAN_20joint_lambda0.4_s{seed}"  # the single run's default name has no seed
        assert single_main(PairedMNIST(), _args(mnist_root, tmp_path / "one", *common, "--seed", str(seed),
                                                "--experiment_name", name)) == 0
        member, single = tmp_path / "ens" / "PairedMNIST" / name, tmp_path / "one" / "PairedMNIST" / name
        _assert_close_runs(single, member, 1e-4)
        assert json.loads((member / "config.json").read_text())["seed"] == seed
        ra, rb = (json.loads((r / "results.json").read_text()) for r in (single, member))
        assert ra.keys() == rb.keys() and ra["step"] == rb["step"] == 6
        assert abs(ra["fid"] - rb["fid"]) < 1e-2 * max(1.0, abs(ra["fid"]))


def test_resume_brings_members_level_then_finishes(mnist_root, tmp_path):
    common = ["--experiment_name", "g", "--pairing", "reference", "--num_joint_samples", "20"]
    full, part = tmp_path / "full", tmp_path / "part"
    assert main(PairedMNIST(), _args(mnist_root, full, *common, "--seeds", "3", "4")) == 0
    # member 3 stopped by the ensemble at step 4, member 4 alone at step 2
    assert main(PairedMNIST(), _args(mnist_root, part, *common, "--seeds", "3", "--max_steps", "4")) == 0
    assert single_main(PairedMNIST(), _args(mnist_root, part, "--experiment_name", "g_s4", "--pairing", "reference",
                                            "--num_joint_samples", "20", "--seed", "4", "--max_steps", "2")) == 0
    assert _last(part / "PairedMNIST" / "g_s3")["step"] == 4
    assert main(PairedMNIST(), _args(mnist_root, part, *common, "--seeds", "3", "4", "--resume")) == 0
    for name in ("g_s3", "g_s4"):
        _assert_close_runs(full / "PairedMNIST" / name, part / "PairedMNIST" / name, 1e-4)
        assert json.loads((part / "PairedMNIST" / name / "results.json").read_text())["step"] == 6
    # --eval of the ensemble's members, named one by one
    assert main(PairedMNIST(), _args(mnist_root, part, "--seeds", "3", "4", "--experiment_names", "g_s3", "g_s4",
                                     "--eval")) == 0


def test_a_diverging_member_fails_alone(mnist_root, tmp_path, capsys, monkeypatch):
    real, calls = training.ensemble.member_generator_losses, {"n": 0}

    def poisoned(logit, objective):  # the second member's loss is NaN from the 5th update on
        calls["n"] += 1
        loss = real(logit, objective)
        return loss * torch.tensor([1.0, float("nan")]) if calls["n"] >= 5 and loss.shape[0] == 2 else loss

    monkeypatch.setattr(training.ensemble, "member_generator_losses", poisoned)
    args = _args(mnist_root, tmp_path, "--seeds", "1", "2", "--experiment_names", "a", "b", "--checkpoint_every", "2")
    assert main(PairedMNIST(), args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --seeds member 2: training diverged") and "b/checkpoints" in err[0]
    runs = tmp_path / "PairedMNIST"
    assert (runs / "a" / "results.json").is_file() and not (runs / "b" / "results.json").exists()
    assert _last(runs / "b")["step"] == 4 and _last(runs / "a")["step"] == 6


@pytest.mark.parametrize(("flags", "message"), [
    (["--model", "cogan", "--seeds", "1", "2"], "CoGAN trains one run per process"),
    (["--fake_batches", "per_disc", "--seeds", "1", "2"], "do not implement --fake_batches per_disc"),
    (["--instance_noise", "0.1", "--seeds", "1"], "do not implement --instance_noise"),
    (["--seed", "3", "--seeds", "1", "2"], "not both"),
    (["--seeds", "1", "1"], "each seed once"),
    (["--seeds", "1", "2", "--experiment_names", "a"], "one per --seeds value"),
    (["--experiment_names", "a"], "names the members of --seeds"),
])
def test_what_ensembles_refuse(flags, message, mnist_root, tmp_path, capsys):
    assert main(PairedMNIST(), _args(mnist_root, tmp_path, *flags)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err
    assert not (tmp_path / "PairedMNIST").exists()


def test_member_names_and_command_lines():
    assert member_name("run", 5) == "run_s5" and member_name("r{seed}x", 5) == "r5x"
    argv = ["--seeds", "1", "-2", "--factorGAN", "1", "--experiment_names", "a", "b", "--seeds=3", "--resume"]
    assert without_ensemble_options(argv) == ["--factorGAN", "1", "--resume"]
