"""``--seeds A B ...``: one process trains one independent run per seed, as an
ensemble of stacked networks (training/ensemble.py), for GAN, FactorGAN and
FactorGAN-no-cp.

Member k is the run that ``--seed k`` alone makes, and writes the ordinary run
directory that run would write (config.json with seed k, split.json,
metrics.jsonl, TensorBoard, checkpoints in the single-run format,
results.json), so ``--resume``, ``--eval`` and every analysis tool read it
unchanged. Its name is EXPERIMENT_NAME with ``{seed}`` replaced by the seed,
or, without ``{seed}``, EXPERIMENT_NAME_s<seed>; EXPERIMENT_NAME defaults to
the single run's default name, which has no seed in it. ``--experiment_names``
names the members one by one instead.

    python PairedMNIST.py --factorGAN 1 --seeds 1337 1 2 --experiment_name fgan_s{seed}

``--resume`` resumes every member from its last checkpoint; members stopped
at different steps are brought level first (the ones behind train first).
A member that diverges, or whose evaluation fails, is reported on its own
line; the others train and are evaluated as usual (exit code 2 if any failed).
After training, each member is evaluated by the single-run code (``--eval``).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from training.ensemble_loop import train_ensemble
from training.models_registry import ENSEMBLE_MODELS, model_name
from training.options import RUNTIME_OPTIONS, UserError, build_parser, parse_given, parse_options
from training.runner import (
    Experiment,
    Run,
    check_run_dir,
    loop_config,
    pick_device,
    run_experiment,
    start_state,
    write_run_files,
)
from training.runner import main as single_main

# options that differ between members by design, or are not training settings
MEMBER_OPTIONS = {"seed", "experiment_name", "git_commit", "torch_threads", *RUNTIME_OPTIONS}


def add_ensemble_options(g: argparse._ArgumentGroup) -> None:
    g.add_argument("--seeds", type=int, nargs="+", default=None, metavar="SEED",
                   help="train one independent run per seed in this process, as stacked networks (GAN, FactorGAN, "
                        "FactorGAN-no-cp; faster than one run at a time): member k is exactly the run of --seed k "
                        "and is saved as EXPERIMENT_NAME_s<k>, or EXPERIMENT_NAME with {seed} replaced by k")
    g.add_argument("--experiment_names", nargs="+", default=None, metavar="NAME",
                   help="with --seeds: the members' run names, one per seed (instead of --experiment_name)")


def member_name(template: str, seed: int) -> str:
    """The run name of the member with this seed (module docstring)."""
    return template.replace("{seed}", str(seed)) if "{seed}" in template else f"{template}_s{seed}"


def without_ensemble_options(argv: Sequence[str]) -> list[str]:
    """argv without --seeds and --experiment_names and their values."""
    out, skipping = [], False
    for token in argv:
        if token in ("--seeds", "--experiment_names"):
            skipping = True
        elif token.startswith(("--seeds=", "--experiment_names=")):
            skipping = False
        elif skipping and (not token.startswith("-") or re.fullmatch(r"-\d+", token)):
            continue
        else:
            skipping = False
            out.append(token)
    return out


def refusal(opts: argparse.Namespace, task: str) -> str | None:
    """Why these options cannot train as an ensemble member, or None."""
    model, stackable = model_name(opts, task), ENSEMBLE_MODELS.get(task, ())
    if model not in stackable:
        return (f"--seeds: {model} trains one run per process; ensembles are for {', '.join(stackable) or 'no model'} "
                f"of {task} (use --seed)")
    unsupported = [("--fake_batches per_disc", opts.fake_batches != "shared"), ("--instance_noise", opts.instance_noise),
                   ("--amp", opts.amp != "none"), ("--compile", opts.compile), ("--eval_every", opts.eval_every),
                   (f"--sn_impl {opts.sn_impl}", opts.sn_impl != "scaled"),
                   ("--disc_forwards separate", opts.disc_forwards != "joint"),
                   ("--generator_step_disc live", opts.generator_step_disc != "frozen"),
                   ("--l2_scope all", opts.l2_scope != "discriminators_except_p"),
                   ("--adam_impl plain", opts.adam_impl != "fused"),
                   ("--layout 2x2 (factorisation trees and grids)", getattr(opts, "layout", "2x1") != "2x1")]
    given = [flag for flag, used in unsupported if used]
    if given:
        return f"--seeds: ensembles do not implement {given[0]}; train such runs one at a time with --seed"
    return None


def _check_alike(members: Sequence[argparse.Namespace]) -> None:
    """Refuse members whose (e.g. saved, on --resume) training options differ beyond the seed."""
    first = vars(members[0])
    for opts in members[1:]:
        diff = sorted(k for k in first.keys() | vars(opts).keys()
                      if k not in MEMBER_OPTIONS and first.get(k) != vars(opts).get(k))
        if diff:
            raise UserError(f"--seeds: the runs {members[0].experiment_name} and {opts.experiment_name} differ in "
                            f"--{diff[0]} ({first.get(diff[0])} vs {vars(opts).get(diff[0])}): resume them separately")


def member_argvs(experiment: Experiment, argv: Sequence[str]) -> list[tuple[int, list[str]]]:
    """(seed, the single-run command line of that member) for every --seeds value."""
    parser = build_parser(experiment.description, experiment.add_options)
    opts, given = parse_given(parser, argv)
    if "seed" in given:
        raise UserError("give --seed (one run) or --seeds (an ensemble), not both")
    if opts.generator is not None:
        raise UserError("--seeds evaluates runs by name; evaluate a --generator file with one --seed")
    if len(set(opts.seeds)) != len(opts.seeds):
        raise UserError(f"--seeds: each seed once, got {opts.seeds}")
    if opts.experiment_names is not None:
        if "experiment_name" in given:
            raise UserError("give --experiment_name (a name template) or --experiment_names (one per seed), not both")
        if len(opts.experiment_names) != len(opts.seeds) or len(set(opts.experiment_names)) != len(opts.seeds):
            raise UserError(f"--experiment_names: {len(opts.seeds)} different names, one per --seeds value, "
                            f"got {opts.experiment_names}")
        names = list(opts.experiment_names)
    else:
        template = opts.experiment_name if "experiment_name" in given else experiment.default_name(opts)
        names = [member_name(template, seed) for seed in opts.seeds]
    rest = without_ensemble_options(argv)
    return [(seed, [*rest, "--seed", str(seed), "--experiment_name", name]) for seed, name in zip(opts.seeds, names)]


def _train_members(experiment: Experiment, argvs: list[tuple[int, list[str]]]) -> dict[int, dict[str, Any]]:
    """Build, resume and train every member; returns by seed {"error": message}
    (diverged), {"stopped_at_step": N} (stopped early) or {} (trained)."""
    parser = build_parser(experiment.description, experiment.add_options)
    opts = [parse_options(parser, argv, experiment.task, experiment.default_name) for _, argv in argvs]
    for o in opts:
        reason = refusal(o, experiment.task)
        if reason:
            raise UserError(reason)
    _check_alike(opts)
    runs = [Run(Path(o.out_path) / experiment.task / o.experiment_name, o) for o in opts]
    for run, o in zip(runs, opts, strict=True):
        check_run_dir(run, o)
    if opts[0].threads:
        torch.set_num_threads(opts[0].threads)
    device = pick_device(opts[0])
    built = []
    for o in opts:  # as the single run: the global RNG seeded, then the models and data built
        torch.manual_seed(o.seed)
        built.append(experiment.build(o, device))
    for run, o, (_, split) in zip(runs, opts, built, strict=True):
        write_run_files(run, o, split)
    states = [start_state(setup, o, run, device) for run, o, (setup, _) in zip(runs, opts, built, strict=True)]
    try:
        outcome = train_ensemble(states, loop_config(opts[0]), runs)
    except (TypeError, ValueError) as err:  # what Ensemble cannot stack (models/stacked.py, training/ensemble.py)
        raise UserError(f"--seeds: these runs cannot train as one ensemble: {err}") from None
    finally:
        for run in runs:
            run.close()
    status: dict[int, dict[str, Any]] = {}
    for i, (o, state) in enumerate(zip(opts, states, strict=True)):
        if i in outcome.failed:
            status[o.seed] = {"error": f"training diverged ({outcome.failed[i]}); the last good checkpoint is kept "
                                       f"at {runs[i].last_checkpoint}"}
        elif state.step < o.epochs * o.epoch_iter:
            print(f"{runs[i].path}: stopped at step {state.step} with a checkpoint; continue with --resume",
                  file=sys.stderr)
            status[o.seed] = {"stopped_at_step": state.step}
        else:
            status[o.seed] = {}
    return status


def run_ensemble(experiment: Experiment, argv: Sequence[str]) -> dict[int, dict[str, Any]]:
    """Train (unless --eval) and evaluate every member of --seeds; returns each
    seed's results, {"stopped_at_step": N}, or {"error": message} for a member that failed."""
    argvs = member_argvs(experiment, argv)
    evaluate_only = build_parser(experiment.description, experiment.add_options).parse_args(argv).eval
    status = {seed: {} for seed, _ in argvs} if evaluate_only else _train_members(experiment, argvs)
    results: dict[int, dict[str, Any]] = {}
    for seed, member_argv in argvs:
        if status[seed]:  # diverged or stopped early
            results[seed] = status[seed]
            continue
        try:  # the single run's evaluation, as after its training
            results[seed] = run_experiment(experiment, member_argv if evaluate_only else [*member_argv, "--eval"])
        except UserError as err:
            results[seed] = {"error": str(err)}
        except Exception as err:  # noqa: BLE001 (one member's failed evaluation must not lose the others')
            results[seed] = {"error": f"evaluation failed: {type(err).__name__}: {err}"}
    return results


def main(experiment: Experiment, argv: Sequence[str] | None = None) -> int:
    """Command-line entry with --seeds (else training.runner.main): one line on
    stderr per failed member, exit code 2 if any failed."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(experiment.description, experiment.add_options)
    try:
        opts = parser.parse_args(argv)
        if getattr(opts, "seeds", None) is None:
            if getattr(opts, "experiment_names", None) is not None:
                raise UserError("--experiment_names names the members of --seeds; one run takes --experiment_name")
            return single_main(experiment, argv)
        results = run_ensemble(experiment, argv)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    errors = {seed: r["error"] for seed, r in results.items() if "error" in r}
    for seed, message in errors.items():
        print(f"error: --seeds member {seed}: {message}", file=sys.stderr)
    return 2 if errors else 0
