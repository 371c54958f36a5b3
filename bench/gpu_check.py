"""The prepared GPU check: one command for a short GPU window.

Three stages, each within its share of --budget_s, everything written into --out:

1. the CUDA tests (``pytest -m cuda tests/test_cuda.py``);
2. a speed table of every task's models, updates/s on the GPU beside the
   same models on the CPU (--cpu_threads), measured by the bench modules
   in this folder: speed.jsonl (their JSON lines) and speed.md;
3. the rest of the budget on the next pending runs of a GPU campaign
   (analysis.campaign run, one process at a time, run folders under
   --runs_dir): the campaign's new ledger records in ledger_NAME.jsonl (append
   them to campaigns/NAME.results.jsonl and commit), the runs' small files
   (config, split, metrics, results) in runs.tar.gz, and their checkpoints in
   checkpoints.tar.gz when that is small enough to come back (else the runs
   resume only on a machine that keeps --runs_dir).

Every command and its output go to check.log; summary.json says what each
stage did and how long it took. At most seven files, none in subfolders: what
a GPU window of this project can hand back.

    python -m bench.gpu_check --out gpu_out --budget_s 480 --data_root DATA
    python -m bench.gpu_check --out /tmp/gpu_dry --dry_run --data_root DATA   # on a CPU: the plan, each stage at its smallest

Without the campaign's data under --data_root the third stage is skipped with
one line.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MAX_FILE_BYTES = 16 * 2**20  # what one returned file may hold on this project's GPU machines
# (label, bench module and its flags); GPU rows time the paper's sizes and the CPU protocol's
SPEED = {
    "gpu": [["-m", "bench.paired_mnist_speed", "--warmup", "20", "--steps", "50", "--rounds", "3"],
            ["-m", "bench.image_speed", "--sizes", "paper", "cpu", "--warmup", "3", "--steps", "5", "--rounds", "2"],
            ["-m", "bench.audio_speed", "--warmup", "2", "--steps", "3", "--rounds", "2"]],
    "cpu": [["-m", "bench.paired_mnist_speed", "--warmup", "20", "--steps", "50", "--rounds", "3"],
            ["-m", "bench.image_speed", "--sizes", "cpu", "--warmup", "1", "--steps", "2", "--rounds", "1"],
            ["-m", "bench.audio_speed", "--sizes", "cpu", "--warmup", "1", "--steps", "1", "--rounds", "1"]],
    "dry_run": [["-m", "bench.paired_mnist_speed", "--models", "GAN", "--warmup", "1", "--steps", "2", "--rounds", "1"],
                ["-m", "bench.image_speed", "--experiments", "ImagePairs", "Image2Image", "--sizes", "cpu",
                 "--models", "GAN", "--warmup", "1", "--steps", "1", "--rounds", "1"],
                ["-m", "bench.audio_speed", "--sizes", "cpu", "--warmup", "1", "--steps", "1", "--rounds", "1"]],
}
# the smallest version of a campaign run, for --dry_run: tiny models, two updates, on the CPU
TINY = ["--loadSize", "32", "--generator_channels", "4", "--disc_channels", "4", "--batchSize", "2",
        "--epochs", "1", "--epoch_iter", "2", "--eval_every", "0", "--checkpoint_every", "1"]
CAMPAIGN_DATA = {"Image2Image.py": "cityscapes", "ImagePairs.py": "cityscapes"}


class Clock:
    def __init__(self, budget_s: float) -> None:
        self.start, self.budget_s = time.monotonic(), budget_s

    def left(self) -> float:
        return self.budget_s - (time.monotonic() - self.start)


def _run(argv: Sequence[str], log: Path, timeout_s: float) -> tuple[int | None, float, str]:
    """Run `python argv` in the repository, output to log; (exit code or None on timeout, seconds, output)."""
    start = time.monotonic()
    try:
        out = subprocess.run([sys.executable, *argv], cwd=REPO, capture_output=True, text=True,
                             timeout=max(1.0, timeout_s), check=False)
        code, text = out.returncode, out.stdout + out.stderr
    except subprocess.TimeoutExpired as err:
        code = None
        text = (err.stdout or b"").decode(errors="replace") + (err.stderr or b"").decode(errors="replace")
    with open(log, "a") as f:
        f.write(f"$ {shlex.join(argv)}\n{text}\n")
    return code, round(time.monotonic() - start, 1), text


def cuda_tests(out: Path, timeout_s: float) -> dict:
    code, seconds, text = _run(["-m", "pytest", "-q", "-m", "cuda", "tests/test_cuda.py", "-p", "no:cacheprovider"],
                               out / "check.log", timeout_s)
    last = next((line for line in reversed(text.splitlines()) if line.strip()), "")
    return {"exit_code": code, "seconds": seconds, "summary": last}


def speed(out: Path, timeout_s: float, cpu_threads: int, dry_run: bool, gpu: bool) -> dict:
    """Every bench module on the GPU (when there is one) and on the CPU; one table."""
    calls = [("cpu", [*flags, "--threads", str(cpu_threads)]) for flags in SPEED["dry_run" if dry_run else "cpu"]]
    if gpu and not dry_run:
        calls = [("cuda", [*flags, "--cuda"]) for flags in SPEED["gpu"]] + calls
    rows, done = [], []
    clock = Clock(timeout_s)
    for device, argv in calls:
        code, seconds, text = _run(argv, out / "check.log", clock.left())
        rows += [json.loads(line) for line in text.splitlines() if line.startswith('{"bench"')]
        done.append({"device": device, "command": shlex.join(argv), "exit_code": code, "seconds": seconds})
        if clock.left() <= 1:
            break
    (out / "speed.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (out / "speed.md").write_text(speed_table(rows))
    return {"calls": done, "rows": len(rows)}


def speed_table(rows: list[dict]) -> str:
    """Markdown: one row per (experiment, size, model), updates/s median on each device."""
    cells: dict[tuple, dict[str, float]] = {}
    for r in rows:
        if "updates_per_s_median" in r:
            key = (r["bench"], r.get("size", "paper"), r["model"])
            cells.setdefault(key, {})[r["device"]] = r["updates_per_s_median"]
    lines = ["| experiment | size | model | GPU updates/s | CPU updates/s |", "|---|---|---|---|---|"]
    for (bench, size, model), by_device in sorted(cells.items()):
        gpu, cpu = by_device.get("cuda"), by_device.get("cpu")
        lines.append(f"| {bench} | {size} | {model} | {gpu if gpu is not None else '-'} | "
                     f"{cpu if cpu is not None else '-'} |")
    return "\n".join(lines) + "\n"


def campaign_stage(out: Path, runs: Path, name: str, data_root: str | None, budget_s: float, dry_run: bool) -> dict:
    from analysis.ledger import load_campaign, plan, read_ledger

    campaign = load_campaign(name)
    pending, _ = plan(campaign, read_ledger(campaign), campaign.budget_s)
    report: dict = {"campaign": name, "pending": [r.name for p in pending for r in p.runs]}
    print(f"campaign {name}: {len(report['pending'])} pending: {', '.join(report['pending']) or 'none'}", flush=True)
    needed = CAMPAIGN_DATA.get(campaign.script)
    if needed and not (data_root and (Path(data_root) / needed / "train").is_dir()):
        report["skipped"] = f"no {needed} data under --data_root {data_root}"
        print(f"campaign stage skipped: {report['skipped']}", flush=True)
        return report
    if not pending:
        return report
    extra = ["--data_root", data_root] if data_root else []
    if dry_run:  # the first pending run at its smallest, 2 updates, on the CPU; nothing is recorded
        argv = [a for a in pending[0].argv(campaign, runs, 1, [*extra, *TINY]) if a != "--cuda"]
        code, seconds, _ = _run(argv, out / "check.log", budget_s)
        report.update(dry_run_command=shlex.join(argv), exit_code=code, seconds=seconds,
                      results=(runs / campaign.task / pending[0].runs[0].name / "results.json").is_file())
        return report
    before = set(read_ledger(campaign))
    code, seconds, _ = _run(["-m", "analysis.campaign", "run", name, "--budget_s", str(int(budget_s)), "--lanes", "1",
                             "--out_path", str(runs), "--extra", *extra], out / "check.log", budget_s + 120)
    new = [r for n, r in read_ledger(campaign).items() if n not in before]
    (out / f"ledger_{name}.jsonl").write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in new))
    report.update(exit_code=code, seconds=seconds, recorded=[r["run"] for r in new], **pack_runs(runs, out))
    return report


def pack_runs(runs: Path, out: Path) -> dict:
    """The runs' small files in runs.tar.gz; their checkpoints in
    checkpoints.tar.gz if that stays small enough to come back."""
    small = [p for p in runs.rglob("*") if p.is_file() and p.suffix in (".json", ".jsonl", ".csv", ".png", ".log")]
    with tarfile.open(out / "runs.tar.gz", "w:gz") as tar:
        for p in small:
            tar.add(p, arcname=str(p.relative_to(runs)))
    ckpts = sorted(runs.rglob("checkpoints/last.pt"))
    size = sum(p.stat().st_size for p in ckpts)
    if ckpts and size < MAX_FILE_BYTES:
        with tarfile.open(out / "checkpoints.tar.gz", "w:gz") as tar:
            for p in ckpts:
                tar.add(p, arcname=str(p.relative_to(runs)))
        return {"checkpoints": "checkpoints.tar.gz"}
    return {"checkpoints": f"not packed ({size / 2**20:.0f} MiB, over {MAX_FILE_BYTES // 2**20} MiB)" if ckpts else None}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="folder for everything the check produces")
    p.add_argument("--budget_s", type=float, default=480, help="wall-time budget of the whole check, seconds")
    p.add_argument("--campaign", default="gpu_image2image", help="the GPU campaign of stage 3 (campaigns/NAME.toml)")
    p.add_argument("--data_root", default=None, help="folder holding the campaign's data (e.g. cityscapes/)")
    p.add_argument("--runs_dir", default=str(Path(tempfile.gettempdir()) / "factorgan_gpu_runs"),
                   help="the campaign runs' folders (checkpoints included); keep it to resume them later")
    p.add_argument("--cpu_threads", type=int, default=1, help="torch threads of the CPU speed rows")
    p.add_argument("--stages", nargs="+", default=["cuda_tests", "speed", "campaign"],
                   choices=["cuda_tests", "speed", "campaign"], help="which stages to run")
    p.add_argument("--dry_run", action="store_true",
                   help="print the plan and run the smallest version of each stage (CPU is fine)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import torch

    gpu = torch.cuda.is_available()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    clock = Clock(args.budget_s)
    shares = {"cuda_tests": 0.3, "speed": 0.3}  # of the budget; the campaign gets the rest
    print(f"GPU check: {torch.cuda.get_device_name(0) if gpu else 'no GPU'}, budget {args.budget_s:.0f} s, "
          f"stages {' -> '.join(args.stages)}, output {out}" + (" (dry run)" if args.dry_run else ""), flush=True)
    summary: dict = {"gpu": torch.cuda.get_device_name(0) if gpu else None, "torch": torch.__version__,
                     "dry_run": args.dry_run, "budget_s": args.budget_s}
    for stage in args.stages:
        limit = clock.left() - 20 if stage == "campaign" else shares[stage] * args.budget_s
        print(f"stage {stage}: up to {limit:.0f} s", flush=True)
        if stage == "cuda_tests":
            summary[stage] = cuda_tests(out, limit)
        elif stage == "speed":
            summary[stage] = speed(out, limit, args.cpu_threads, args.dry_run, gpu)
        elif limit > 60 or args.dry_run:
            summary[stage] = campaign_stage(out, Path(args.runs_dir).resolve(), args.campaign, args.data_root,
                                            limit, args.dry_run)
        print(f"stage {stage}: {json.dumps(summary.get(stage), default=str)[:400]}", flush=True)
    summary["seconds"] = round(args.budget_s - clock.left(), 1)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    print(f"done in {summary['seconds']} s; files in {out}: {', '.join(sorted(p.name for p in out.iterdir()))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
