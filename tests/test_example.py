"""examples/two_part.py: the library API end to end, and FactorGAN's use of the pairs."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("two_part", ROOT / "examples" / "two_part.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_factorgan_recovers_the_dependency_that_no_cp_cannot(example):
    # D_P is FactorGAN's only link to the pairs: disconnect it and FactorGAN is no-cp (dependency ~0)
    _, dep_factor = example.fit("FactorGAN", steps=1000, seed=0)
    _, dep_no_cp = example.fit("FactorGAN-no-cp", steps=1000, seed=0)
    assert dep_factor > dep_no_cp + 0.4, (dep_factor, dep_no_cp)


def test_scores_of_exact_and_independent_pairs(example):
    import torch

    real = example.make_pairs(3000, torch.Generator().manual_seed(0))
    marginals, dependency = example.scores(real, example.make_pairs(3000, torch.Generator().manual_seed(1)))
    assert marginals < 5 and dependency > 0.95  # real pairs: right marginals, dependency kept
    shuffled = torch.cat([real[:, :2], real[torch.randperm(3000), 2:]], 1)
    assert abs(example.scores(shuffled, real)[1]) < 0.1  # parts paired at random: no dependency


@pytest.mark.parametrize("where", ["repository root", "another folder"])
def test_example_runs_from_a_clone_without_installing(where, tmp_path):
    """As a user runs it after the README's quick setup: no `pip install -e .`, no PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    cwd, script = (ROOT, "examples/two_part.py") if where == "repository root" else (tmp_path, ROOT / "examples" / "two_part.py")
    out = subprocess.run([sys.executable, str(script), "--steps", "20"], cwd=cwd, env=env, capture_output=True,
                         text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr[-800:]
    lines = out.stdout.strip().splitlines()
    assert [line.split()[0] for line in lines] == ["GAN", "FactorGAN-no-cp", "FactorGAN"]


@pytest.mark.parametrize("argv", [["--steps", "0"], ["--pairs", "0"], ["--steps", "-1"]])
def test_impossible_counts_are_refused(example, argv, capsys):
    with pytest.raises(SystemExit):
        example.main(argv)
    assert f"{argv[0]} must be at least 1, got {argv[1]}" in capsys.readouterr().err
