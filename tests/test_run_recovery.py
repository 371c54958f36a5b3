"""A run that crashed: --resume keeps its logs free of repeated steps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
from tensorboard.compat.proto.event_pb2 import SessionLog

from PairedMNIST import PairedMNIST
from training.runner import Run, main


def _args(mnist_root: Path, out: Path, *extra: str) -> list[str]:
    return ["--data_root", str(mnist_root), "--out_path", str(out), "--cache_dir", str(out / "cache"),
            "--factorGAN", "1", "--epochs", "1", "--epoch_iter", "8", "--batchSize", "8",
            "--num_joint_samples", "5", "--eval_samples", "100", "--no_progress", "--experiment_name", "c",
            "--checkpoint_every", "4", "--log_every", "1", *extra]


def _crash_before_step(step: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The run dies in step `step` after logging step - 1 (after_step comes before a step's logging)."""
    real = Run.after_step

    def crashing(self: Run, state) -> None:
        if state.step == step:
            raise RuntimeError("simulated crash")
        real(self, state)

    monkeypatch.setattr(Run, "after_step", crashing)


def _logged_steps(run: Path) -> list[int]:
    return [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_resume_after_a_crash_logs_every_step_once(mnist_root, tmp_path, monkeypatch):
    run = tmp_path / "PairedMNIST" / "c"
    with monkeypatch.context() as m:
        _crash_before_step(7, m)
        with pytest.raises(RuntimeError, match="simulated crash"):
            main(PairedMNIST(), _args(mnist_root, tmp_path))
    assert _logged_steps(run) == [1, 2, 3, 4, 5, 6]  # the last checkpoint is at step 4
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"step": 7, "G/lo')  # a row the crash cut off
    assert main(PairedMNIST(), _args(mnist_root, tmp_path, "--resume")) == 0
    assert _logged_steps(run) == list(range(1, 9))
    # TensorBoard: the resumed run's event file hides the old events from step 5 on
    newest = max((run / "tensorboard").glob("events.out.tfevents.*"), key=lambda p: p.stat().st_mtime_ns)
    starts = [e.step for e in EventFileLoader(str(newest)).Load() if e.session_log.status == SessionLog.START]
    assert starts == [5]
    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    assert [s.step for s in events.Scalars("G/loss")] == list(range(1, 9))


def test_resume_without_a_checkpoint_starts_the_log_afresh(mnist_root, tmp_path, monkeypatch):
    run = tmp_path / "PairedMNIST" / "c"
    with monkeypatch.context() as m:
        _crash_before_step(3, m)
        with pytest.raises(RuntimeError, match="simulated crash"):
            main(PairedMNIST(), _args(mnist_root, tmp_path))
    assert _logged_steps(run) == [1, 2]
    assert main(PairedMNIST(), _args(mnist_root, tmp_path, "--resume")) == 0
    assert _logged_steps(run) == list(range(1, 9))


def _one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    code = main(PairedMNIST(), argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, err
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


@pytest.mark.parametrize(("flag", "file", "advice"), [
    ("--resume", "last.pt", "delete the run folder"),
    ("--eval", "G.pt", "--eval_model G_epochN"),
])
def test_truncated_checkpoint_is_a_one_line_error(flag, file, advice, mnist_root, tmp_path, capsys):
    assert main(PairedMNIST(), _args(mnist_root, tmp_path, "--max_steps", "4")) == 0
    path = tmp_path / "PairedMNIST" / "c" / "checkpoints" / file
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # a copy that broke off halfway
    capsys.readouterr()
    msg = _one_line_error(capsys, _args(mnist_root, tmp_path, flag))
    assert f"checkpoint {path} is truncated or corrupt" in msg
    assert "restore a good copy" in msg and advice in msg


def test_resume_refuses_a_new_optimiser_setting(mnist_root, tmp_path, capsys):
    """The optimisers' saved state holds lr and the marginal factor: a new value on
    --resume would be ignored or fail deep inside; it is refused in one line."""
    flags = ["--factorGAN", "1", "--max_steps", "2"]
    assert main(PairedMNIST(), _args(mnist_root, tmp_path, *flags)) == 0
    capsys.readouterr()
    assert main(PairedMNIST(), _args(mnist_root, tmp_path, "--resume", "--marginal_lr_factor", "0.5")) == 2
    assert capsys.readouterr().err.startswith("error: --marginal_lr_factor cannot change when a run resumes "
                                              "(it trained with 1.0;")
    assert main(PairedMNIST(), _args(mnist_root, tmp_path, "--resume", "--lr", "1e-4", "--max_steps", "3")) == 0
