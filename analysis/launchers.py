"""Submitting a sweep's runs through submitit: to Slurm, or as local processes
(submitit's local executor, which the tests use in place of a cluster).

Each run is one ordinary entry-script call with ``--resume``, wrapped as a
submitit job. On Slurm, a job that reaches its time limit or is preempted is
requeued by submitit (up to 3 times) and the call continues from the run's
last checkpoint. The job id of every submitted run is recorded beside its run
folder, so that a second sweep does not submit a run that is still queued.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import submitit

if TYPE_CHECKING:
    from analysis.sweep import Job

CLUSTERS = {"slurm": "slurm", "submitit_local": "local"}
ACTIVE_STATES = {"PENDING", "RUNNING", "REQUEUED", "CONFIGURING", "COMPLETING", "SUSPENDED", "RESIZING"}


class EntryScriptRun(submitit.helpers.Checkpointable):
    """One run as a submitit job: ``python SCRIPT.py ... --resume`` in the repository.

    Checkpointable: on a timeout or preemption submitit resubmits this same
    call, which resumes the run. A call that ends without the run's
    results.json (stopped by the last time limit) fails, so that it is not
    reported as done. results: the results.json path of the run, or of each
    member of an ensemble (--seeds).
    """

    def __init__(self, argv: list[str], cwd: str, results: str | Sequence[str]) -> None:
        self.argv, self.cwd = argv, cwd
        self.results = [results] if isinstance(results, str) else list(results)

    def __call__(self) -> None:
        subprocess.run([sys.executable, *self.argv], cwd=self.cwd, check=True, preexec_fn=_ignore_usr2)
        missing = [r for r in self.results if not Path(r).is_file()]
        if missing:
            raise RuntimeError(f"the run stopped before finishing (no {missing[0]}); sweep again to resume it")


def _ignore_usr2() -> None:
    """In the run's process: Slurm's early warning (USR2, which submitit answers by
    requeueing the job) must not kill it; the SIGTERM that follows makes it
    finish its update, write a checkpoint and stop."""
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)


def slurm_extra(items: Sequence[str]) -> dict[str, str]:
    """["account=abc", "qos=high"] -> {"account": "abc", "qos": "high"} (sbatch options without the dashes)."""
    pairs = [item.split("=", 1) for item in items]
    bad = [item for item, pair in zip(items, pairs, strict=True) if len(pair) != 2 or not pair[0]]
    if bad:
        raise ValueError(f"--slurm_extra takes KEY=VALUE items (sbatch options without '--'), got {bad}")
    return {key.lstrip("-"): value for key, value in pairs}


def make_executor(args: argparse.Namespace, folder: Path) -> submitit.AutoExecutor:
    """An executor with the sweep's resources: one task, --threads CPUs, --gpus_per_run GPUs, --time_min minutes."""
    cluster = CLUSTERS[args.launcher]
    executor = submitit.AutoExecutor(folder=str(folder / "%j"), cluster=cluster)
    params: dict[str, Any] = {"timeout_min": args.time_min, "gpus_per_node": args.gpus_per_run,
                              "tasks_per_node": 1}
    if cluster == "slurm":
        params.update(nodes=1, cpus_per_task=args.threads,
                      slurm_additional_parameters=slurm_extra(args.slurm_extra))
        if args.partition:
            params["slurm_partition"] = args.partition
    executor.update_parameters(**params)
    return executor


def _record(job: Job) -> Path:
    return job.run_dir.parent / f"{job.name}.submitit.json"


def still_queued(job: Job) -> str | None:
    """The Slurm job id under which this run is still pending or running, if any."""
    path = _record(job)
    if not path.is_file():
        return None
    record = json.loads(path.read_text())
    if record.get("cluster") != "slurm":
        return None
    state = submitit.SlurmJob(record["folder"], record["job_id"]).state
    return record["job_id"] if state.upper().split(" ")[0] in ACTIVE_STATES else None


def submit(jobs: Sequence[Job], args: argparse.Namespace, cwd: Path) -> list[tuple[Job, submitit.Job]]:
    """Submit every run that is not still queued from an earlier sweep; prints each job id."""
    if not jobs:
        return []
    folder = jobs[0].run_dir.parent / "submitit"
    executor = make_executor(args, folder)
    submitted = []
    for job in jobs:
        queued = still_queued(job) if args.launcher == "slurm" else None
        if queued:
            print(f"skip {job.name}: still queued or running as Slurm job {queued}", flush=True)
            continue
        executor.update_parameters(name=f"{args.figure}_{job.name}")
        results = [str((d / "results.json").resolve()) for d in job.run_dirs]
        sub = executor.submit(EntryScriptRun(job.argv, str(cwd), results))
        job.run_dir.parent.mkdir(parents=True, exist_ok=True)
        _record(job).write_text(json.dumps({"job_id": sub.job_id, "cluster": CLUSTERS[args.launcher],
                                            "folder": str(folder / "%j")}))
        print(f"submitted {job.name}: job {sub.job_id} (log {sub.paths.stdout})", flush=True)
        submitted.append((job, sub))
    return submitted


def wait(submitted: Sequence[tuple[Job, submitit.Job]]) -> int:
    """Wait for every submitted job; returns how many failed."""
    failed = 0
    for job, sub in submitted:
        try:
            sub.result()
            print(f"done {job.name}", flush=True)
        except Exception as err:  # noqa: BLE001 (submitit raises the job's own error, of any kind)
            failed += 1
            print(f"FAILED {job.name} (job {sub.job_id}, log {sub.paths.stderr}): {type(err).__name__}", flush=True)
    return failed
