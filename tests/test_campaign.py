"""Campaign files, their ledgers, planning within a wall-time limit, and a
campaign run end to end on the synthetic MNIST."""

import json
import time
from pathlib import Path

import pytest

from analysis import campaign as cli
from analysis.ledger import (
    Process,
    load_campaign,
    plan,
    read_ledger,
    record_finished,
    record_releases,
    training_speed,
)

ROOT = Path(__file__).resolve().parents[1]

SPEC = """
script = "PairedMNIST.py"
name = "{model}_{num_joint_samples}_{mnist_same_digit_prob}_s{seed}"
updates = 6
epochs = 2
budget_s = 3600
max_members = 4
flags = ["--batchSize", "8", "--eval_samples", "100", "--log_every", "2"]

[speed]
GAN = 0.01
FactorGAN = 0.002

[[grid]]
models = ["GAN", "FactorGAN"]
seeds = [1337, 1, 2]
vary = { num_joint_samples = [5, 10], mnist_same_digit_prob = [0.9] }
"""


def _campaign(tmp_path: Path, text: str = SPEC, name: str = "c"):
    (tmp_path / f"{name}.toml").write_text(text)
    return load_campaign(name, tmp_path)


def test_the_grid_expands_to_every_model_cell_and_seed(tmp_path):
    c = _campaign(tmp_path)
    assert len(c.runs) == 2 * 2 * 3
    assert c.runs[0].name == "GAN_5_0.9_s1337"
    assert c.runs[0].flags() == ["--factorGAN", "0", "--mnist_same_digit_prob", "0.9", "--num_joint_samples", "5"]
    assert c.budget_flags() == ["--epochs", "2", "--epoch_iter", "3"]
    assert c.ledger == tmp_path / "c.results.jsonl"


def test_repository_campaigns_load_and_name_the_released_runs():
    fig1 = load_campaign("fig1_seeds")
    names = {r.name for r in fig1.runs}
    released = {e["experiment"] for e in json.loads((ROOT / "releases/paired_mnist/manifest.json").read_text())}
    # every released seed-1337 run of the Figure 1 grid is a run of the campaign, so it can be recorded
    assert len(names) == 54 and len(released & names) == 18
    for name in ("gpu_image2image", "gpu_image_pairs"):
        assert load_campaign(name).resumable


@pytest.mark.parametrize("text, word", [
    ("script = 1", "malformed"),
    (SPEC.replace('_s{seed}"', '"'), "repeat"),
    (SPEC.replace('"GAN", "FactorGAN"', '"GAN", "NoSuchGAN"'), "unknown models"),
])
def test_bad_campaign_files_get_one_line_errors(tmp_path, text, word):
    with pytest.raises(SystemExit, match=word):
        _campaign(tmp_path, text)
    with pytest.raises(SystemExit, match="no campaign 'missing'"):
        load_campaign("missing", tmp_path)


def test_plan_groups_seeds_into_ensembles_that_fit_the_budget(tmp_path):
    c = _campaign(tmp_path)
    # GAN: 6 updates at 0.01 updates/s = 600 s per run; up to 3 seeds fit 3600 s minus the margin
    processes, too_long = plan(c, {}, budget_s=3600)
    gan = [p for p in processes if p.runs[0].model == "GAN"]
    assert [len(p.runs) for p in gan] == [3, 3]  # one process per cell, all its seeds
    assert {r.seed for r in gan[0].runs} == {1337, 1, 2} and len({r.cell for r in gan[0].runs}) == 1
    assert gan[0].eta_s == pytest.approx(1800)
    # FactorGAN: 3000 s for one run; never two in a process; a 2000 s budget fits none
    processes, too_long = plan(c, {}, budget_s=2000)
    assert all(p.runs[0].model == "GAN" for p in processes) and len(too_long) == 6
    assert [len(p.runs) for p in processes] == [2, 1, 2, 1]  # 1700 s after the margin: two GAN runs at most
    # a recorded run is not planned again
    done = {"GAN_5_0.9_s1337": {"model": "GAN", "updates_per_s": None}}
    assert "GAN_5_0.9_s1337" not in {r.name for p in plan(c, done, 3600)[0] for r in p.runs}


def test_measured_speed_replaces_the_estimate(tmp_path):
    c = _campaign(tmp_path)
    ledger = {"x": {"model": "FactorGAN", "updates_per_s": 0.006, "members": 1}}
    processes, too_long = plan(c, ledger, budget_s=3600)
    factor = [p for p in processes if p.runs[0].model == "FactorGAN"]
    # 1000 s per run measured (the table's 0.002 would give 3000 s): three seeds now fit one process
    assert not too_long and len(factor[0].runs) == 3 and factor[0].eta_s == pytest.approx(3000)


def test_training_speed_leaves_out_the_gaps_of_a_resumed_run(tmp_path):
    rows = [(100, 0.0), (200, 10.0), (300, 20.0), (400, 5000.0), (500, 5010.0)]
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(json.dumps({"step": s, "time": t}) + "\n" for s, t in rows) + '{"step": 6')
    assert training_speed(path) == pytest.approx(10.0)
    assert training_speed(tmp_path / "none.jsonl") is None


def _fake_run(out: Path, name: str, fid: float) -> None:
    run = out / "PairedMNIST" / name
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"git_commit": "abc", "torch_threads": 1, "cuda": False}))
    (run / "results.json").write_text(json.dumps({"step": 6, "fid": fid, "dependency": 0.5, "model": "GAN"}))
    (run / "metrics.jsonl").write_text('{"step": 2, "time": 0}\n{"step": 6, "time": 2}\n')


def test_finished_runs_are_recorded_once(tmp_path):
    c = _campaign(tmp_path)
    _fake_run(tmp_path / "out", "GAN_5_0.9_s1", 12.5)
    _fake_run(tmp_path / "out", "not_in_the_campaign", 1.0)
    assert record_finished(c, tmp_path / "out") == ["GAN_5_0.9_s1"]
    assert record_finished(c, tmp_path / "out") == []
    record = read_ledger(c)["GAN_5_0.9_s1"]
    assert record["metrics"] == {"fid": 12.5, "dependency": 0.5, "model": "GAN"}  # the step is left out
    assert record["seed"] == 1 and record["commit"] == "abc" and record["updates_per_s"] == 2.0
    assert record["flags"][:2] == ["--factorGAN", "0"] and "--batchSize" in record["flags"]


def test_only_the_release_seeds_runs_are_released(tmp_path, monkeypatch):
    from analysis import release

    released = []
    monkeypatch.setattr(release, "release_runs", lambda dirs, folder: released.extend(d.name for d in dirs))
    c = _campaign(tmp_path, SPEC.replace("[speed]", 'release = "rel"\nrelease_seeds = [1337]\n\n[speed]'))
    assert c.release_seeds == (1337,)
    for name in ("GAN_5_0.9_s1337", "GAN_5_0.9_s1"):
        _fake_run(tmp_path / "out", name, 10.0)
    assert record_finished(c, tmp_path / "out") == ["GAN_5_0.9_s1337", "GAN_5_0.9_s1"]
    assert released == ["GAN_5_0.9_s1337"]
    ledger = read_ledger(c)
    assert ledger["GAN_5_0.9_s1337"]["released"] == "rel/GAN_5_0.9_s1337.pt" and ledger["GAN_5_0.9_s1"]["released"] is None
    assert _campaign(tmp_path, SPEC.replace("[speed]", 'release = "rel"\n\n[speed]'), "all").releases(c.runs[1])


def test_released_runs_are_recorded_from_the_manifest(tmp_path):
    c = _campaign(tmp_path)
    folder = tmp_path / "releases"
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps([
        {"experiment": "FactorGAN_10_0.9_s1337", "file": "F.pt", "commit": "c0", "updates": 6,
         "metrics": {"fid": 3.0}},
        {"experiment": "other", "file": "O.pt", "metrics": {}}]))
    assert record_releases(c, folder) == ["FactorGAN_10_0.9_s1337"]
    record = read_ledger(c)["FactorGAN_10_0.9_s1337"]
    assert record["source"] == "release" and record["released"].endswith("F.pt") and record["metrics"]["fid"] == 3.0


def test_a_campaign_runs_and_records_its_runs(tmp_path, mnist_root, monkeypatch, capsys):
    text = SPEC.replace('["GAN", "FactorGAN"]', '["GAN"]').replace("[5, 10]", "[5]").replace("[1337, 1, 2]", "[1, 2]")
    c = _campaign(tmp_path, text.replace("max_members = 4", "max_members = 1"))
    monkeypatch.setattr(cli, "load_campaign", lambda name: c)
    out = tmp_path / "out"
    extra = ["--data_root", str(mnist_root), "--cache_dir", str(tmp_path / "cache")]
    assert cli.main(["run", "c", "--out_path", str(out), "--lanes", "2", "--extra", *extra]) == 0
    ledger = read_ledger(c)
    assert sorted(ledger) == ["GAN_5_0.9_s1", "GAN_5_0.9_s2"]
    assert all(r["updates"] == 6 and r["source"] == "run" for r in ledger.values())
    assert ledger["GAN_5_0.9_s1"]["metrics"]["fid"] != ledger["GAN_5_0.9_s2"]["metrics"]["fid"]  # two seeds
    assert cli.main(["status", "c", "--out_path", str(out)]) == 0
    assert "2 of 2 done" in capsys.readouterr().out


def test_the_limit_stops_a_run_with_a_checkpoint(tmp_path, mnist_root, monkeypatch):
    text = SPEC.replace('["GAN", "FactorGAN"]', '["GAN"]').replace("[5, 10]", "[5]").replace("[1337, 1, 2]", "[1]")
    c = _campaign(tmp_path, text.replace("updates = 6", "updates = 2000000").replace("epochs = 2", "epochs = 1"))
    c.resumable = True  # started although it cannot finish in the limit
    out = tmp_path / "out"
    start = time.monotonic()
    extra = ["--data_root", str(mnist_root), "--cache_dir", str(tmp_path / "cache"), "--checkpoint_every", "100000"]
    # 40 s: enough to import torch and start training on a loaded machine (a process ended while still
    # starting has no checkpoint to write; it is not counted as failed, but this test needs one)
    failed = cli.run_campaign(c, out, budget_s=40, lanes=1, threads=1, extra=extra, commit=False)
    assert time.monotonic() - start < 100 and failed == 0
    assert read_ledger(c) == {}  # not finished: nothing recorded
    assert (out / "PairedMNIST" / "GAN_5_0.9_s1" / "checkpoints" / "last.pt").is_file()  # but resumable


def test_seeds_of_one_cell_train_as_one_ensemble_process(tmp_path, mnist_root, monkeypatch):
    text = SPEC.replace('["GAN", "FactorGAN"]', '["FactorGAN"]').replace("[5, 10]", "[5]").replace(
        "[1337, 1, 2]", "[1, 2]").replace("FactorGAN = 0.002", "FactorGAN = 1")
    c = _campaign(tmp_path, text.replace("max_members = 4", "max_members = 2"))
    processes, _ = plan(c, {}, budget_s=3600)
    assert len(processes) == 1 and [r.seed for r in processes[0].runs] == [1, 2]
    argv = processes[0].argv(c, tmp_path / "out", 1, [])
    assert argv[argv.index("--seeds") + 1: argv.index("--seeds") + 3] == ["1", "2"]
    out = tmp_path / "out"
    extra = ["--data_root", str(mnist_root), "--cache_dir", str(tmp_path / "cache")]
    assert cli.run_campaign(c, out, budget_s=600, lanes=1, threads=1, extra=extra, commit=False) == 0
    ledger = read_ledger(c)
    assert sorted(ledger) == ["FactorGAN_5_0.9_s1", "FactorGAN_5_0.9_s2"]
    assert all(r["members"] == 2 and r["updates"] == 6 for r in ledger.values())
    # each member is the run its seed alone makes: its config says so
    config = json.loads((out / "PairedMNIST" / "FactorGAN_5_0.9_s2" / "config.json").read_text())
    assert config["seed"] == 2


# A stand-in run: counts the SIGTERMs it gets while it takes 5 s to "checkpoint" after the first,
# then exits with that count (0 would be a clean stop; a second signal makes a real run give up its checkpoint)
_SLOW_STOP = """
import signal, sys, time
got = []
signal.signal(signal.SIGTERM, lambda *a: got.append(1))
while not got:
    time.sleep(0.05)
time.sleep(5)
sys.exit(len(got) - 1)
"""


def test_the_limit_signals_each_process_once(tmp_path, monkeypatch):
    c = _campaign(tmp_path, SPEC.replace('["GAN", "FactorGAN"]', '["GAN"]').replace("[5, 10]", "[5]").replace(
        "[1337, 1, 2]", "[1]"))
    c.resumable = True
    monkeypatch.setattr(Process, "argv", lambda self, *a: ["-c", _SLOW_STOP])
    assert cli.run_campaign(c, tmp_path / "out", budget_s=1, lanes=1, threads=1, extra=[], commit=False) == 0
