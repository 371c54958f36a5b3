"""analysis.sweep groups unfinished runs that differ only by seed into one --seeds process."""

from __future__ import annotations

import json
import shlex

from analysis import sweep
from PairedMNIST import PairedMNIST
from training.ensemble_run import member_argvs
from training.options import build_parser


def _commands(capsys) -> list[str]:
    return capsys.readouterr().out.strip().splitlines()


def _argv(command: str) -> list[str]:
    """The entry script's arguments in a printed command."""
    words = shlex.split(command)
    return words[words.index("PairedMNIST.py") + 1:]


def _parsed(argv: list[str]) -> dict:
    exp = PairedMNIST()
    return vars(build_parser(exp.description, exp.add_options).parse_args(argv))


def test_seeds_of_a_cell_become_one_ensemble_process(tmp_path, capsys):
    args = ["fig1", "--out_path", str(tmp_path), "--budget", "0.05", "--paired", "10", "--lambdas", "0.9",
            "--models", "GAN", "FactorGAN-no-cp", "CoGAN", "--seeds", "1337", "1", "2", "--dry_run"]
    assert sweep.main([*args, "--max_members", "1"]) == 0
    singles = {_argv(c)[_argv(c).index("--experiment_name") + 1]: _argv(c) for c in _commands(capsys)[1:]}
    assert len(singles) == 9
    done = tmp_path / "PairedMNIST" / "GAN_10_0.9_b0.05_s1"
    done.mkdir(parents=True)
    (done / "results.json").write_text("{}")
    assert sweep.main(args) == 0
    lines = _commands(capsys)
    assert lines[0] == "9 runs in the grid, 1 finished, 8 to run in 5 processes"  # CoGAN: one run per process
    ensembles = [_argv(c) for c in lines[1:] if "--seeds" in c]
    assert len(ensembles) == 2 and sum("--model" in c for c in lines[1:]) == 3
    gan = next(argv for argv in ensembles if "--use_real_dep_disc" not in argv)
    assert " ".join(gan).count("--seeds 1337 2 --experiment_names GAN_10_0.9_b0.05_s1337 GAN_10_0.9_b0.05_s2") == 1
    # each member's command line is the single run's command line
    for argv in ensembles:
        for seed, member in member_argvs(PairedMNIST(), argv):
            name = member[member.index("--experiment_name") + 1]
            assert name.endswith(f"_s{seed}") and _parsed(member) == _parsed(singles[name])


def test_max_members_splits_a_cell(tmp_path, capsys):
    args = ["fig1", "--out_path", str(tmp_path), "--budget", "0.05", "--paired", "10", "--lambdas", "0.9",
            "--models", "FactorGAN", "--seeds", "1", "2", "3", "--max_members", "2", "--dry_run"]
    assert sweep.main(args) == 0
    lines = _commands(capsys)
    assert lines[0] == "3 runs in the grid, 0 finished, 3 to run in 2 processes"
    assert "--seeds 1 2 " in lines[1] and "--seed 3 " in lines[2]


def test_sweep_trains_an_ensemble_process(mnist_root, tmp_path):
    args = ["fig1", "--out_path", str(tmp_path), "--budget", "0.00001", "--paired", "5", "--lambdas", "0.9",
            "--models", "GAN", "--seeds", "1", "2",
            "--extra", "--data_root", str(mnist_root), "--cache_dir", str(tmp_path / "cache"),
            "--eval_samples", "50", "--batchSize", "4"]
    assert sweep.main(args) == 0
    for seed in (1, 2):
        run = tmp_path / "PairedMNIST" / f"GAN_5_0.9_b1e-05_s{seed}"
        assert json.loads((run / "config.json").read_text())["seed"] == seed
        assert (run / "results.json").is_file()
    assert (tmp_path / "PairedMNIST" / "GAN_5_0.9_b1e-05_s1+1.log").is_file()
