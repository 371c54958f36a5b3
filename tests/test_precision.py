"""--amp and --compile: tiny PairedMNIST runs on the synthetic MNIST (CPU)."""

import json
import shutil

import pytest
import torch
from torch import nn

from PairedMNIST import PairedMNIST
from tests.test_paired_mnist_run import _args, _weights
from training.discriminator import bce_real_fake
from training.precision import Precision
from training.runner import main

# Training scalars of `_args(..., "--factorGAN", "1", "--log_every", "1", "--max_steps", "3")`
# at step 3 on the default path (fp32, no compile; torch 2.14.1, CPU, 1 thread), recorded
# with the output-scaled spectral norm (models/spectral.py). Any change of the default
# path's numerics (data draws, model construction, losses, precision) shows up here, far above
# the 1e-6 relative tolerance; that tolerance absorbs the last-bit differences of another CPU
# (another machine gave 1.13043606 for 1.13043618).
RECORDED_STEP3 = {"D/upper/loss": 1.255685806274414, "D/lower/loss": 1.2930843830108643,
                  "D/p_dep/loss": 1.3699157238006592, "D/q_dep/loss": 1.3863685131072998,
                  "G/loss": 1.1304361820220947, "G/combined_prob_fake": 0.32289305329322815}


def _metrics(out, name):
    path = out / "PairedMNIST" / name / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def _train(mnist_root, out, *extra):
    args = _args(mnist_root, out, "--experiment_name", "p", "--log_every", "1", *extra)
    assert main(PairedMNIST(), args) == 0


def test_default_path_is_unchanged(mnist_root, tmp_path):
    _train(mnist_root, tmp_path, "--factorGAN", "1", "--max_steps", "3")
    last = _metrics(tmp_path, "p")[-1]
    assert last["step"] == 3
    assert {k: last[k] for k in RECORDED_STEP3} == pytest.approx(RECORDED_STEP3, rel=1e-6)


def test_bf16_trains_with_finite_losses_and_resumes_exactly(mnist_root, tmp_path):
    common = ["--factorGAN", "1", "--amp", "bf16", "--max_steps", "4"]
    _train(mnist_root, tmp_path / "full", *common)
    _train(mnist_root, tmp_path / "part", *common[:-1], "2")
    _train(mnist_root, tmp_path / "part", *common, "--resume")
    lines = _metrics(tmp_path / "full", "p")
    assert [x["step"] for x in lines] == [1, 2, 3, 4]
    assert all(torch.isfinite(torch.tensor(v)) for x in lines for v in x.values())
    a, b = (_weights(tmp_path / d / "PairedMNIST" / "p" / "checkpoints" / "last.pt") for d in ("full", "part"))
    assert a["options"]["amp"] == b["options"]["amp"] == "bf16" and b["step"] == 4
    for key in ("generator", "discriminator"):
        for name, tensor in a[key].items():
            assert torch.equal(tensor, b[key][name]), (key, name)
    # autocast was really on: the losses differ from the float32 ones
    assert lines[2]["G/loss"] != RECORDED_STEP3["G/loss"]


def _has_compiler():
    return any(shutil.which(c) for c in ("g++", "c++", "clang++"))


@pytest.mark.skipif(not _has_compiler(), reason="--compile on the CPU needs a C++ compiler (g++/clang++); none found")
def test_compile_trains_with_finite_losses_and_resumes(mnist_root, tmp_path):
    # the smallest model (GAN: generator + one discriminator) keeps the compile time down
    _train(mnist_root, tmp_path, "--factorGAN", "0", "--compile", "--max_steps", "2")
    _train(mnist_root, tmp_path, "--factorGAN", "0", "--compile", "--max_steps", "3", "--resume")
    lines = _metrics(tmp_path, "p")
    assert [x["step"] for x in lines] == [1, 2, 3]
    assert all(torch.isfinite(torch.tensor(v)) for x in lines for v in x.values())
    last = _weights(tmp_path / "PairedMNIST" / "p" / "checkpoints" / "last.pt")
    assert last["step"] == 3 and not any("_orig_mod" in k for k in last["generator"])  # plain parameter names


def test_fp16_on_the_cpu_is_refused_in_one_line(mnist_root, tmp_path, capsys):
    code = main(PairedMNIST(), _args(mnist_root, tmp_path, "--amp", "fp16"))
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--amp fp16 needs a CUDA GPU" in err[0]
    assert not (tmp_path / "PairedMNIST").exists()


def test_grad_scaler_state_goes_into_the_checkpoint(mnist_root, tmp_path, monkeypatch):
    """The fp16 path (a GradScaler per optimiser) with CPU scalers, as fp16 itself needs a GPU."""
    real_init = Precision.__init__

    def with_cpu_scalers(self, mode="none", device="cpu"):
        real_init(self, mode, device)
        self.scalers = {name: torch.amp.GradScaler("cpu", init_scale=2.0**10, growth_interval=2)
                        for name in ("opt_g", "opt_d")}

    monkeypatch.setattr(Precision, "__init__", with_cpu_scalers)
    common = ["--factorGAN", "1", "--amp", "bf16", "--max_steps", "4"]
    _train(mnist_root, tmp_path / "full", *common)
    _train(mnist_root, tmp_path / "part", *common[:-1], "3")
    _train(mnist_root, tmp_path / "part", *common, "--resume")
    a, b = (_weights(tmp_path / d / "PairedMNIST" / "p" / "checkpoints" / "last.pt") for d in ("full", "part"))
    scaler = a["grad_scalers"]["opt_d"]
    assert scaler["scale"] > 2.0**10  # grown every 2 finite steps (8 discriminator steps)
    assert a["grad_scalers"] == b["grad_scalers"]
    for name, tensor in a["generator"].items():
        assert torch.equal(tensor, b["generator"][name]), name


class _HalfDisc(nn.Module):
    def forward(self, x):
        return x.flatten(1).sum(1).to(torch.bfloat16)


def test_losses_are_float32_even_for_low_precision_logits():
    sub = bce_real_fake(_HalfDisc(), torch.ones(3, 2), torch.zeros(3, 2))
    assert sub.loss.dtype == torch.float32
