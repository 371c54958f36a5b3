"""One experiment run: options -> run directory -> train (or resume) -> evaluate.

Each entry script describes its experiment with an ``Experiment`` subclass
and calls ``main``; everything shared (seeding, devices, the run directory,
checkpoints, resume, results files) lives here.
"""

from __future__ import annotations

import argparse
import csv
import fcntl
import json
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn

from common.io import load_checkpoint, save_atomic
from training.loop import GANSetup, LoopConfig, TrainingDiverged, TrainState, train
from training.options import UserError, build_parser, parse_options
from training.precision import Precision, compiled


class Experiment:
    """What an entry script defines. ``task`` names the output folder."""

    task: str = ""
    description: str = ""

    def add_options(self, parser: argparse._ArgumentGroup) -> None:
        """Add the experiment's own options."""

    def default_name(self, opts: argparse.Namespace) -> str:
        raise NotImplementedError

    def build(self, opts: argparse.Namespace, device: torch.device) -> tuple[GANSetup, dict[str, Any]]:
        """Load data, build models; returns the setup and the data split to save."""
        raise NotImplementedError

    def evaluate(self, setup: GANSetup, opts: argparse.Namespace, run: Run) -> dict[str, Any]:
        """Evaluate setup.generator (already loaded); returns the results."""
        raise NotImplementedError

    def periodic_scores(self, setup: GANSetup, opts: argparse.Namespace) -> dict[str, float]:
        """Quick scores of setup.generator during training (--eval_every), e.g.
        on a fixed validation subset; logged under val/. Called through
        ``score_aside``; it is not given the training RNG and must draw from
        its own. Experiments without it refuse --eval_every."""
        raise NotImplementedError


def has_periodic_scores(experiment: Experiment) -> bool:
    return type(experiment).periodic_scores is not Experiment.periodic_scores


def score_aside(generator: nn.Module, scores: Callable[[], dict[str, float]]) -> dict[str, float]:
    """scores() with the generator in eval mode (BatchNorm statistics are used,
    not updated), without gradients and with the global RNGs restored after:
    training goes on exactly as if it had not run."""
    device = next(generator.parameters()).device
    on_cpu = device.type == "cpu"  # the CPU RNG is always forked; an accelerator's only when named
    was_training = generator.training
    generator.eval()
    try:
        with torch.no_grad(), torch.random.fork_rng([] if on_cpu else [device], device_type=None if on_cpu else device.type):
            return scores()
    finally:
        generator.train(was_training)


class Run:
    """A run directory: out/<task>/<experiment_name>/ with config.json,
    split.json, metrics.jsonl, tensorboard/, checkpoints/, samples/, results.json."""

    def __init__(self, path: Path, opts: argparse.Namespace) -> None:
        self.path = path
        self.opts = opts
        self.checkpoints = path / "checkpoints"
        self.samples = path / "samples"
        self.scores: Callable[[], dict[str, float]] | None = None  # what after_step logs every opts.eval_every
        self._writer = None
        self._purge_step: int | None = None  # set by restart_log

    @property
    def last_checkpoint(self) -> Path:
        return self.checkpoints / "last.pt"

    def generator_checkpoint(self, name: str) -> Path:
        return self.checkpoints / f"{name}.pt"

    def write_json(self, name: str, obj: Any) -> None:
        self._write_text(name, json.dumps(obj, indent=2, sort_keys=True))

    def _write_text(self, name: str, text: str) -> None:
        """Write the file whole or not at all: a temporary file renamed over it."""
        tmp = self.path / f".{name}.tmp"
        tmp.write_text(text)
        tmp.replace(self.path / name)

    def restart_log(self, step: int) -> None:
        """Training (re)starts after step: forget what was logged after it.

        A run that crashed after its last checkpoint logged steps that the
        resumed run logs again; their metrics.jsonl rows are dropped (and a
        torn last line), and TensorBoard hides its events from step + 1 on.
        """
        self._purge_step = step + 1
        metrics = self.path / "metrics.jsonl"
        if metrics.is_file():
            kept = [line for line in metrics.read_text().splitlines() if _logged_step(line) <= step]
            self._write_text(metrics.name, "".join(f"{line}\n" for line in kept))

    # -- hooks of the training loop ------------------------------------
    def log(self, step: int, scalars: dict[str, float]) -> None:
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter  # slow import: only when training

            self._writer = SummaryWriter(str(self.path / "tensorboard"), purge_step=self._purge_step)
        for key, value in scalars.items():
            self._writer.add_scalar(key, value, step)
        with open(self.path / "metrics.jsonl", "a") as f:
            f.write(json.dumps({"step": step, "time": round(time.time(), 3), **scalars}) + "\n")

    def after_step(self, state: TrainState) -> None:
        """Every opts.eval_every updates (counted from the run's start, so a
        resumed run scores at the same steps): log self.scores() under val/."""
        every = self.opts.eval_every
        if self.scores is None or not every or state.step % every:
            return
        scores = score_aside(state.setup.generator, self.scores)
        self.log(state.step, {f"val/{key}": value for key, value in scores.items()})

    def checkpoint(self, state: TrainState, epoch_end: int | None) -> None:
        gen = {"generator": state.setup.generator.state_dict(), "step": state.step}
        if epoch_end is not None:
            save_atomic({**gen, "epoch": epoch_end}, self.generator_checkpoint(f"G_epoch{epoch_end}"))
        save_atomic(gen, self.generator_checkpoint("G"))
        save_atomic({**state.state_dict(), "options": vars(self.opts)}, self.last_checkpoint)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def _logged_step(line: str) -> float:
    """The step of a metrics.jsonl row; inf for a row that does not parse (cut off by a crash)."""
    try:
        return float(json.loads(line)["step"])
    except (ValueError, KeyError, TypeError):
        return float("inf")


def append_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]], delimiter: str = ";") -> None:
    """Append rows to a CSV in the paper's layout, safely from parallel runs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+", newline="") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        empty = f.read(1) == ""
        writer = csv.writer(f, delimiter=delimiter)
        if empty:
            writer.writerow(header)
        writer.writerows(rows)


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=False,
                             cwd=Path(__file__).parent, timeout=5)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def pick_device(opts: argparse.Namespace) -> torch.device:
    if opts.cuda:
        if not torch.cuda.is_available():
            raise UserError("--cuda given but no CUDA device is available; drop --cuda to run on the CPU")
        return torch.device("cuda")
    return torch.device("cpu")


def check_run_dir(run: Run, opts: argparse.Namespace) -> None:
    """Refuse to overwrite a run, to evaluate nothing, or to resume from nothing."""
    if opts.eval and opts.generator is not None:
        return  # a generator file: the run directory is made for its results
    if opts.eval:
        if not run.path.is_dir():
            raise UserError(f"no run at {run.path} to evaluate; check --out_path and --experiment_name")
        return
    if run.path.exists() and not opts.resume:
        raise UserError(f"run directory {run.path} already exists: add --resume to continue it, "
                        "or choose another --experiment_name")
    if opts.resume and not run.last_checkpoint.is_file():
        if run.path.exists() and any(run.checkpoints.glob("*.pt")):
            raise UserError(f"--resume: no full checkpoint at {run.last_checkpoint}")
        print(f"--resume: nothing to resume at {run.path}, starting a new run", file=sys.stderr)


def run_experiment(experiment: Experiment, argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Parse options, train (unless --eval), evaluate; returns the results."""
    parser = build_parser(experiment.description, experiment.add_options)
    opts = parse_options(parser, argv, experiment.task, experiment.default_name)
    run = Run(Path(opts.out_path) / experiment.task / opts.experiment_name, opts)
    check_run_dir(run, opts)
    if opts.eval_every and not opts.eval and not has_periodic_scores(experiment):
        raise UserError(f"--eval_every: {experiment.task} has no periodic scores; leave it at 0")
    if opts.threads:
        torch.set_num_threads(opts.threads)
    device = pick_device(opts)
    torch.manual_seed(opts.seed)
    setup, split = experiment.build(opts, device)  # fails on bad data before anything is written
    if not opts.eval:
        write_run_files(run, opts, split)
        if opts.eval_every:
            run.scores = partial(experiment.periodic_scores, setup, opts)
        step = _train(setup, opts, run, device)
        if step < opts.epochs * opts.epoch_iter:
            print(f"stopped at step {step} with a checkpoint; continue with --resume", file=sys.stderr)
            return {"stopped_at_step": step}
    path = Path(opts.generator) if opts.generator else run.generator_checkpoint(opts.eval_model)
    state = load_checkpoint(path, device,
                            missing="train the run first, or check --out_path, --experiment_name and --eval_model",
                            damaged="restore a good copy, or evaluate another checkpoint with --eval_model G_epochN",
                            keys=("generator",))
    check_fits(setup.generator, state["generator"], path, experiment.task)
    setup.generator.load_state_dict(state["generator"])
    setup.generator.eval()
    print(f"evaluating {path} (step {state.get('step')})")
    run.path.mkdir(parents=True, exist_ok=True)
    results = experiment.evaluate(setup, opts, run)
    results.update(eval_model=opts.eval_model, step=state.get("step"))
    if opts.generator:
        results["generator"] = str(path)
    # results of another checkpoint than the latest do not replace the run's results
    run.write_json("results.json" if opts.eval_model == "G" else f"results_{opts.eval_model}.json", results)
    print(json.dumps(results, indent=2))
    return results


def check_fits(model: nn.Module, weights: dict[str, torch.Tensor], path: Path, task: str) -> None:
    """A one-line error, instead of torch's list of every mismatch, when the
    weights of path are not those of model (names and shapes)."""
    own = model.state_dict()
    wrong = sorted(k for k in own.keys() | weights.keys()
                   if k not in own or k not in weights or tuple(own[k].shape) != tuple(weights[k].shape))
    if not wrong:
        return
    k = wrong[0]
    example = (f"{k} is {tuple(weights[k].shape)} there, {tuple(own[k].shape)} here" if k in own and k in weights
               else f"{k} only {'there' if k in weights else 'here'}")
    differ = "1 tensor differs" if len(wrong) == 1 else f"{len(wrong)} tensors differ"
    raise UserError(f"the generator in {path} does not fit the {task} generator built from its options "
                    f"({differ}, e.g. {example}): it was trained by another experiment or with other model "
                    "options; evaluate it with the script and options that trained it")


def write_run_files(run: Run, opts: argparse.Namespace, split: dict[str, Any]) -> None:
    """The run directory with its resolved options (config.json) and data split (split.json)."""
    run.path.mkdir(parents=True, exist_ok=True)
    run.write_json("config.json", {**vars(opts), "git_commit": _git_commit(),
                                   "torch_threads": torch.get_num_threads()})
    run.write_json("split.json", split)


def start_state(setup: GANSetup, opts: argparse.Namespace, run: Run, device: torch.device) -> TrainState:
    """A fresh training state seeded with opts.seed, or with --resume the run's last checkpoint."""
    state = TrainState.create(setup, opts.lr, opts.beta1, opts.L2, opts.seed, Precision(opts.amp, device),
                              marginal_lr_factor=opts.marginal_lr_factor, l2_scope=opts.l2_scope,
                              adam_impl=opts.adam_impl)
    if opts.resume and run.last_checkpoint.is_file():
        state.load_state_dict(load_checkpoint(run.last_checkpoint, device, damaged=(
            f"restore a good copy, or delete the run folder {run.path} to train it from scratch")))
        print(f"resuming {run.path} at step {state.step}")
    if opts.resume:
        run.restart_log(state.step)
    return state


def loop_config(opts: argparse.Namespace) -> LoopConfig:
    """The training loop's schedule from the options."""
    return LoopConfig(
        epochs=opts.epochs, epoch_iter=opts.epoch_iter, disc_iter=opts.disc_iter,
        batch_size=opts.batchSize, objective=opts.objective, fake_batches=opts.fake_batches,
        instance_noise=opts.instance_noise, disc_forwards=opts.disc_forwards,
        generator_step_disc=opts.generator_step_disc, max_steps=opts.max_steps, checkpoint_every=opts.checkpoint_every,
        log_every=opts.log_every, progress=not opts.no_progress,
    )


def _train(setup: GANSetup, opts: argparse.Namespace, run: Run, device: torch.device) -> int:
    """Train (or resume) the run; returns the step reached."""
    state = start_state(setup, opts, run, device)
    cfg = loop_config(opts)
    try:
        with compiled(setup.generator, setup.discriminator.sub_discriminators(), opts.compile):
            train(state, cfg, run)
    except TrainingDiverged as err:
        raise UserError(f"training diverged ({err}); the last good checkpoint is kept at "
                        f"{run.last_checkpoint}") from None
    finally:
        run.close()
    return state.step


def main(experiment: Experiment, argv: Sequence[str] | None = None) -> int:
    """Command-line entry: user errors become one line on stderr and exit code 2."""
    try:
        run_experiment(experiment, argv)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0
