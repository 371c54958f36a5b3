"""The GPU path on a real GPU: every test here is marked ``cuda`` and skipped
without one. Run exactly these with

    python -m pytest -m cuda tests

Each task's models train a few updates on the GPU with every tensor made
there; whole ``--cuda`` runs train, checkpoint, resume and evaluate;
checkpoints move between the GPU and the CPU; ``--amp bf16`` and ``fp16``;
``--compile``; a released generator is evaluated on the GPU; the audio
separation of a whole track. Tiny synthetic data (tests/tiny_runs.py).

CUDA_TESTS_DEVICE=cpu runs them on the CPU instead (those that need a GPU
itself, fp16 and moves between devices, skip), to check the tests themselves
where there is no GPU.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import shutil
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from AudioSeparation import separate_track
from common.io import load_checkpoint, save_atomic
from common.spectrogram import STFTSettings
from eval.sampling import WithNoise
from PairedMNIST import PairedMNIST
from tests.placement import ROOT, PlacementRecorder, report
from tests.tiny_runs import (
    AUDIO_BINS,
    EXPERIMENT_CLASSES,
    TASK_MODELS,
    WHOLE_RUNS,
    audio_setup,
    run_args,
    tiny_setup,
    write_data,
)
from training.loop import LoopConfig, TrainState, train_step
from training.precision import Precision
from training.runner import main

DEVICE = torch.device(os.environ.get("CUDA_TESTS_DEVICE", "cuda"))
ON_GPU = DEVICE.type == "cuda"
FLAGS = ["--cuda"] if ON_GPU else []  # what puts a run on DEVICE
pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(ON_GPU and not torch.cuda.is_available(),
                                 reason="needs a CUDA GPU (torch.cuda.is_available() is False)")]
needs_gpu = pytest.mark.skipif(not ON_GPU, reason="needs the GPU itself (CUDA_TESTS_DEVICE is not cuda)")


@pytest.fixture(scope="module")
def pix_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_data(tmp_path_factory.mktemp("pix"))


def _on_device(module: torch.nn.Module) -> bool:
    return all(t.device.type == DEVICE.type for t in [*module.parameters(), *module.buffers()])


def _finite(stats: dict[str, torch.Tensor]) -> bool:
    return all(v.device.type == DEVICE.type and bool(torch.isfinite(v)) for v in stats.values())


def _results(out: Path, task: str, name: str) -> dict[str, Any]:
    results = json.loads((out / task / name / "results.json").read_text())
    numbers = [v for v in results.values() if isinstance(v, float)]
    assert numbers and all(math.isfinite(v) for v in numbers), results
    return results


def _last(out: Path, task: str, name: str) -> dict[str, Any]:
    return torch.load(out / task / name / "checkpoints" / "last.pt", map_location="cpu", weights_only=False)


def _logged_steps(out: Path, task: str, name: str) -> list[int]:
    lines = (out / task / name / "metrics.jsonl").read_text().splitlines()
    return [row["step"] for row in map(json.loads, lines) if "G/loss" in row]


@pytest.mark.parametrize("task,model", TASK_MODELS, ids=[f"{t}/{m}" for t, m in TASK_MODELS])
def test_a_train_step_on_the_gpu(task, model, mnist_root, pix_root, tmp_path):
    setup = tiny_setup(task, model, DEVICE, mnist_root, pix_root, tmp_path)
    with PlacementRecorder(cpu_moves=True) as rec:
        state = TrainState.create(setup)
        for _ in range(3):
            stats = train_step(state, LoopConfig(batch_size=4))
    assert not rec.findings, report(rec.findings)
    assert state.rng.device.type == DEVICE.type and state.step == 3
    assert _on_device(setup.generator) and _on_device(setup.discriminator)
    assert _finite(stats), stats


@pytest.mark.parametrize("task", list(WHOLE_RUNS))
def test_a_whole_run_on_the_gpu(task, mnist_root, pix_root, tmp_path):
    args = run_args(task, mnist_root, pix_root, tmp_path, "--experiment_name", "r", *FLAGS, *WHOLE_RUNS[task])
    assert main(EXPERIMENT_CLASSES[task](), args) == 0
    assert _results(tmp_path, task, "r")["step"] == 4
    last = _last(tmp_path, task, "r")
    assert last["rng_device"] == DEVICE.type and last["step"] == 4
    assert json.loads((tmp_path / task / "r" / "config.json").read_text())["cuda"] is ON_GPU


@pytest.mark.parametrize("task", ["PairedMNIST", "Image2Image"])
def test_resume_on_the_gpu_continues_the_same_run(task, mnist_root, pix_root, tmp_path):
    extra = ("--pairing", "reference") if task == "PairedMNIST" else ()
    cfg = LoopConfig(batch_size=4)
    state = TrainState.create(tiny_setup(task, "FactorGAN", DEVICE, mnist_root, pix_root, tmp_path, *extra))
    for _ in range(2):
        train_step(state, cfg)
    save_atomic(state.state_dict(), tmp_path / "last.pt")
    resumed = TrainState.create(tiny_setup(task, "FactorGAN", DEVICE, mnist_root, pix_root, tmp_path, *extra))
    resumed.load_state_dict(load_checkpoint(tmp_path / "last.pt", DEVICE))
    assert torch.equal(resumed.rng.get_state(), state.rng.get_state()) and resumed.step == 2
    # the same draws and weights: the next update gives the same losses (up to the GPU's
    # non-deterministic reductions), where a new random stream would give others
    expected, got = train_step(state, cfg), train_step(resumed, cfg)
    for key, value in expected.items():
        torch.testing.assert_close(got[key], value, rtol=1e-4, atol=1e-5, msg=key)


def test_kill_and_resume_a_gpu_run(mnist_root, pix_root, tmp_path):
    args = run_args("PairedMNIST", mnist_root, pix_root, tmp_path, "--experiment_name", "x", *FLAGS,
                    "--factorGAN", "1", "--pairing", "reference")
    assert main(PairedMNIST(), [*args, "--max_steps", "2"]) == 0
    assert _last(tmp_path, "PairedMNIST", "x")["step"] == 2
    assert main(PairedMNIST(), [*args, "--resume"]) == 0
    assert _logged_steps(tmp_path, "PairedMNIST", "x") == [1, 2, 3, 4]
    assert _results(tmp_path, "PairedMNIST", "x")["step"] == 4


@needs_gpu
@pytest.mark.parametrize("first,then", [([], ["--cuda"]), (["--cuda"], [])], ids=["cpu-to-gpu", "gpu-to-cpu"])
def test_a_run_moves_between_the_gpu_and_the_cpu(first, then, mnist_root, pix_root, tmp_path):
    args = run_args("PairedMNIST", mnist_root, pix_root, tmp_path, "--experiment_name", "m", "--factorGAN", "1")
    assert main(PairedMNIST(), [*args, *first, "--max_steps", "2"]) == 0
    with pytest.warns(UserWarning, match="not bit-exact"):  # the random stream cannot move between devices
        assert main(PairedMNIST(), [*args, *then, "--resume"]) == 0
    last = _last(tmp_path, "PairedMNIST", "m")
    assert last["step"] == 4 and last["rng_device"] == ("cuda" if then else "cpu")
    # the generator saved by the first part, evaluated on the other device
    assert main(PairedMNIST(), [*args, *then, "--eval", "--eval_model", "G_epoch1"]) == 0
    assert _results(tmp_path, "PairedMNIST", "m")["step"] == 4
    assert json.loads((tmp_path / "PairedMNIST" / "m" / "results_G_epoch1.json").read_text())["step"] == 2


AMP = [pytest.param("bf16"), pytest.param("fp16", marks=needs_gpu)]


def _skip_without_bf16(amp: str) -> None:
    if amp == "bf16" and ON_GPU and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bfloat16 (it needs Ampere or newer)")


@pytest.mark.parametrize("amp", AMP)
@pytest.mark.parametrize("task", list(EXPERIMENT_CLASSES))
def test_amp_train_steps_on_the_gpu(amp, task, mnist_root, pix_root, tmp_path):
    _skip_without_bf16(amp)
    setup = tiny_setup(task, "FactorGAN", DEVICE, mnist_root, pix_root, tmp_path)
    state = TrainState.create(setup, precision=Precision(amp, DEVICE))
    for _ in range(4):
        stats = train_step(state, LoopConfig(batch_size=4, instance_noise=0.1))
    assert _finite(stats), stats
    assert set(state.precision.state_dict()) == ({"opt_g", "opt_d"} if amp == "fp16" else set())


@pytest.mark.parametrize("amp", AMP)
def test_an_amp_run_resumes_on_the_gpu(amp, mnist_root, pix_root, tmp_path):
    _skip_without_bf16(amp)
    args = run_args("Image2Image", mnist_root, pix_root, tmp_path, "--experiment_name", "a", *FLAGS,
                    "--amp", amp, "--factorGAN", "1")
    assert main(EXPERIMENT_CLASSES["Image2Image"](), [*args, "--max_steps", "2"]) == 0
    assert main(EXPERIMENT_CLASSES["Image2Image"](), [*args, "--resume"]) == 0  # --amp from the run's config
    last = _last(tmp_path, "Image2Image", "a")
    assert last["options"]["amp"] == amp and last["step"] == 4
    if amp == "fp16":
        assert all(scaler["scale"] > 0 for scaler in last["grad_scalers"].values())
    assert _results(tmp_path, "Image2Image", "a")["step"] == 4


def _can_compile_for_the_gpu() -> bool:
    """triton, and the C compiler it builds its kernel launchers with."""
    compilers = [c for c in (os.environ.get("CC"), "cc", "gcc", "clang") if c]
    return importlib.util.find_spec("triton") is not None and any(shutil.which(c) for c in compilers)


@pytest.mark.skipif(ON_GPU and not _can_compile_for_the_gpu(),
                    reason="torch.compile on the GPU needs triton and a C compiler (cc, gcc or clang)")
def test_compile_on_the_gpu(mnist_root, pix_root, tmp_path):
    # the smallest model (GAN: a generator and one discriminator) and one epoch keep the compile time down
    args = run_args("PairedMNIST", mnist_root, pix_root, tmp_path, "--experiment_name", "c", *FLAGS,
                    "--factorGAN", "0", "--compile", "--epochs", "1")
    assert main(PairedMNIST(), args) == 0
    assert _logged_steps(tmp_path, "PairedMNIST", "c") == [1, 2]
    last = _last(tmp_path, "PairedMNIST", "c")
    assert last["step"] == 2 and not any("_orig_mod" in k for k in last["generator"])  # plain parameter names
    assert _results(tmp_path, "PairedMNIST", "c")["step"] == 2


def test_a_released_generator_is_evaluated_on_the_gpu(mnist_root, tmp_path):
    release = ROOT / "releases" / "paired_mnist" / "FactorGAN_10_0.9_b1.0_s1337.pt"
    args = ["--data_root", str(mnist_root), "--out_path", str(tmp_path), "--cache_dir", str(tmp_path / "cache"),
            "--eval_samples", "100", "--no_progress", "--eval", "--generator", str(release), *FLAGS]
    assert main(PairedMNIST(), args) == 0
    results = _results(tmp_path, "PairedMNIST", release.stem)
    assert results["model"] == "FactorGAN" and set(results["by_classifier"]) == {"ours", "reference"}


def test_a_whole_track_is_separated_on_the_gpu():
    generator = audio_setup("FactorGAN", DEVICE).generator.eval()
    s = STFTSettings(sample_rate=8000, fft_size=2 * AUDIO_BINS, hop_size=16)
    samples = 8000 * 2  # 2 s: 1001 frames, eight 128-frame windows
    audio = np.random.default_rng(0).uniform(-0.5, 0.5, size=(samples, 2)).astype(np.float32)
    track = types.SimpleNamespace(audio=audio, rate=8000)
    nz = generator.predictor.noise.in_features
    separate = WithNoise(generator, nz, torch.Generator(device=DEVICE).manual_seed(0))
    estimates = separate_track(track, separate, s, 2, DEVICE)  # on the CPU, as numpy
    assert estimates.shape == (2, samples, 2) and np.isfinite(estimates).all()
