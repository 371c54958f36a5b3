"""The prepared GPU check's --dry_run on the CPU: the plan and every stage at its smallest."""

import json

from bench import gpu_check
from tests.conftest import write_pix2pix


def test_dry_run_exercises_every_stage(tmp_path, capsys):
    data = write_pix2pix(tmp_path / "data", "cityscapes")
    out, runs = tmp_path / "out", tmp_path / "runs"
    assert gpu_check.main(["--out", str(out), "--dry_run", "--data_root", str(data), "--runs_dir", str(runs),
                           "--budget_s", "400"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["dry_run"] and summary["gpu"] is None
    assert summary["cuda_tests"]["exit_code"] == 0  # collected and skipped without a GPU
    assert all(call["exit_code"] == 0 for call in summary["speed"]["calls"])
    table = (out / "speed.md").read_text().splitlines()
    tasks = {line.split("|")[1].strip() for line in table[2:]}
    assert table[0].startswith("| experiment") and tasks == {"PairedMNIST", "ImagePairs", "Image2Image",
                                                              "AudioSeparation"}
    campaign = summary["campaign"]
    assert campaign["pending"][0] == "FactorGAN_25_paper_s1337"  # the campaign file's order
    assert campaign["exit_code"] == 0 and campaign["results"] and "--cuda" not in campaign["dry_run_command"]
    assert len(list(out.iterdir())) <= 7 and all(p.is_file() for p in out.iterdir())  # what a GPU window returns
    assert "4 pending" in capsys.readouterr().out


def test_without_the_data_the_campaign_stage_is_skipped(tmp_path):
    out = tmp_path / "out"
    assert gpu_check.main(["--out", str(out), "--dry_run", "--stages", "campaign", "--data_root", str(tmp_path),
                           "--runs_dir", str(tmp_path / "runs")]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert "no cityscapes data" in summary["campaign"]["skipped"]
    assert not (tmp_path / "runs").exists()


def test_speed_table_puts_each_device_in_its_column():
    rows = [{"bench": "PairedMNIST", "model": "GAN", "device": "cuda", "updates_per_s_median": 900.0},
            {"bench": "PairedMNIST", "model": "GAN", "device": "cpu", "updates_per_s_median": 100.0},
            {"bench": "Image2Image", "size": "cpu", "model": "GAN", "device": "cpu", "updates_per_s_median": 1.5}]
    lines = gpu_check.speed_table(rows).splitlines()
    assert "| Image2Image | cpu | GAN | - | 1.5 |" in lines
    assert "| PairedMNIST | paper | GAN | 900.0 | 100.0 |" in lines
