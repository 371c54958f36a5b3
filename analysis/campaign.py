"""Run a campaign's pending runs within a wall-time limit and record each
finished run in the repository's ledger (analysis/ledger.py says what a
campaign file holds).

    python -m analysis.campaign status fig1_seeds [--out_path runs]
    python -m analysis.campaign run fig1_seeds --budget_s 10800 --lanes 2 --out_path runs --commit
    python -m analysis.campaign record fig1_seeds --out_path runs          # runs finished by hand
    python -m analysis.campaign record fig1_seeds --releases releases/paired_mnist

``run`` starts the pending runs that fit the time left (longest first, --lanes
processes at a time, one thread each; seeds of one cell as one ensemble
process where the campaign allows it), ends every process at the limit (each
checkpoints and stops; ``run`` again on the same machine resumes it), and
appends a record to ``campaigns/NAME.results.jsonl`` as soon as a run is
finished, committing it with ``--commit``. A finished run is never lost with
the machine; only an unfinished one is.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from analysis.ledger import (
    EVAL_MARGIN_S,
    REPO,
    Campaign,
    Process,
    load_campaign,
    plan,
    read_ledger,
    record_finished,
    record_releases,
)


def _hours(seconds: float | None) -> str:
    return "?" if not seconds else f"{seconds / 3600:.1f} h"


def _step_reached(run_dir: Path) -> int | None:
    """The last logged step of an unfinished run on this machine, if any."""
    metrics = run_dir / "metrics.jsonl"
    if not metrics.is_file():
        return None
    steps = [json.loads(line).get("step", 0) for line in metrics.read_text().splitlines() if line.startswith("{")]
    return int(max(steps)) if steps else None


def status(campaign: Campaign, out_path: Path, lanes: int) -> str:
    """A table of the campaign's runs (done with their scores, pending with
    the ETA of the process they are planned in), then the totals."""
    ledger = read_ledger(campaign)
    processes, too_long = plan(campaign, ledger, campaign.budget_s)
    eta = {r.name: (p.eta_s, len(p.runs)) for p in processes for r in p.runs}
    head = (f"campaign {campaign.name}: {campaign.script}, {campaign.updates} updates per run, "
            f"processes of at most {_hours(campaign.budget_s)}")
    lines = [head, "", "| run | state | scores or ETA |", "|---|---|---|"]
    for run in campaign.runs:
        record = ledger.get(run.name)
        if record is not None:
            scores = ", ".join(f"{k} {v:.4g}" for k, v in (record.get("metrics") or {}).items()
                               if isinstance(v, int | float) and k in ("fid", "dependency", "accuracy", "ls_mean",
                                                                       "mean_iou", "mse"))
            lines.append(f"| {run.name} | done ({record.get('source')}) | {scores or '-'} |")
            continue
        step = _step_reached(out_path / campaign.task / run.name)
        state = f"pending, at step {step} here" if step else "pending"
        seconds, members = eta.get(run.name, (None, 1))
        where = f"{_hours(seconds)} in a process of {members}" if run.name in eta else "does not fit the limit"
        lines.append(f"| {run.name} | {state} | {where} |")
    work = sum(p.eta_s or 0 for p in processes)
    lines += ["", f"{len(ledger)} of {len(campaign.runs)} done; {len(processes)} processes to run, about "
              f"{_hours(work)} of one core in all, {_hours(work / max(1, lanes))} with {lanes} lanes"
              + (" (some ETAs unknown)" if any(p.eta_s is None for p in processes) else "")]
    lines += [f"too long for one process: {t}" for t in too_long]
    return "\n".join(lines)


def run_campaign(campaign: Campaign, out_path: Path, budget_s: float, lanes: int, threads: int,
                 extra: Sequence[str], commit: bool, dry_run: bool = False, only: str = "*") -> int:
    """Run what fits in budget_s (of the runs whose name matches the glob
    `only`); returns how many processes failed."""
    deadline = time.monotonic() + budget_s
    processes, too_long = plan(campaign, read_ledger(campaign), min(budget_s, campaign.budget_s))
    processes = [p for p in processes if all(fnmatch.fnmatchcase(r.name, only) for r in p.runs)]
    if not campaign.resumable:  # longest first, so that the short ones fill the end; else the file's order
        processes.sort(key=lambda p: -(p.eta_s or 0))
    for line in too_long:
        print(f"skipped, {line}")
    if dry_run:
        for p in processes:
            print(f"[{_hours(p.eta_s)}] {shlex.join([sys.executable, *p.argv(campaign, out_path, threads, extra)])}")
        return 0
    members = {r.name: len(p.runs) for p in processes for r in p.runs}
    running: list[tuple[Process, subprocess.Popen, object]] = []
    limit_reached = False
    failed = 0
    while processes or running:
        left = deadline - time.monotonic()
        while processes and len(running) < lanes:
            proc = processes.pop(0)
            if proc.eta_s is not None and proc.eta_s + EVAL_MARGIN_S > left and not campaign.resumable:
                print(f"not started (needs {_hours(proc.eta_s)}, {_hours(left)} left): "
                      f"{', '.join(r.name for r in proc.runs)}", flush=True)
                continue
            log_dir = out_path / campaign.task
            log_dir.mkdir(parents=True, exist_ok=True)
            log = open(log_dir / f"{proc.runs[0].name}.log", "a")  # noqa: SIM115 (closed when it ends)
            argv = proc.argv(campaign, out_path, threads, extra)
            print(f"start [{_hours(proc.eta_s)}] {' '.join(r.name for r in proc.runs)}", flush=True)
            running.append((proc, subprocess.Popen([sys.executable, *argv], cwd=REPO, stdout=log,
                                                   stderr=subprocess.STDOUT), log))
        time.sleep(2)
        if not limit_reached and time.monotonic() > deadline:  # the limit: every process checkpoints and stops
            limit_reached = True  # one signal each: a second one makes a run give up the checkpoint it writes
            for _, popen, _ in running:
                popen.send_signal(signal.SIGTERM)
            processes.clear()
        for item in list(running):
            proc, popen, log = item
            if popen.poll() is None:
                continue
            log.close()
            running.remove(item)
            # ended by the limit's SIGTERM before its handler was installed (still starting): not a failure
            cut = popen.returncode == -signal.SIGTERM and limit_reached
            failed += popen.returncode != 0 and not cut
            added = record_finished(campaign, out_path, members, commit)
            names = " ".join(r.name for r in proc.runs)
            ended = ("ended" if popen.returncode == 0 else "stopped by the limit while starting" if cut
                     else f"FAILED ({popen.returncode})")
            print(f"{ended} {names}; recorded: {', '.join(added) or 'none'}", flush=True)
    return failed


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", choices=["status", "run", "record"])
    p.add_argument("campaign", help="a campaign's name: campaigns/NAME.toml")
    p.add_argument("--out_path", default="out", help="root folder of the runs on this machine")
    p.add_argument("--budget_s", type=float, default=None,
                   help="run: wall-time limit of this call in seconds (default: the campaign's budget_s)")
    p.add_argument("--lanes", type=int, default=2, help="processes at a time (one thread each by default)")
    p.add_argument("--threads", type=int, default=1, help="torch threads per process")
    p.add_argument("--commit", action="store_true", help="git-commit the ledger after every recorded run")
    p.add_argument("--dry_run", action="store_true", help="run: print the planned commands and stop")
    p.add_argument("--only", default="*", help="run: only the runs whose name matches this glob, e.g. 'GAN_*'")
    p.add_argument("--releases", default=None,
                   help="record: take the records from this release folder's manifest instead of --out_path")
    p.add_argument("--extra", nargs=argparse.REMAINDER, default=[],
                   help="further flags for every run (last on the line), e.g. --extra --data_root ../data")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    campaign = load_campaign(args.campaign)
    out_path = Path(args.out_path).resolve()
    if args.action == "status":
        print(status(campaign, out_path, args.lanes))
        return 0
    if args.action == "record":
        added = (record_releases(campaign, Path(args.releases)) if args.releases
                 else record_finished(campaign, out_path, commit=args.commit))
        print(f"recorded {len(added)} runs: {', '.join(added) or 'none'} -> {campaign.ledger.relative_to(REPO)}")
        return 0
    budget = args.budget_s if args.budget_s is not None else campaign.budget_s
    return 1 if run_campaign(campaign, out_path, budget, args.lanes, args.threads, args.extra, args.commit,
                             args.dry_run, args.only) else 0


if __name__ == "__main__":
    sys.exit(main())
