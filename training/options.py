"""Command-line options shared by every experiment.

The reference implementation's flag names and defaults are kept as they are
(``--factorGAN``, ``--batchSize``, ...) because the paper's README and users'
scripts use them; newer options sit beside them.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from common.cli import int01
from common.errors import UserError
from common.io import load_checkpoint
from models.spectral import SN_IMPLS
from training.loop import ADAM_IMPLS, DISC_FORWARDS, GENERATOR_STEP_DISC, L2_SCOPES
from training.models_registry import model_conflict

# Options that describe how to run, not what to train: on --resume/--eval they
# may differ from the saved run's values without changing the experiment.
RUNTIME_OPTIONS = {
    "cuda", "eval", "eval_model", "resume", "threads", "workers", "out_path",
    "experiment_name", "data_root", "cache_dir", "max_steps", "log_every",
    "checkpoint_every", "no_progress", "compile", "fid_weights", "generator",
}
# Options that the optimisers' saved state holds: --resume refuses a new value.
FIXED_ON_RESUME = ("lr", "beta1", "L2", "marginal_lr_factor", "l2_scope", "adam_impl")
# --preset NAME: values for the options not given on the command line. "original": every behaviour of
# the original code's training that differs from ours (docs/original_training.md, section "Options");
# options an experiment does not have (--pairing, --init_order, --eval_classifier: PairedMNIST's) are skipped.
PRESETS: dict[str, dict[str, Any]] = {
    "original": {"sn_impl": "original", "disc_forwards": "separate", "generator_step_disc": "live",
                 "fake_batches": "per_disc", "l2_scope": "all", "adam_impl": "plain", "lipschitz_q": 1,
                 "pairing": "reference", "init_order": "generator_first", "eval_classifier": ["reference"]},
}
# The experiments' layer widths and evaluation counts (where an experiment has them): at least 1
WIDTHS_AND_COUNTS = ("generator_channels", "disc_channels", "ls_channels", "ls_runs", "ls_epochs")


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """--help keeps the description's lines (its example commands) and shows every default."""


def build_parser(description: str, add_task_options: Callable[[argparse.ArgumentParser], None]) -> argparse.ArgumentParser:
    """The shared options, then the experiment's own ones."""
    p = argparse.ArgumentParser(description=description, formatter_class=HelpFormatter)
    g = p.add_argument_group("run")
    g.add_argument("--experiment_name", type=str, default=None,
                   help="run name; outputs go to OUT_PATH/TASK/EXPERIMENT_NAME "
                        "(default: built from the model and its main settings)")
    g.add_argument("--out_path", type=str, default="out", help="root folder of all runs")
    g.add_argument("--data_root", type=str, default="data", help="folder holding the data sets")
    g.add_argument("--cache_dir", type=str, default=None,
                   help="where decoded data, features of real images and trained MNIST classifiers are cached; "
                        "a deleted or damaged file is made again (default: OUT_PATH/cache, so that the data "
                        "folder is only read; a DATA_ROOT/cache of older versions is used while there is no "
                        "OUT_PATH/cache)")
    g.add_argument("--eval", action="store_true", help="only evaluate a trained run's generator")
    g.add_argument("--eval_model", type=str, default="G",
                   help="generator checkpoint to evaluate: G (latest) or G_epochN")
    g.add_argument("--generator", type=str, default=None,
                   help="with --eval: evaluate this generator file (a released one, see releases/, or a run's "
                        "checkpoints/G.pt) with the options saved with it; results go to "
                        "OUT_PATH/TASK/EXPERIMENT_NAME")
    g.add_argument("--resume", action="store_true", help="continue a run from its last checkpoint")
    g.add_argument("--cuda", action="store_true", help="train and evaluate on the GPU")
    g.add_argument("--threads", type=int, default=None,
                   help="torch intra-op CPU threads (default: torch's own choice)")
    g.add_argument("--workers", type=int, default=1,
                   help="kept for compatibility; data is held in memory, so no loader workers are used")
    g.add_argument("--seed", type=int, default=1337, help="random seed of data splits, models and training")

    g = p.add_argument_group("training")
    g.add_argument("--epochs", type=int, default=40, help="number of epochs")
    g.add_argument("--epoch_iter", type=int, default=5000, help="generator updates per epoch")
    g.add_argument("--batchSize", type=int, default=25, help="batch size")
    g.add_argument("--lr", type=float, default=1e-4, help="Adam learning rate")
    g.add_argument("--beta1", type=float, default=0.5, help="Adam beta1")
    g.add_argument("--L2", type=float, default=0.0,
                   help="L2 weight decay of the discriminators except the p-dependency one (--l2_scope all: of every network)")
    g.add_argument("--nz", type=int, default=50, help="size of the noise vector z ~ U(-1, 1)")
    g.add_argument("--disc_iter", type=int, default=2,
                   help="rounds of discriminator updates per generator update")
    g.add_argument("--objective", choices=["JSD", "KL"], default="JSD",
                   help="generator objective: JSD (non-saturating) or KL")
    g.add_argument("--fake_batches", choices=["shared", "per_disc"], default="shared",
                   help="shared: one generated batch per discriminator round for all "
                        "sub-discriminators; per_disc: a fresh one for each (the reference's way)")
    g.add_argument("--instance_noise", type=float, default=0.0,
                   help="standard deviation of Gaussian noise added to every discriminator input, real and "
                        "generated (instance noise: a stabiliser, off at 0; the paper: 0)")
    g.add_argument("--max_steps", type=int, default=None,
                   help="stop with a checkpoint at this generator update (at least 1; default: no limit); "
                        "continue with --resume")
    g.add_argument("--checkpoint_every", type=int, default=1000,
                   help="write a full checkpoint every N generator updates (and after every epoch)")
    g.add_argument("--log_every", type=int, default=100, help="log training scalars every N updates")
    g.add_argument("--eval_every", type=int, default=0,
                   help="score the generator on a fixed validation subset every N updates, logged under val/ "
                        "(0: never; experiments with periodic scores: Image2Image, PairedMNIST)")
    g.add_argument("--no_progress", action="store_true", help="no progress bar")
    g.add_argument("--amp", choices=["none", "bf16", "fp16"], default="none",
                   help="mixed-precision training: bf16 autocast (CPU or GPU) or fp16 autocast with gradient "
                        "scaling (GPU only); losses stay float32, evaluation runs in float32")
    g.add_argument("--compile", action="store_true",
                   help="torch.compile the generator and each sub-discriminator for training "
                        "(the CPU needs a C++ compiler)")

    g = p.add_argument_group("FactorGAN")
    g.add_argument("--factorGAN", type=int01, default=0, help="1: FactorGAN, 0: normal GAN")
    g.add_argument("--use_real_dep_disc", type=int01, default=1,
                   help="0: drop the p-dependency discriminator (FactorGAN-no-cp)")
    g.add_argument("--lipschitz_p", type=int01, default=1,
                   help="spectral normalisation in the p-dependency discriminator")
    g.add_argument("--lipschitz_q", type=int01, default=1,
                   help="spectral normalisation in the q-dependency discriminator")
    g.add_argument("--marginal_lr_factor", type=float, default=1.0,
                   help="learning rate of the marginal discriminators = lr x this (a stabiliser against "
                        "start-up collapse, off at 1; the paper: 1)")

    add_original_options(p.add_argument_group(
        "the original code's behaviour (docs/original_training.md; each default is ours, see docs/differences.md)"))
    add_task_options(p.add_argument_group("experiment"))
    return p


def add_original_options(g: argparse._ArgumentGroup) -> None:
    """--preset and the switches that restore the original code's training behaviours (default off)."""
    g.add_argument("--preset", choices=["none", *PRESETS], default="none",
                   help="original: every switch below set to the original code's behaviour, and "
                        "--fake_batches per_disc, --lipschitz_q 1 (PairedMNIST also --pairing reference, "
                        "--init_order generator_first, --eval_classifier reference); options given on the "
                        "command line keep their value; config.json saves the resolved options")
    g.add_argument("--sn_impl", choices=list(SN_IMPLS), default="scaled",
                   help="spectral norm: scaled (ours: one power iteration per training-mode forward, 15 at "
                        "construction, the output divided by sigma: fast), torch (torch's parametrization, the "
                        "same numbers), original (the original's: none at construction, one on every forward "
                        "in any mode)")
    g.add_argument("--disc_forwards", choices=list(DISC_FORWARDS), default="joint",
                   help="joint: real and fake batches through one forward of each sub-discriminator (ours: "
                        "faster, one power iteration per update); separate: two forwards (the original's: two "
                        "power iterations, the fake forward with the newer estimate)")
    g.add_argument("--generator_step_disc", choices=list(GENERATOR_STEP_DISC), default="frozen",
                   help="frozen: discriminators in eval mode in the generator step (ours: no power iteration "
                        "there); live: left in training mode, so the spectral norm iterates there too (the "
                        "original's); parameter gradients are off either way")
    g.add_argument("--l2_scope", choices=list(L2_SCOPES), default="discriminators_except_p",
                   help="which networks --L2 decays: the discriminators except D_P (ours, as the original's "
                        "help text says), or all, the generator included (what the original code did)")
    g.add_argument("--adam_impl", choices=list(ADAM_IMPLS), default="fused",
                   help="fused: torch's fused Adam (ours: faster); plain: its single-tensor loop, the kind the "
                        "original's per-network Adams ran (equal up to float rounding)")


class Implies(argparse.Action):
    """An option whose value also sets others (``implied(value)`` -> {option:
    value}); resolved after parsing by apply_implied, whatever the order of
    the flags, and refused where a flag given with it says otherwise."""

    implied: Callable[[Any], dict[str, Any]]

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        setattr(namespace, self.dest, values)


def apply_implied(parser: argparse.ArgumentParser, opts: argparse.Namespace, given: set[str]) -> None:
    """Set what each given Implies option implies; a UserError where another
    option given on the command line contradicts it. In place."""
    for action in parser._actions:
        if isinstance(action, Implies) and action.dest in given:
            value = getattr(opts, action.dest)
            for key, implied in action.implied(value).items():
                if key in given and getattr(opts, key) != implied:
                    raise UserError(f"--{action.dest} {value} means --{key} {implied}, but --{key} "
                                    f"{getattr(opts, key)} was given: drop one of them")
                setattr(opts, key, implied)


def apply_preset(opts: argparse.Namespace, given: set[str]) -> None:
    """Fill in opts.preset's values for the options not in given (the command
    line's); options the experiment lacks are skipped. In place."""
    for key, value in PRESETS.get(opts.preset, {}).items():
        if hasattr(opts, key) and key not in given:
            setattr(opts, key, list(value) if isinstance(value, list) else value)


def parse_options(parser: argparse.ArgumentParser, argv: Sequence[str] | None, task: str,
                  default_name: Callable[[argparse.Namespace], str]) -> argparse.Namespace:
    """Parse argv; with --resume or --eval of an existing run (or --eval
    --generator FILE), start from the saved options so that only flags given
    now override them. A new run's --preset fills in the options not given
    (apply_preset); a saved run keeps its resolved options."""
    opts, given = parse_given(parser, argv)
    apply_preset(opts, given)  # a new run's options; a saved run's are its resolved ones (below)
    saved = None
    if opts.generator is not None:
        if not opts.eval:
            raise UserError("--generator evaluates a saved generator: add --eval")
        saved, trained_by = generator_options(Path(opts.generator))
        if trained_by is not None and trained_by != task:
            raise UserError(f"{opts.generator} is a generator of {trained_by}, not of {task}: evaluate it with "
                            f"`python {trained_by}.py --eval --generator {opts.generator}`")
    else:
        if opts.experiment_name is None:
            opts.experiment_name = default_name(opts)
        config = Path(opts.out_path) / task / opts.experiment_name / "config.json"
        if (opts.resume or opts.eval) and config.is_file():
            saved = json.loads(config.read_text())
    if saved is not None:
        saved = {k: v for k, v in saved.items() if k not in RUNTIME_OPTIONS}
        if "preset" in given and opts.preset != saved.get("preset", "none"):
            raise UserError(f"--preset {opts.preset}: this run was made with --preset {saved.get('preset', 'none')}, "
                            "whose options it keeps (config.json); give single options to change them")
        explicit = parser.parse_args(argv, namespace=argparse.Namespace(**saved))
        changed = [k for k in FIXED_ON_RESUME if k in given and k in saved and getattr(explicit, k) != saved[k]]
        if opts.resume and changed:
            raise UserError(f"--{changed[0]} cannot change when a run resumes (it trained with "
                            f"{saved[changed[0]]}; the optimiser state holds it): start a new run with another "
                            "--experiment_name")
        # parse_args keeps the saved values unless a flag is given on the command line
        for key, value in vars(opts).items():
            if key in RUNTIME_OPTIONS:
                setattr(explicit, key, value)
        opts = explicit
        apply_implied(parser, opts, given)
    if opts.experiment_name is None:  # a released generator names its results after its file
        stem = Path(opts.generator).stem if opts.generator else "G"
        opts.experiment_name = default_name(opts) if stem == "G" or stem.startswith("G_epoch") else stem
    check_options(opts)
    conflict = model_conflict(opts, task, given, parser.get_default)
    if conflict:
        raise UserError(conflict)
    return opts


def parse_given(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> tuple[argparse.Namespace, set[str]]:
    """(argv parsed, with what its Implies options imply; the options argv gives)."""
    opts, given = parser.parse_args(argv), given_options(parser, argv)
    apply_implied(parser, opts, given)
    return opts, given


def given_options(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> set[str]:
    """The options given on the command line (not left at a default or inherited)."""
    unset = object()
    blank = argparse.Namespace(**{key: unset for key in vars(parser.parse_args(argv))})
    return {key for key, value in vars(parser.parse_args(argv, namespace=blank)).items() if value is not unset}


def generator_options(path: Path) -> tuple[dict[str, Any], str | None]:
    """The training options stored in a generator file (a released generator,
    or a run's G.pt beside its config.json), and the task that trained it
    where that is recorded: in the release's manifest, or as the run's
    folder OUT_PATH/TASK/NAME/checkpoints/G.pt."""
    state = load_checkpoint(path, "cpu", missing="check the --generator path",
                            damaged="download or copy the generator file again", keys=("generator",))
    if "options" in state:
        return dict(state["options"]), _released_task(path)
    config = path.parent.parent / "config.json"  # a run's checkpoints/G.pt
    if config.is_file():
        run = path.resolve().parent.parent
        return json.loads(config.read_text()), run.parent.name if path.parent.name == "checkpoints" else None
    raise UserError(f"{path} holds no training options and has no config.json beside its run: "
                    "use a released generator (python -m analysis.release) or a run's checkpoints/G.pt")


def _released_task(path: Path) -> str | None:
    """The task of a released generator file in the manifest beside it (analysis.collect.MANIFEST)."""
    try:
        entries = json.loads((path.parent / "manifest.json").read_text())
        return next((e["task"] for e in entries if e.get("file") == path.name), None)
    except (OSError, ValueError, TypeError, KeyError, AttributeError):  # no manifest, or not one of ours
        return None


def check_options(opts: argparse.Namespace) -> None:
    for name in ("epochs", "epoch_iter", "batchSize", "nz", "disc_iter", "checkpoint_every", "log_every"):
        if getattr(opts, name) < 1:
            raise UserError(f"--{name} must be at least 1, got {getattr(opts, name)}")
    for name in WIDTHS_AND_COUNTS:
        if getattr(opts, name, 1) < 1:
            raise UserError(f"--{name} must be at least 1, got {getattr(opts, name)}")
    if opts.max_steps is not None and opts.max_steps < 1:
        raise UserError(f"--max_steps must be at least 1 (leave it out for no limit), got {opts.max_steps}")
    if not opts.lr > 0:  # "not >" also refuses nan
        raise UserError(f"--lr must be positive, got {opts.lr}")
    if not opts.L2 >= 0:
        raise UserError(f"--L2 must be 0 or positive, got {opts.L2}")
    if not opts.instance_noise >= 0:
        raise UserError(f"--instance_noise must be 0 (off) or positive, got {opts.instance_noise}")
    if not opts.marginal_lr_factor > 0:
        raise UserError(f"--marginal_lr_factor must be positive (1: off), got {opts.marginal_lr_factor}")
    if not 0 <= opts.beta1 < 1:
        raise UserError(f"--beta1 must be in [0, 1), got {opts.beta1}")
    if opts.eval_every < 0:
        raise UserError(f"--eval_every must be 0 (off) or positive, got {opts.eval_every}")
    if opts.threads is not None and opts.threads < 1:
        raise UserError(f"--threads must be at least 1, got {opts.threads}")
    if opts.amp == "fp16" and not opts.cuda:
        raise UserError("--amp fp16 needs a CUDA GPU (add --cuda); on the CPU use --amp bf16")


def check_image_size(size: int, smallest: int) -> None:
    """--loadSize must be a power of two of at least `smallest` (the conv models halve it repeatedly)."""
    if size < smallest or size & (size - 1):
        raise UserError(f"--loadSize {size} does not fit the models: use a power of two from {smallest}, "
                        f"e.g. {4 * smallest}, {8 * smallest} or {16 * smallest}")


def protocol_name(protocols: dict[str, dict[str, Any]], opts: argparse.Namespace) -> str:
    """The documented protocol ('paper', 'cpu', ...) whose settings opts match,
    else 'custom'. A protocol's "steps" means epochs x epoch_iter."""
    used = {**vars(opts), "steps": opts.epochs * opts.epoch_iter}
    return next((name for name, p in protocols.items() if all(used.get(k) == v for k, v in p.items())), "custom")


def paired_count(opts: argparse.Namespace, flag: str, available: int, unit: str) -> int:
    """How many paired samples to use: opts.<flag>, at most `available` (with a
    warning). The count used is written back to opts, so that config.json and
    the results state it."""
    requested = getattr(opts, flag)
    if requested < 1:
        raise UserError(f"--{flag} must be at least 1, got {requested}")
    if requested > available:
        print(f"warning: --{flag} {requested} > {available} {unit}; using all of them as pairs", file=sys.stderr)
    setattr(opts, flag, min(requested, available))
    return getattr(opts, flag)


def cache_dir(opts: argparse.Namespace) -> Path:
    """--cache_dir; else OUT_PATH/cache, or DATA_ROOT/cache where an older
    version made one and there is no OUT_PATH/cache (its files stay in use)."""
    if opts.cache_dir:
        return Path(opts.cache_dir)
    new, old = Path(opts.out_path) / "cache", Path(opts.data_root) / "cache"
    return old if old.is_dir() and not new.exists() else new
