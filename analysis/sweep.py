"""Run a paper figure's whole grid of runs, then draw the figure.

Each run is an ordinary call of an entry script, so the printed commands
(``--dry_run``) can go to a cluster scheduler as they are. Finished runs
(a results.json) are skipped; interrupted ones are resumed. Unfinished runs
that differ only by seed train as one ensemble process (``--seeds``, for the
models that support it, at most ``--max_members`` seeds each). ``--launcher
slurm`` submits every run as a Slurm job through submitit (analysis/launchers.py).

    python -m analysis.sweep fig1 --budget 0.05 --jobs 2 --paired 10 100 1000 60000 --lambdas 0.9
    python -m analysis.sweep fig4 --dry_run
    python -m analysis.sweep fig1 --launcher slurm --partition gpu --gpus_per_run 1 --time_min 180 --extra --cuda
"""

from __future__ import annotations

import argparse
import importlib
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from training.models_registry import ENSEMBLE_MODELS, MODELS, model_flags, models_of

FIGURES = {
    "fig1": {"script": "PairedMNIST.py", "task": "PairedMNIST", "plot": "analysis.fig1_paired_mnist",
             "models": ["GAN", "FactorGAN", "FactorGAN-no-cp"], "count_flag": "--num_joint_samples",
             "counts": [10, 20, 50, 100, 1000, 5000, 10000, 20000, 60000]},
    "fig2": {"script": "ImagePairs.py", "task": "ImagePairs", "plot": "analysis.fig2_image_pairs",
             "models": ["GAN", "GAN big", "FactorGAN"], "count_flag": "--num_joint_samples",
             "counts": [100, 1000, 100000]},  # 100000: every training image ("all")
    "fig4": {"script": "Image2Image.py", "task": "Image2Image", "plot": "analysis.fig4_image2image",
             "models": ["GAN", "FactorGAN"], "count_flag": "--num_joint_samples",
             "counts": [25, 100, 500, 1000, 3000]},
    "fig6": {"script": "AudioSeparation.py", "task": "AudioSeparation", "plot": "analysis.fig6_audio_separation",
             "models": ["GAN", "FactorGAN"], "count_flag": "--num_joint_songs", "counts": [10, 20, 50]},
}
PAPER_UPDATES = 40 * 5000


@dataclass
class Job:
    """One process: a run, or an ensemble of runs that differ only by seed
    (``members``: their run directories; run_dir is the first's)."""

    name: str
    run_dir: Path
    argv: list[str]
    members: list[Path] = field(default_factory=list)
    # for grouping: the command line without its seed and name (head, tail), and the seed
    cell: tuple[tuple[str, ...], tuple[str, ...]] | None = None
    seed: int | None = None

    def command(self) -> str:
        return shlex.join([sys.executable, *self.argv])

    @property
    def run_dirs(self) -> list[Path]:
        return self.members or [self.run_dir]

    @property
    def finished(self) -> bool:
        return all((d / "results.json").is_file() for d in self.run_dirs)


def group_seeds(jobs: list[Job], max_members: int, ensemble_models: Sequence[str]) -> list[Job]:
    """Jobs that differ only by seed, of a model in ensemble_models, merged into
    ensemble jobs (``--seeds ... --experiment_names ...``) of at most
    max_members runs, in order; other jobs as they are."""
    cells: dict[tuple, list[Job]] = {}
    for job in jobs:
        key = job.cell if job.cell and job.cell[0][0] in ensemble_models and max_members > 1 else (id(job),)
        cells.setdefault(key, []).append(job)
    out = []
    for group in cells.values():
        for i in range(0, len(group), max(1, max_members)):
            chunk = group[i:i + max_members]
            if len(chunk) == 1:
                out.append(chunk[0])
                continue
            head, tail = chunk[0].cell
            argv = [*head[1:], "--seeds", *(str(j.seed) for j in chunk),
                    "--experiment_names", *(j.name for j in chunk), *tail]
            name = f"{chunk[0].name}+{len(chunk) - 1}"
            out.append(Job(name, chunk[0].run_dir, argv, members=[j.run_dir for j in chunk]))
    return out


def budget_flags(budget: float) -> list[str]:
    """Scale the paper's 40 x 5000 generator updates by budget."""
    total = max(1, round(PAPER_UPDATES * budget))
    epochs = max(1, min(40, round(40 * budget)))
    return ["--epochs", str(epochs), "--epoch_iter", str(max(1, total // epochs))]


def grid(args: argparse.Namespace) -> list[Job]:
    fig = FIGURES[args.figure]
    counts = args.paired or fig["counts"]
    variants = [[]]
    if args.figure == "fig1":
        variants = [["--mnist_same_digit_prob", str(lam)] for lam in args.lambdas]
    elif args.figure == "fig2":
        variants = [["--dataset", d] for d in args.datasets]
    jobs = []
    for variant in variants:
        for model in args.models or fig["models"]:
            # a model without paired samples: one run per variant (at the first count) serves every count
            for count in counts if MODELS[model].uses_pairs else counts[:1]:
                for seed in args.seeds:
                    tag = "_".join(v for v in variant[1::2])
                    name = f"{model.replace(' ', '_')}_{count}_{tag + '_' if tag else ''}b{args.budget}_s{seed}"
                    head = [fig["script"], *model_flags(model), fig["count_flag"], str(count), *variant,
                            *budget_flags(args.budget)]
                    tail = ["--out_path", args.out_path, "--resume", "--no_progress",
                            "--threads", str(args.threads), *args.extra]
                    argv = [*head, "--seed", str(seed), "--experiment_name", name, *tail]
                    jobs.append(Job(name, Path(args.out_path) / fig["task"] / name, argv,
                                    cell=((model, *head), tuple(tail)), seed=seed))
    return jobs


def run_all(jobs: list[Job], parallel: int, cwd: Path) -> int:
    """Run jobs, at most `parallel` at a time; returns how many failed."""
    pending, running, failed = list(jobs), [], 0
    while pending or running:
        while pending and len(running) < parallel:
            job = pending.pop(0)
            job.run_dir.parent.mkdir(parents=True, exist_ok=True)
            log = open(job.run_dir.parent / f"{job.name}.log", "a")  # noqa: SIM115 (closed below)
            print(f"start {job.name}", flush=True)
            running.append((job, subprocess.Popen([sys.executable, *job.argv], cwd=cwd, stdout=log,
                                                  stderr=subprocess.STDOUT), log))
        time.sleep(1)
        for item in list(running):
            job, proc, log = item
            if proc.poll() is not None:
                log.close()
                running.remove(item)
                failed += proc.returncode != 0
                print(f"{'done' if proc.returncode == 0 else 'FAILED'} {job.name}", flush=True)
    return failed


def launcher_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("cluster (--launcher slurm)")
    g.add_argument("--launcher", choices=["local", "slurm", "submitit_local"], default="local",
                   help="local: run here, --jobs at a time; slurm: submit each run as a Slurm job (submitit); "
                        "submitit_local: submitit's local executor, every run at once (for tests)")
    g.add_argument("--wait", action="store_true",
                   help="slurm/submitit_local: wait for every job, then draw the figure (default: submit, print "
                        "the job ids and return)")
    g.add_argument("--partition", default=None, help="Slurm partition (default: the cluster's)")
    g.add_argument("--gpus_per_run", type=int, default=0, help="GPUs per run's job (add --extra --cuda to use them)")
    g.add_argument("--time_min", type=int, default=180,
                   help="time limit per job in minutes; a run that needs longer is requeued and resumed")
    g.add_argument("--slurm_extra", nargs="+", default=[], metavar="KEY=VALUE",
                   help="further sbatch options, e.g. --slurm_extra account=myproject qos=normal")


def launch(todo: list[Job], args: argparse.Namespace, cwd: Path) -> int | None:
    """Run or submit the unfinished runs; returns how many failed, or None
    when jobs were submitted without waiting for them."""
    if not todo or args.launcher == "local":
        return run_all(todo, args.jobs, cwd)
    from analysis import launchers  # imports submitit: only for cluster sweeps

    if args.gpus_per_run and "--cuda" not in args.extra:
        print("warning: --gpus_per_run without --extra --cuda: the runs will train on the CPU", file=sys.stderr)
    submitted = launchers.submit(todo, args, cwd)
    if not args.wait:
        print(f"{len(submitted)} jobs submitted; when they are done, run the same command again "
              "(finished runs are skipped) to draw the figure")
        return None
    return launchers.wait(submitted)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("figure", choices=list(FIGURES))
    p.add_argument("--out_path", default="out", help="root folder of the runs")
    p.add_argument("--budget", type=float, default=1.0,
                   help="fraction of the paper's 40 x 5000 generator updates per run")
    p.add_argument("--jobs", type=int, default=1, help="runs in parallel (one thread each by default)")
    p.add_argument("--threads", type=int, default=1, help="torch threads per run")
    p.add_argument("--models", nargs="+", choices=list(MODELS),
                   help="models to run (default: the figure's); any that the figure's experiment offers, "
                        "e.g. fig1 with CoGAN and SCoGAN beside the paper's")
    p.add_argument("--paired", nargs="+", type=int, help="paired counts (default: the paper's)")
    p.add_argument("--lambdas", nargs="+", type=float, default=[0.1, 0.9], help="fig1: lambda values")
    p.add_argument("--datasets", nargs="+", default=["edges2shoes", "cityscapes"], help="fig2: data sets")
    p.add_argument("--seeds", nargs="+", type=int, default=[1337])
    p.add_argument("--max_members", type=int, default=8,
                   help="unfinished runs that differ only by seed train as one ensemble process (--seeds) of at "
                        "most this many seeds, for the models that support it (1: one process per run)")
    p.add_argument("--dry_run", action="store_true", help="print the commands of unfinished runs and stop")
    launcher_args(p)
    p.add_argument("--extra", nargs=argparse.REMAINDER, default=[],
                   help="further flags for every run (last on the line), e.g. --extra --data_root ../data")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    task = FIGURES[args.figure]["task"]
    for model in set(args.models or []) - set(models_of(task)):
        p.error(f"--models: {task} has no model {model!r}")
    if args.max_members < 1:
        p.error(f"--max_members must be at least 1, got {args.max_members}")
    jobs = grid(args)
    pending = [j for j in jobs if not j.finished]
    todo = group_seeds(pending, args.max_members, ENSEMBLE_MODELS.get(task, ()))
    processes = f" in {len(todo)} processes" if len(todo) != len(pending) else ""
    print(f"{len(jobs)} runs in the grid, {len(jobs) - len(pending)} finished, {len(pending)} to run{processes}")
    if args.dry_run:
        for job in todo:
            print(job.command())
        return 0
    failed = launch(todo, args, Path(__file__).resolve().parents[1])
    if failed is None:
        return 0
    plot = importlib.import_module(FIGURES[args.figure]["plot"])
    output = Path(args.out_path) / "figures" / f"{args.figure}_b{args.budget}"
    plot.main(["--out_path", args.out_path, "--runs", f"*_b{args.budget}_*", "--output", str(output)])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
