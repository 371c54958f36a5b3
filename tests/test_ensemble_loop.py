"""train_ensemble: each member logs, checkpoints, catches up and fails as its single run."""

from __future__ import annotations

import dataclasses
import signal

import pytest
import torch

import training.ensemble
from tests.test_ensemble import assert_same, float64, tiny_state  # noqa: F401 (float64: a fixture)
from training.ensemble_loop import train_ensemble
from training.loop import LoopConfig, MemoryLog, train

pytestmark = pytest.mark.usefixtures("float64")
CFG = LoopConfig(epochs=2, epoch_iter=10, batch_size=8, log_every=4, checkpoint_every=6, progress=False)


def _history_close(a: list[dict], b: list[dict], tol: float) -> None:
    assert [r["step"] for r in a] == [r["step"] for r in b]
    for x, y in zip(a, b, strict=True):
        assert x.keys() == y.keys()
        assert all(abs(x[k] - y[k]) <= tol for k in x), (x, y)


def test_members_log_and_checkpoint_as_single_runs(tmp_path):
    seeds = [1337, 1, 2]
    singles, logs = [tiny_state("FactorGAN", s) for s in seeds], []
    for s, single in zip(seeds, singles, strict=True):
        logs.append(MemoryLog(tmp_path / f"single{s}.pt"))
        assert train(single, CFG, logs[-1])
    members = [tiny_state("FactorGAN", s) for s in seeds]
    hooks = [MemoryLog(tmp_path / f"member{s}.pt") for s in seeds]
    outcome = train_ensemble(members, CFG, hooks)
    assert outcome.finished and not outcome.failed
    for single, member, log, hook, s in zip(singles, members, logs, hooks, seeds, strict=True):
        _history_close(log.history, hook.history, 1e-8)
        assert_same(single, member, 1e-8)
        saved = torch.load(tmp_path / f"member{s}.pt", weights_only=False)
        assert saved["step"] == 20 and saved.keys() == single.state_dict().keys()


def test_members_behind_catch_up_first():
    # member 0 was stopped at step 7, member 1 at 3, member 2 never started: all end as uninterrupted runs
    seeds, stopped = [5, 6, 7], [7, 3, 0]
    members = [tiny_state("GAN", s) for s in seeds]
    for member, step in zip(members, stopped, strict=True):
        if step:
            assert not train(member, dataclasses.replace(CFG, max_steps=step))
    hooks = [MemoryLog() for _ in seeds]
    assert train_ensemble(members, CFG, hooks).finished
    for member, hook, s in zip(members, hooks, seeds, strict=True):
        single = tiny_state("GAN", s)
        train(single, CFG)
        assert_same(single, member, 1e-8)
        assert hook.history[-1]["step"] == 20
    assert hooks[1].history[0]["step"] == 4 and hooks[2].history[0]["step"] == 3  # member 2 stopped at 3 to join


def test_a_diverging_member_is_dropped_and_the_others_finish(monkeypatch, tmp_path):
    real = training.ensemble.member_generator_losses
    calls = {"n": 0}

    def poisoned(logit, objective):  # member 1's loss turns NaN from the 7th generator step on
        calls["n"] += 1
        loss = real(logit, objective)
        if calls["n"] >= 7 and loss.shape[0] == 3:
            loss = loss * torch.tensor([1.0, float("nan"), 1.0])
        return loss

    monkeypatch.setattr(training.ensemble, "member_generator_losses", poisoned)
    seeds = [1, 2, 3]
    members = [tiny_state("FactorGAN", s) for s in seeds]
    hooks = [MemoryLog(tmp_path / f"{s}.pt") for s in seeds]
    outcome = train_ensemble(members, CFG, hooks)
    assert list(outcome.failed) == [1] and "before step 8" in str(outcome.failed[1])
    assert outcome.finished  # every member that did not diverge
    assert torch.load(tmp_path / "2.pt", weights_only=False)["step"] == 6  # its last good checkpoint
    assert [r["step"] for r in hooks[1].history] == [4, 6]
    for index in (0, 2):
        single = tiny_state("FactorGAN", seeds[index])
        train(single, CFG)
        assert_same(single, members[index], 1e-8)


class _SignalWhileLogging(MemoryLog):
    """Records checkpoints' steps; the first log call delivers a SIGTERM, as the
    campaign runner's limit can (a log step that is not a checkpoint step)."""

    def __init__(self) -> None:
        super().__init__()
        self.saved: list[int] = []

    def log(self, step: int, scalars: dict[str, float]) -> None:
        super().log(step, scalars)
        if len(self.history) == 1:
            signal.raise_signal(signal.SIGTERM)

    def checkpoint(self, state, epoch_end) -> None:
        self.saved.append(state.step)


@pytest.mark.parametrize("ensemble", [False, True])
def test_a_signal_while_logging_still_ends_with_a_checkpoint(ensemble):
    hook, state = _SignalWhileLogging(), tiny_state("GAN", 3)
    finished = (train_ensemble([state], CFG, [hook]).finished if ensemble else train(state, CFG, hook))
    assert not finished and hook.history[0]["step"] == 4  # the signal came at step 4, no checkpoint step
    assert hook.saved == [5] and state.step == 5  # one more step, then the checkpoint that stops
