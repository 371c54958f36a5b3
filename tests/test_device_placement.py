"""Device placement, checked without a GPU (issue 38, item 1).

On the CPU a tensor made without the run's device still lands on the right
device, so CPU runs hide what breaks the first ``--cuda`` run. Here: the
source audit and the run-time recorder of tests/placement.py over every
task's training step and whole runs, checkpoints and released generators
mapped onto other devices (map_location), and the GPU precision rules.
The same runs on a real GPU: tests/test_cuda.py (``pytest -m cuda``).
"""

from __future__ import annotations

import argparse
import textwrap
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

import PairedMNIST as paired_mnist
from common.errors import UserError
from common.io import load_checkpoint, save_atomic
from models.mnist_classifier import MNISTClassifier
from tests.placement import ALLOWED, ROOT, PlacementRecorder, audit, audit_source, report
from tests.tiny_runs import EXPERIMENT_CLASSES, TASK_MODELS, WHOLE_RUNS, parse, run_args, tiny_setup, write_data
from training.loop import LoopConfig, TrainState, train_step
from training.precision import Precision
from training.runner import main

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def pix_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_data(tmp_path_factory.mktemp("pix"))


# -- the source audit ------------------------------------------------------------------------

MISPLACED = """\
import torch
def step(x, rng):
    a = torch.zeros(3)
    b = torch.randperm(4, generator=rng)
    g = torch.Generator()
    n = x.numpy()
    s = torch.load("f.pt")
    return a, b, g, n, s, x.cuda()
"""
PLACED = """\
import torch
from torch import nn
class Layer(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.empty(3, 3))  # moves with the module
        self.register_buffer("u", torch.zeros(3))
    def forward(self, x, rng, **kw):
        a = torch.zeros(3, device=x.device) + torch.ones(3, **kw) + torch.zeros_like(x)
        b = torch.randperm(4, generator=rng, device=rng.device)
        g = torch.Generator(device=x.device)
        s = torch.load("f.pt", map_location=x.device)
        return a, b, g, s, x.detach().cpu().numpy(), torch.cuda.is_available()
"""


def test_the_audit_finds_each_kind_of_misplaced_call():
    found = audit_source(MISPLACED, "x.py")
    assert [(f.line, f.scope, f.call) for f in found] == [
        (3, "step", "torch.zeros"), (4, "step", "torch.randperm"), (5, "step", "torch.Generator"),
        (6, "step", ".numpy"), (7, "step", "torch.load"), (8, "step", ".cuda")]
    assert audit_source(PLACED, "y.py") == []


def test_the_audit_names_scopes_as_python_does():
    source = textwrap.dedent("""\
        import torch
        class A:
            def f(self):
                def g():
                    return torch.ones(1)
                return [torch.ones(1) for _ in ()]
        h = lambda: torch.ones(1)
        """)
    assert [f.scope for f in audit_source(source, "z.py")] == ["A.f.<locals>.g", "A.f", "<lambda>"]


def test_training_and_evaluation_code_makes_tensors_on_the_run_device():
    found = [f for f in audit() if not f.allowed]
    assert not found, ("calls that put tensors on the CPU whatever the run's device: pass device= (or "
                       "map_location=, .cpu()), or add a justified entry to ALLOWED in tests/placement.py\n"
                       + report(found))


def test_every_allowed_exception_is_still_in_the_code():
    used = {(f.path, f.scope, f.call) for f in audit() if f.allowed}
    assert sorted(set(ALLOWED) - used) == []  # stale entries: delete them


# -- the run-time recorder ---------------------------------------------------------------------

def _device_less(x: torch.Tensor) -> torch.Tensor:
    return x + torch.zeros(x.shape)  # right on the CPU only


class _Layer(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(2))  # moves with the module: not noted


def test_the_recorder_notes_device_less_factories_and_moves_to_the_cpu():
    x = torch.ones(2)
    with PlacementRecorder(cpu_moves=True, sources=[Path(__file__)]) as rec:
        _device_less(x)
        _Layer()
        torch.zeros(2, device=x.device)
        torch.as_tensor(x)  # follows its input
        x.cpu()
        x.to("cpu")
    here = "test_the_recorder_notes_device_less_factories_and_moves_to_the_cpu"
    assert [(f.scope, f.call) for f in rec.findings] == [("_device_less", "torch.zeros"), (here, ".cpu"), (here, ".to")]
    assert rec.findings[0].path == "tests/test_device_placement.py"
    with PlacementRecorder() as rec:  # by default only the training and evaluation sources count
        _device_less(x)
    assert rec.findings == []


def _train_steps(setup: Any, cfg: LoopConfig, precision: Precision | None = None, steps: int = 2) -> list[Any]:
    """findings of TrainState.create and `steps` train_steps of setup (on the CPU)."""
    with PlacementRecorder(cpu_moves=True) as rec:
        state = TrainState.create(setup, precision=precision)
        for _ in range(steps):
            stats = train_step(state, cfg)
    assert all(torch.isfinite(v) for v in stats.values())
    return rec.findings


@pytest.mark.parametrize("task,model", TASK_MODELS, ids=[f"{t}/{m}" for t, m in TASK_MODELS])
def test_a_train_step_makes_every_tensor_on_the_training_device(task, model, mnist_root, pix_root, tmp_path):
    setup = tiny_setup(task, model, CPU, mnist_root, pix_root, tmp_path)
    found = _train_steps(setup, LoopConfig(batch_size=4))
    assert not found, f"a {task} {model} training step makes or moves tensors off its device:\n{report(found)}"


@pytest.mark.parametrize("task", list(EXPERIMENT_CLASSES))
def test_the_optional_paths_of_a_train_step_too(task, mnist_root, pix_root, tmp_path):
    """bf16 autocast, instance noise, a fake batch per discriminator (and PairedMNIST's --pairing reference)."""
    extra = ("--pairing", "reference") if task == "PairedMNIST" else ()
    setup = tiny_setup(task, "FactorGAN", CPU, mnist_root, pix_root, tmp_path, *extra)
    cfg = LoopConfig(batch_size=4, instance_noise=0.1, fake_batches="per_disc")
    found = _train_steps(setup, cfg, Precision("bf16", CPU), steps=3)
    assert not found, f"{task}:\n{report(found)}"


@pytest.mark.parametrize("task", list(WHOLE_RUNS))
def test_a_whole_run_makes_its_tensors_on_the_run_device(task, mnist_root, pix_root, tmp_path):
    """Data, models, training, checkpoints and evaluation, as main() runs them."""
    args = run_args(task, mnist_root, pix_root, tmp_path, "--experiment_name", "r", *WHOLE_RUNS[task])
    with PlacementRecorder() as rec:
        assert main(EXPERIMENT_CLASSES[task](), args) == 0
    assert not rec.findings, f"{task}:\n{report(rec.findings)}"


# -- checkpoints on other devices ------------------------------------------------------------

def _tensors(obj: Any) -> Iterator[torch.Tensor]:
    """Every tensor in nested dicts, lists and tuples, in order; fails on other objects
    (a pickled generator or module would keep its own device, whatever map_location says)."""
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, dict):
        for value in obj.values():
            yield from _tensors(value)
    elif isinstance(obj, list | tuple):
        for value in obj:
            yield from _tensors(value)
    else:
        assert obj is None or isinstance(obj, bool | int | float | str), f"a {type(obj).__name__} in a checkpoint"


def _trained(mnist_root: Path, pix_root: Path, tmp_path: Path, steps: int = 2) -> TrainState:
    """A PairedMNIST FactorGAN state after `steps` updates (--pairing reference: its pools have a state)."""
    state = TrainState.create(tiny_setup("PairedMNIST", "FactorGAN", CPU, mnist_root, pix_root, tmp_path,
                                         "--pairing", "reference"))
    for _ in range(steps):
        train_step(state, LoopConfig(batch_size=4))
    return state


def _fresh(mnist_root: Path, pix_root: Path, tmp_path: Path) -> TrainState:
    return _trained(mnist_root, pix_root, tmp_path, steps=0)


def test_a_full_checkpoint_maps_onto_another_device_whole(mnist_root, pix_root, tmp_path):
    path = tmp_path / "last.pt"
    save_atomic(_trained(mnist_root, pix_root, tmp_path).state_dict(), path)
    on_cpu, on_meta = (list(_tensors(load_checkpoint(path, device))) for device in ("cpu", "meta"))
    assert len(on_meta) == len(on_cpu) > 50  # models, optimisers, the RNG and the pools' passes
    assert all(m.device.type == "meta" and (m.shape, m.dtype) == (c.shape, c.dtype)
               for c, m in zip(on_cpu, on_meta, strict=True))


class _MappedAway:
    """The saved RNG state as load_checkpoint(path, "cuda") returns it: on the
    GPU, where Generator.set_state refuses it; only .cpu() or .to("cpu") gives
    the byte tensor back."""

    def __init__(self, state: torch.Tensor) -> None:
        self._state = state

    def cpu(self) -> torch.Tensor:
        return self._state

    def to(self, device: Any, *args: Any, **kwargs: Any) -> Any:
        return self._state if torch.device(device).type == "cpu" else self


def test_resume_takes_the_mapped_rng_state_back_to_the_cpu(mnist_root, pix_root, tmp_path):
    saved = _trained(mnist_root, pix_root, tmp_path).state_dict()
    assert saved["rng_device"] == "cpu"
    state = _fresh(mnist_root, pix_root, tmp_path)
    state.load_state_dict({**saved, "rng": _MappedAway(saved["rng"])})
    assert torch.equal(state.rng.get_state(), saved["rng"]) and state.step == 2


def test_a_checkpoint_without_the_rng_device_is_a_cpu_run(mnist_root, pix_root, tmp_path):
    saved = _trained(mnist_root, pix_root, tmp_path).state_dict()
    state = _fresh(mnist_root, pix_root, tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        state.load_state_dict({k: v for k, v in saved.items() if k != "rng_device"})  # as before this key
    assert torch.equal(state.rng.get_state(), saved["rng"])


def test_a_gpu_checkpoint_resumes_on_the_cpu_with_a_stream_seeded_from_it(mnist_root, pix_root, tmp_path):
    saved = _trained(mnist_root, pix_root, tmp_path).state_dict()
    # a CUDA generator's state: 16 bytes (seed and offset), which a CPU generator cannot take
    from_gpu = {**saved, "rng": torch.arange(16, dtype=torch.uint8), "rng_device": "cuda"}
    states = []
    for _ in range(2):
        state = _fresh(mnist_root, pix_root, tmp_path)
        with pytest.warns(UserWarning, match="cuda generator.*not bit-exact"):
            state.load_state_dict(from_gpu)
        states.append(state.rng.get_state())
    assert torch.equal(states[0], states[1])  # the same checkpoint continues the same way
    assert not torch.equal(states[0], _fresh(mnist_root, pix_root, tmp_path).rng.get_state())  # not --seed's stream
    assert all(torch.isfinite(v) for v in train_step(state, LoopConfig(batch_size=4)).values())


RELEASED = sorted((ROOT / "releases").rglob("*.pt"))


def _released_model(path: Path, state: dict[str, Any]) -> tuple[torch.nn.Module, dict[str, torch.Tensor]]:
    """The model a released file's weights belong to, built on the meta device, and those weights."""
    if "model" in state:  # an evaluation classifier
        return MNISTClassifier().to("meta"), state["model"]
    opts = parse("PairedMNIST", [])
    opts = argparse.Namespace(**{**vars(opts), **state["options"], "eval": True})
    setup = paired_mnist.generator_setup(opts, torch.device("meta"))  # pairs or 2x2 grids, from the options
    return setup.generator, state["generator"]


@pytest.mark.parametrize("path", RELEASED, ids=[p.name for p in RELEASED])
def test_a_released_file_loads_onto_any_device(path):
    on_cpu = torch.load(path, weights_only=False)  # no map_location: its tensors were saved from the CPU
    assert {t.device.type for t in _tensors(on_cpu)} == {"cpu"}
    on_meta = load_checkpoint(path, "meta")
    model, weights = _released_model(path, on_meta)
    assert {t.device.type for t in _tensors(weights)} == {"meta"}
    model.load_state_dict(weights)  # every weight, of the right shape, for the model built on that device


def test_bf16_on_a_gpu_without_bfloat16_is_refused_before_training(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: False)
    with pytest.raises(UserError, match="no bfloat16.*--amp fp16"):
        Precision("bf16", "cuda")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: True)
    assert Precision("bf16", torch.device("cuda", 0)).device_type == "cuda"  # autocast on the run's device type
