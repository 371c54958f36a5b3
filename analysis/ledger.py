"""Campaign files and their ledgers: what a campaign's runs are, which are
done, and how the pending ones split into processes that fit a wall-time limit.

A campaign is a file ``campaigns/NAME.toml`` (format below); every finished
run appends one record to ``campaigns/NAME.results.jsonl``. The command line
is ``python -m analysis.campaign`` (analysis/campaign.py).

The file format (TOML)::

    script = "PairedMNIST.py"               # the entry script; its task folder is its file name
    name = "{model}_{num_joint_samples}_{mnist_same_digit_prob}_b1.0_s{seed}"
    updates = 200000                        # generator updates of one run (given as --epochs/--epoch_iter)
    epochs = 40
    budget_s = 10800                        # no process may need longer than this (a sitting)
    max_members = 1                         # seeds of one cell trained in one process (--seeds), 1: none
    flags = ["--pairing", "reference"]      # given to every run
    release = "releases/paired_mnist"       # optional: release each finished run's generator there
    release_seeds = [1337]                  # optional: release only the runs of these seeds (default: all)
    resumable = false                       # true: a run may span several processes (it resumes from
                                            # its checkpoints), so runs longer than budget_s are started too
    [speed]                                 # updates/s of one run on one thread, until the ledger measures it
    GAN = 100
    [[grid]]                                # every model x every combination of `vary` x every seed
    models = ["GAN", "FactorGAN"]
    seeds = [1337, 1, 2]
    vary = { num_joint_samples = [10, 100], mnist_same_digit_prob = [0.9, 0.1] }
"""

from __future__ import annotations

import fnmatch
import itertools
import json
import os
import platform
import statistics
import subprocess
import time
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from training.models_registry import MODELS, model_flags

REPO = Path(__file__).resolve().parents[1]
CAMPAIGNS = REPO / "campaigns"
EVAL_MARGIN_S = 300  # time kept after a run's training for its evaluation and the record


@dataclass(frozen=True)
class PlannedRun:
    """One run of a campaign: a model, its varied flags and a seed."""

    name: str
    model: str
    vary: tuple[tuple[str, Any], ...]  # (option, value) pairs, e.g. (("num_joint_samples", 10),)
    seed: int

    @property
    def cell(self) -> tuple[str, tuple[tuple[str, Any], ...]]:
        """What the runs of one ensemble share: everything but the seed."""
        return self.model, self.vary

    def flags(self) -> list[str]:
        return [*model_flags(self.model), *(x for k, v in self.vary for x in (f"--{k}", str(v)))]


@dataclass
class Campaign:
    name: str
    script: str
    name_template: str
    updates: int
    epochs: int
    budget_s: float
    flags: list[str]
    runs: list[PlannedRun]
    max_members: int = 1
    speed: dict[str, float] = field(default_factory=dict)
    release: str | None = None
    resumable: bool = False  # a run may span several processes (checkpoints kept between them)
    folder: Path = CAMPAIGNS
    release_seeds: tuple[int, ...] | None = None  # None: release every seed's run

    def releases(self, run: PlannedRun) -> bool:
        """Whether a finished run's generator goes to the release folder."""
        return self.release is not None and (self.release_seeds is None or run.seed in self.release_seeds)

    @property
    def task(self) -> str:
        return Path(self.script).stem

    @property
    def ledger(self) -> Path:
        return self.folder / f"{self.name}.results.jsonl"

    def budget_flags(self) -> list[str]:
        return ["--epochs", str(self.epochs), "--epoch_iter", str(self.updates // self.epochs)]


def load_campaign(name: str, folder: Path = CAMPAIGNS) -> Campaign:
    """Read campaigns/NAME.toml; one-line SystemExit for a missing or malformed file."""
    path = folder / f"{name}.toml"
    if not path.is_file():
        known = sorted(p.stem for p in folder.glob("*.toml"))
        raise SystemExit(f"error: no campaign {name!r} ({path} not found); campaigns: {', '.join(known) or 'none'}")
    try:
        spec = tomllib.loads(path.read_text())
        runs = [PlannedRun(spec["name"].format(model=model.replace(" ", "_"), seed=seed, **dict(vary)),
                           model, vary, seed)
                for grid in spec["grid"] for model in grid["models"]
                for vary in _combinations(grid.get("vary", {})) for seed in grid["seeds"]]
        campaign = Campaign(name, spec["script"], spec["name"], int(spec["updates"]), int(spec.get("epochs", 1)),
                            float(spec["budget_s"]), list(spec.get("flags", [])), runs,
                            int(spec.get("max_members", 1)), dict(spec.get("speed", {})), spec.get("release"),
                            bool(spec.get("resumable", False)), folder,
                            tuple(int(s) for s in spec["release_seeds"]) if "release_seeds" in spec else None)
    except (tomllib.TOMLDecodeError, KeyError, ValueError, TypeError) as err:
        raise SystemExit(f"error: campaign file {path} is malformed ({type(err).__name__}: {err})") from None
    unknown = sorted({r.model for r in runs} - set(MODELS))
    names = [r.name for r in runs]
    if unknown or len(set(names)) != len(names) or campaign.updates % campaign.epochs:
        raise SystemExit(f"error: campaign file {path}: unknown models {unknown}, or run names that repeat "
                         "(the name template must use every varied option and the seed), or updates not a "
                         "multiple of epochs")
    return campaign


def _combinations(vary: dict[str, list[Any]]) -> list[tuple[tuple[str, Any], ...]]:
    keys = sorted(vary)
    return [tuple(zip(keys, values, strict=True)) for values in itertools.product(*(vary[k] for k in keys))]


# -- the ledger ---------------------------------------------------------------

def read_ledger(campaign: Campaign) -> dict[str, dict[str, Any]]:
    """Run name -> its record (the last one, if a run was recorded twice)."""
    if not campaign.ledger.is_file():
        return {}
    records = [json.loads(line) for line in campaign.ledger.read_text().splitlines() if line.strip()]
    return {r["run"]: r for r in records}


def ledger_results(name: str, runs: str = "*") -> list[dict[str, Any]]:
    """The metrics of campaign NAME's recorded runs whose name matches the glob
    `runs`, as results.json rows (one per run and seed) with the run's name as
    ``experiment``, its ``seed``, ``model`` and varied options."""
    return [{**r["metrics"], **r["vary"], "model": r["model"], "experiment": r["run"], "seed": r["seed"]}
            for r in read_ledger(load_campaign(name)).values() if fnmatch.fnmatchcase(r["run"], runs)]


def append_record(campaign: Campaign, record: dict[str, Any]) -> None:
    """One JSON line, flushed to disk before returning."""
    campaign.ledger.parent.mkdir(parents=True, exist_ok=True)
    with open(campaign.ledger, "a") as f:
        f.write(json.dumps(record, sort_keys=True) + "\n")
        f.flush()
        os.fsync(f.fileno())


def machine() -> dict[str, Any]:
    """What trained a run: CPU model, core count, torch version and GPU (if any)."""
    cpu = platform.processor() or platform.machine()
    with open("/proc/cpuinfo") if Path("/proc/cpuinfo").is_file() else open(os.devnull) as f:
        cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    info: dict[str, Any] = {"cpu": cpu, "cores": os.cpu_count(), "host": platform.node()}
    try:
        import torch

        info["torch"] = torch.__version__
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return info


def training_speed(metrics_file: Path, max_gap_s: float = 600.0) -> float | None:
    """Generator updates per second from metrics.jsonl's (step, time) rows,
    leaving out gaps longer than max_gap_s (a run stopped and resumed later)."""
    if not metrics_file.is_file():
        return None
    rows = []
    for line in metrics_file.read_text().splitlines():
        try:
            row = json.loads(line)
            rows.append((float(row["step"]), float(row["time"])))
        except (ValueError, KeyError, TypeError):
            continue
    rows = sorted(set(rows))
    steps = seconds = 0.0
    for (s0, t0), (s1, t1) in itertools.pairwise(rows):
        if s1 > s0 and 0 < t1 - t0 <= max_gap_s:
            steps, seconds = steps + s1 - s0, seconds + t1 - t0
    return round(steps / seconds, 3) if seconds else None


def run_record(campaign: Campaign, run: PlannedRun, run_dir: Path, members: int = 1,
               released: str | None = None) -> dict[str, Any]:
    """The ledger record of a finished run directory (config.json, results.json, metrics.jsonl)."""
    from analysis.release import result_metrics

    config = json.loads((run_dir / "config.json").read_text())
    results = json.loads((run_dir / "results.json").read_text())
    return {"run": run.name, "model": run.model, "vary": dict(run.vary), "seed": run.seed,
            "flags": [*run.flags(), *campaign.flags], "commit": config.get("git_commit"),
            "updates": results.get("step"), "updates_per_s": training_speed(run_dir / "metrics.jsonl"),
            "members": members, "threads": config.get("torch_threads"),
            "device": "cuda" if config.get("cuda") else "cpu", "machine": machine(),
            "metrics": result_metrics(results), "released": released, "source": "run",
            "recorded": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def record_finished(campaign: Campaign, out_path: Path, members: dict[str, int] | None = None,
                    commit: bool = False) -> list[str]:
    """Record every campaign run finished under out_path that the ledger lacks
    (releasing its generator first when the campaign says where); returns their names."""
    done, added = read_ledger(campaign), []
    for run in campaign.runs:
        run_dir = out_path / campaign.task / run.name
        if run.name in done or not (run_dir / "results.json").is_file():
            continue
        released = None
        if campaign.releases(run):
            from analysis.release import release_runs

            release_runs([run_dir], REPO / campaign.release)
            released = f"{campaign.release}/{run.name}.pt"
        append_record(campaign, run_record(campaign, run, run_dir, (members or {}).get(run.name, 1), released))
        added.append(run.name)
        if commit:
            paths = [campaign.ledger] + ([REPO / campaign.release] if released else [])
            git_commit(paths, f"campaign {campaign.name}: {run.name}")
    return added


def record_releases(campaign: Campaign, folder: Path) -> list[str]:
    """Records, from a release manifest, of campaign runs that the ledger lacks
    (e.g. the released seed-1337 runs of a grid trained before the campaign)."""
    from analysis.collect import MANIFEST

    entries = {e["experiment"]: e for e in json.loads((folder / MANIFEST).read_text())}
    done, added = read_ledger(campaign), []
    for run in campaign.runs:
        entry = entries.get(run.name)
        if run.name in done or entry is None:
            continue
        append_record(campaign, {
            "run": run.name, "model": run.model, "vary": dict(run.vary), "seed": run.seed,
            "flags": [*run.flags(), *campaign.flags], "commit": entry.get("commit"), "updates": entry.get("updates"),
            "updates_per_s": None, "members": 1, "threads": None, "device": None, "machine": None,
            "metrics": entry.get("metrics"), "released": str(folder / entry["file"]), "source": "release",
            "recorded": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
        added.append(run.name)
    return added


def git_commit(paths: Sequence[Path], message: str) -> None:
    """Commit exactly these paths (other staged or changed files stay as they are)."""
    rel = [str(Path(p).resolve().relative_to(REPO)) for p in paths]
    subprocess.run(["git", "add", "--", *rel], cwd=REPO, check=True)
    subprocess.run(["git", "commit", "-q", "-m", message, "--", *rel], cwd=REPO, check=False)


# -- planning -----------------------------------------------------------------

def speed_estimate(campaign: Campaign, model: str, members: int, ledger: dict[str, dict[str, Any]]) -> float | None:
    """Updates/s of each member of a process of `members` runs of `model`:
    the median of the ledger's measurements of that ensemble size, else a
    single run's (measured, else the campaign's [speed] table) divided by the
    size (no ensemble gain assumed until one is measured)."""
    measured = [r["updates_per_s"] for r in ledger.values() if r.get("model") == model and r.get("updates_per_s")
                and r.get("members", 1) == members]
    if measured:
        return statistics.median(measured)
    single = [r["updates_per_s"] for r in ledger.values() if r.get("model") == model and r.get("updates_per_s")
              and r.get("members", 1) == 1]
    base = statistics.median(single) if single else campaign.speed.get(model)
    return base / members if base else None


@dataclass
class Process:
    """One entry-script process: one run, or an ensemble of seeds of one cell."""

    runs: list[PlannedRun]
    eta_s: float | None

    def argv(self, campaign: Campaign, out_path: Path, threads: int, extra: Sequence[str]) -> list[str]:
        first = self.runs[0]
        seeds = ["--seed", str(first.seed), "--experiment_name", first.name] if len(self.runs) == 1 else \
            ["--seeds", *(str(r.seed) for r in self.runs), "--experiment_names", *(r.name for r in self.runs)]
        return [campaign.script, *first.flags(), *campaign.flags, *campaign.budget_flags(), *seeds,
                "--out_path", str(out_path), "--resume", "--no_progress", "--threads", str(threads), *extra]


def plan(campaign: Campaign, ledger: dict[str, dict[str, Any]], budget_s: float) -> tuple[list[Process], list[str]]:
    """The pending runs as processes that each fit budget_s (ensembles as
    large as max_members allows and the budget fits); and the pending runs
    that fit in no process, with the reason."""
    cells: dict[tuple, list[PlannedRun]] = {}
    for run in campaign.runs:  # in the campaign file's order
        if run.name not in ledger:
            cells.setdefault(run.cell, []).append(run)
    processes, too_long = [], []
    for runs in cells.values():
        size = campaign.max_members
        while size > 1 and _eta(campaign, runs[0].model, size, ledger) > budget_s - EVAL_MARGIN_S:
            size -= 1
        for i in range(0, len(runs), size):
            chunk = runs[i:i + size]
            eta = _eta(campaign, chunk[0].model, len(chunk), ledger)
            if eta > budget_s - EVAL_MARGIN_S and not campaign.resumable:
                too_long += [f"{r.name}: needs about {eta / 3600:.1f} h, over the {budget_s / 3600:.1f} h limit"
                             for r in chunk]
            else:
                processes.append(Process(chunk, None if eta == 0 else eta))
    return processes, too_long


def _eta(campaign: Campaign, model: str, members: int, ledger: dict[str, dict[str, Any]]) -> float:
    speed = speed_estimate(campaign, model, members, ledger)
    return campaign.updates / speed if speed else 0.0  # 0: unknown
