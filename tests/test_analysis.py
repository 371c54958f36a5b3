"""analysis/: collecting results, drawing figures, planning sweeps (fake run trees)."""

import json
import os

import pytest

from analysis import (
    fig1_paired_mnist,
    fig2_image_pairs,
    fig4_image2image,
    fig6_audio_separation,
    fig_i2i_curves,
    fig_mnist_curves,
    sweep,
)
from analysis.collect import collect, paper_rows
from analysis.collect import main as collect_main
from analysis.plotting import finish, setup_matplotlib


def _run(out, task, name, results):
    folder = out / task / name
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps(results))


@pytest.fixture
def fake_out(tmp_path):
    for model, fid in (("GAN", 20.0), ("FactorGAN", 5.0)):
        for n in (10, 100):
            _run(tmp_path, "PairedMNIST", f"{model}_{n}", {"model": model, "num_joint_samples": n, "lambda": 0.9,
                                                           "fid": fid, "dependency": 0.5})
    _run(tmp_path, "ImagePairs", "e", {"model": "FactorGAN", "dataset": "edges2shoes", "num_joint_samples": 100,
                                       "ls_runs": [0.4, 0.5]})
    base = {"accuracy": 60.0, "mse": 0.04}
    _run(tmp_path, "Image2Image", "i", {"model": "GAN", "num_joint_samples": 25, "accuracy": 55.0, "mse": 0.05,
                                        "baselines": {"prior (photo-blind)": base}})
    sdr = {w: {s: {"median": 3.0} for s in ("vocals", "accompaniment")} for w in ("15s", "1s")}
    _run(tmp_path, "AudioSeparation", "a", {"model": "GAN", "num_joint_songs": 10, "sdr": sdr})
    (tmp_path / "PairedMNIST" / "unfinished").mkdir()
    return tmp_path


def test_collect_reads_every_finished_run(fake_out, tmp_path):
    rows = collect(fake_out, "PairedMNIST")
    assert len(rows) == 4 and {r["experiment"] for r in rows} == {"GAN_10", "GAN_100", "FactorGAN_10", "FactorGAN_100"}
    assert collect(fake_out, "nothing") == []
    assert {r["experiment"] for r in collect(fake_out, "PairedMNIST", "*_10")} == {"GAN_10", "FactorGAN_10"}
    assert collect_main(["--out_path", str(fake_out)]) == 0
    table = (fake_out / "tables" / "Image2Image.csv").read_text().splitlines()
    assert "baselines.prior (photo-blind).accuracy" in table[0] and len(table) == 2


def test_paper_tables_hold_the_spec_numbers():
    fid = {(r["Model"], r["Paired samples"], r["Lambda"]): float(r["FID"]) for r in paper_rows("fig1_fid")}
    assert fid[("FactorGAN", "100", "0.9")] == 4.4495 and fid[("GAN", "100", "0.9")] == 18.52
    ls = [r for r in paper_rows("fig2_ls") if r["Dataset"] == "cityscapes" and r["Paired samples"] == "100"]
    assert {r["Model"]: float(r["LS"]) for r in ls} == {"GAN": 0.054, "GAN big": 0.037, "FactorGAN": 0.155}


FIGURES = [fig1_paired_mnist, fig2_image_pairs, fig4_image2image, fig6_audio_separation]


@pytest.mark.parametrize("module", FIGURES)
@pytest.mark.parametrize("with_runs", [True, False])
def test_each_figure_draws_a_png(module, with_runs, fake_out, tmp_path):
    out = fake_out if with_runs else tmp_path / "empty"
    target = tmp_path / "fig" / f"{module.__name__.split('.')[-1]}_b0.05"  # a dot in the name is kept
    assert module.main(["--out_path", str(out), "--output", str(target)]) == 0
    assert (tmp_path / "fig" / f"{target.name}.png").stat().st_size > 10000
    assert (tmp_path / "fig" / f"{target.name}.pdf").is_file()



def test_finish_draws_one_legend_below_the_panels_with_each_label_once(tmp_path):
    plt = setup_matplotlib(False)
    fig, axes = plt.subplots(1, 2)
    for ax in axes:
        ax.plot([1, 2], [1, 2], label="GAN (ours)")
        ax.plot([1, 2], [2, 1], label="GAN (paper)")
    finish(fig, axes, str(tmp_path / "f"), True, "t")
    assert [ax.get_legend() for ax in axes] == [None, None]  # no legend over the curves
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == ["GAN (ours)", "GAN (paper)"]
    assert (tmp_path / "f.png").is_file()

def _curve_run(out, name, shift, results=None):
    folder = out / "Image2Image" / name
    folder.mkdir(parents=True)
    lines = [{"step": 1, "G/loss": 1.0}]
    lines += [{"step": s, "val/pixel_accuracy": 40.0 + s + shift, "val/mean_iou": 10.0 + s, "val/mse": 0.05}
              for s in (2, 4)]
    lines.append({"step": 4, "val/pixel_accuracy": 50.0 + shift, "val/mean_iou": 15.0})  # repeated after a resume
    (folder / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    if results is not None:
        (folder / "results.json").write_text(json.dumps(results))
    return folder


def test_i2i_curves_read_val_scores_and_draw_them_with_the_baselines(tmp_path, capsys):
    full = {"prior (photo-blind)": {"accuracy": 60.0, "mean_iou": 15.0}}
    subset = {"prior (photo-blind)": {"accuracy": 58.0, "mean_iou": 14.0},
              "mean map (photo-blind)": {"accuracy": 55.0, "mean_iou": 9.0}}
    a = _curve_run(tmp_path, "a", 0.0)  # still training: no results.json
    b = _curve_run(tmp_path, "b", 5.0, {"baselines": full, "val_subset": {"images": 3, "baselines": subset}})
    c = _curve_run(tmp_path, "c", 1.0, {"baselines": full})
    curves = fig_i2i_curves.read_curves(a)
    assert curves["val/pixel_accuracy"] == [(2, 42.0), (4, 50.0)] and set(curves) == {
        "val/pixel_accuracy", "val/mean_iou", "val/mse"}
    assert fig_i2i_curves.baseline_lines([a, b, c]) == (subset, "val subset")
    assert fig_i2i_curves.baseline_lines([a, c]) == (full, "full val set")
    assert fig_i2i_curves.baseline_lines([a]) == ({}, "")
    assert fig_i2i_curves.first_above([(2, 42.0), (4, 50.0), (6, 49.0)], 45.0) == 4
    assert fig_i2i_curves.first_above([(2, 42.0), (4, 50.0)], 50.0) is None  # equal is not above
    for out in (tmp_path, tmp_path / "empty"):
        target = tmp_path / "fig" / out.name
        assert fig_i2i_curves.main(["--out_path", str(out), "--output", str(target)]) == 0
        assert target.with_suffix(".png").stat().st_size > 10000
    table = (tmp_path / "fig" / tmp_path.name).with_suffix(".md").read_text().splitlines()
    assert "| update | a | b | c |" in table and "| 4 | 50.0 / 15.0 | 55.0 / 15.0 | 51.0 / 15.0 |" in table
    assert table[-2:] == ["| mean map (photo-blind), val subset | 55.0 / 9.0 | 55.0 / 9.0 | 55.0 / 9.0 |",
                          "| prior (photo-blind), val subset | 58.0 / 14.0 | 58.0 / 14.0 | 58.0 / 14.0 |"]
    assert not (tmp_path / "fig" / "empty.md").exists()  # no curves, no table
    ragged = {"x": {"val/pixel_accuracy": [(2, 41.0), (4, 43.25)], "val/mean_iou": [(2, 7.0)]},
              "y": {"val/pixel_accuracy": [(4, 44.0)], "val/mean_iou": [(4, 9.0)]}}
    assert fig_i2i_curves.markdown_table(ragged, {}, "").splitlines()[-2:] == [
        "| 2 | 41.0 / 7.0 | - |", "| 4 | 43.2 / - | 44.0 / 9.0 |"]
    printed = capsys.readouterr().out
    assert "b: per-pixel prior 58.0 % (val subset) - never passes it; best 55.0 % at update 4" in printed
    fig_i2i_curves.report_passes({"x": {"val/pixel_accuracy": [(2, 59.0), (4, 57.0), (6, 61.0)]}}, 58.0, "val subset")
    assert "x: per-pixel prior 58.0 % (val subset) - passes it at update 2; best 61.0 % at update 6" in (
        capsys.readouterr().out)


def test_fig4_tables_list_runs_baselines_paper_values_and_class_ious(tmp_path):
    def scores(acc, road, sky=None):
        return {"accuracy": acc, "mean_class_accuracy": acc / 2, "mean_iou": acc / 4, "mse": 0.03,
                "per_class": {"road": {"accuracy": 90.0, "iou": road}, "sky": {"accuracy": None, "iou": sky}}}
    prior = {"prior (photo-blind)": scores(60.0, 70.0)}
    _run(tmp_path, "Image2Image", "f", {"model": "FactorGAN", "num_joint_samples": 25, **scores(66.0, 80.0, 12.5),
                                        "baselines": prior})
    _run(tmp_path, "Image2Image", "c", {"model": "CycleGAN", "num_joint_samples": 25, "accuracy": 50.0,
                                        "mse": 0.05, "baselines": prior})  # an older run: no class scores
    out = tmp_path / "fig" / "i2i"
    assert fig4_image2image.main(["--out_path", str(tmp_path), "--output", str(out)]) == 0
    table = out.with_suffix(".md").read_text().splitlines()
    assert table[0] == ("| run | model | paired | pixel acc. % | mean class acc. % | mean IoU % | MSE | paper acc. % "
                        "| paper MSE |")
    # CycleGAN's paper value is listed at 0 pairs (it uses none); the paper gives it no MSE
    assert table[2:5] == ["| c | CycleGAN | 25 | 50.0 | - | - | 0.0500 | 56.76 | - |",
                          "| f | FactorGAN | 25 | 66.0 | 33.0 | 16.5 | 0.0300 | 71.66 | 0.02665 |",
                          "| prior (photo-blind) | prior (photo-blind) | - | 60.0 | 30.0 | 15.0 | 0.0300 | - | - |"]
    assert table[5:7] == ["", "IoU % per class:"]
    assert table[8:] == ["| class | c | f | prior (photo-blind) |", "|---|---|---|---|",
                         "| road | - | 80.0 | 70.0 |", "| sky | - | 12.5 | - |"]


def test_sweep_dry_run_lists_the_grid_and_skips_finished_runs(tmp_path, capsys):
    args = ["fig1", "--out_path", str(tmp_path), "--budget", "0.05", "--paired", "10", "100", "--lambdas", "0.9",
            "--dry_run"]
    assert sweep.main(args) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "5 runs in the grid, 0 finished, 5 to run"
    commands = lines[1:]
    assert len(commands) == 5 and all("PairedMNIST.py" in c and "--resume" in c for c in commands)
    assert all("--epochs 2 --epoch_iter 5000" in c for c in commands)
    assert sum("--use_real_dep_disc 0" in c for c in commands) == 1  # uses no pairs: one run serves both counts
    _run(tmp_path, "PairedMNIST", "FactorGAN_100_0.9_b0.05_s1337", {})
    assert sweep.main(args) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "5 runs in the grid, 1 finished, 4 to run"
    assert not any("FactorGAN_100_0.9_b0.05_s1337" in c for c in lines[1:])


def test_sweep_runs_the_grid_and_draws_the_figure(mnist_root, tmp_path):
    args = ["fig1", "--out_path", str(tmp_path), "--budget", "0.00001", "--paired", "5", "--lambdas", "0.9",
            "--models", "GAN", "FactorGAN", "--jobs", "2",
            "--extra", "--data_root", str(mnist_root), "--cache_dir", str(tmp_path / "cache"),
            "--eval_samples", "50", "--batchSize", "4"]
    assert sweep.main(args) == 0
    rows = collect(tmp_path, "PairedMNIST")
    assert sorted(r["model"] for r in rows) == ["FactorGAN", "GAN"]
    assert (tmp_path / "figures" / "fig1_b1e-05.png").stat().st_size > 10000


def test_mnist_curves_tabulate_each_runs_val_scores_beside_its_final_and_the_papers(tmp_path):
    cells = {"gan": {"factorGAN": 0, "num_joint_samples": 60000}, "nocp": {"factorGAN": 1, "use_real_dep_disc": 0,
                                                                          "num_joint_samples": 100}}
    for name, config in cells.items():
        run = tmp_path / "PairedMNIST" / name
        run.mkdir(parents=True)
        (run / "config.json").write_text(json.dumps({"model": None, "use_real_dep_disc": 1, **config,
                                                     "mnist_same_digit_prob": 0.9}))
        steps = (10, 20) if name == "gan" else (10,)
        (run / "metrics.jsonl").write_text("".join(
            json.dumps({"step": s, "D/loss": 1.0}) + "\n" + json.dumps(
                {"step": s, "val/fid/reference": s / 2, "val/dependency/reference": 0.5, "val/fid/ours": 99.0}) + "\n"
            for s in steps))
    (tmp_path / "PairedMNIST" / "gan" / "results.json").write_text(json.dumps(
        {"fid": 50.0, "by_classifier": {"ours": {"fid": 50.0}, "reference": {"fid": 4.0, "dependency": 0.75}}}))
    (tmp_path / "PairedMNIST" / "no_curves").mkdir()
    grid = tmp_path / "PairedMNIST" / "grid"  # a 2x2 run's curves are not pairs' curves: left out
    grid.mkdir()
    (grid / "config.json").write_text(json.dumps({"layout": "2x2", "factorGAN": 1, "num_joint_samples": 100,
                                                  "mnist_same_digit_prob": 0.9}))
    (grid / "metrics.jsonl").write_text(json.dumps({"step": 10, "val/fid/reference": 7.0}) + "\n")
    out = tmp_path / "fig" / "c"
    assert fig_mnist_curves.main(["--out_path", str(tmp_path), "--output", str(out)]) == 0
    assert out.with_suffix(".png").stat().st_size > 10000
    assert out.with_suffix(".md").read_text().splitlines()[2:] == [
        "| update | gan | nocp |", "|---|---|---|",
        "| 10 | 5.00 / 0.500 | 5.00 / 0.500 |", "| 20 | 10.00 / 0.500 | - |",
        "| final (test set) | 4.00 / 0.750 | - |",
        "| paper (200k) | 2.129 / 0.7067 | 2.598 / 1.488 |"]  # the paper's cells: GAN 60000 and no-cp, lambda 0.9
    assert fig_mnist_curves.main(["--out_path", str(tmp_path), "--output", str(out) + "x", "--classifier", "x"]) == 0
    assert not out.with_name("cx.md").exists()  # no curves under that classifier: no table


def test_fig1_draws_a_chosen_classifier_and_names_runs_without_it(tmp_path):
    for model, n in (("GAN", 10), ("GAN", 100), ("FactorGAN-no-cp", 10)):
        scores = {"ours": {"fid": 9.0, "dependency": 1.0}, "reference": {"fid": 3.0, "dependency": 0.9}}
        _run(tmp_path, "PairedMNIST", f"{model}_{n}", {"model": model, "num_joint_samples": n, "lambda": 0.9,
                                                       "classifier": "ours", **scores["ours"],
                                                       "by_classifier": scores})
    _run(tmp_path, "PairedMNIST", "grid", {"model": "GAN", "layout": "2x2", "num_joint_samples": 100, "lambda": 0.9,
                                           "classifier": "ours", "fid": 5.0, "dependency_within": 0.5,
                                           "by_classifier": {}})  # a 2x2 run: not a cell of Fig. 1
    result = collect(tmp_path, "PairedMNIST")[0]
    assert fig1_paired_mnist.score(result, "fid", "reference") == 3.0
    assert fig1_paired_mnist.score(result, "fid", None) == 9.0
    out = tmp_path / "fig" / "f"
    assert fig1_paired_mnist.main(["--out_path", str(tmp_path), "--output", str(out), "--classifier", "reference"]) == 0
    assert out.with_suffix(".png").stat().st_size > 10000
    table = out.with_suffix(".md").read_text().splitlines()
    assert table[0].startswith("| lambda | paired | model | FID (ours / reference) | paper FID |")
    # rows by lambda, count, model; the paper's values looked up by model, count and lambda
    assert table[2:7] == ["| 0.9 | 10 | GAN | 9.00 / 3.00 | 144.05 | 1.000 / 0.900 | 0.6944 |",
                          "| 0.9 | 10 | FactorGAN-no-cp | 9.00 / 3.00 | 2.598 | 1.000 / 0.900 | 1.488 |",
                          "| 0.9 | 100 | GAN | 9.00 / 3.00 | 18.52 | 1.000 / 0.900 | 0.3664 |",
                          "", "Orderings (lower is better for both scores):"]
    _run(tmp_path, "PairedMNIST", "old", {"model": "GAN", "num_joint_samples": 5, "lambda": 0.9, "fid": 1.0,
                                          "dependency": 1.0})
    with pytest.raises(SystemExit, match="old has no scores for the 'reference' classifier"):
        fig1_paired_mnist.main(["--out_path", str(tmp_path), "--output", str(out), "--classifier", "reference"])


def test_fig1_orderings_compare_ours_with_the_papers_order(tmp_path):
    # (model, paired, lambda): FID ours, FID reference, dependency ours, dependency reference
    runs = {("GAN", 10, 0.9): (50, 40, 0.5, 0.6), ("GAN", 100, 0.9): (20, 15, 0.7, 0.4),
            ("FactorGAN", 10, 0.9): (10, 12, 1.3, 1.2), ("FactorGAN", 100, 0.9): (30, 9, 1.0, 1.1),
            ("FactorGAN-no-cp", 100, 0.9): (5, 4, 1.4, 1.1), ("FactorGAN", 100, 0.1): (5, 4, 0.2, 0.2)}
    for (model, n, lam), (f, fr, d, dr) in runs.items():
        by = {"ours": {"fid": f, "dependency": d}, "reference": {"fid": fr, "dependency": dr}}
        _run(tmp_path, "PairedMNIST", f"{model}_{n}_{lam}", {"model": model, "num_joint_samples": n, "lambda": lam,
                                                             "by_classifier": by, **by["ours"]})
    lines = fig1_paired_mnist.orderings(collect(tmp_path, "PairedMNIST")).splitlines()

    def row(*cells: str) -> str:
        return "| " + " | ".join(cells) + " |"

    same = "same order as the paper"
    first = lines.index(row("lambda", "paired", "score", "FactorGAN vs", "ours (ours / reference)", "paper", same))
    # no-cp (trained at 100) stands at 10 too; nothing at lambda 0.1, where FactorGAN has no partner
    assert lines[first + 2:] == [
        row("0.9", "10", "fid", "GAN", "10 vs 50 / 12 vs 40", "10.8 vs 144", "yes / yes"),
        row("0.9", "10", "dependency", "GAN", "1.3 vs 0.5 / 1.2 vs 0.6", "1.25 vs 0.694", "yes / yes"),
        row("0.9", "10", "dependency", "FactorGAN-no-cp", "1.3 vs 1.4 / 1.2 vs 1.1", "1.25 vs 1.49", "yes / **no**"),
        row("0.9", "100", "fid", "GAN", "30 vs 20 / 9 vs 15", "4.45 vs 18.5", "**no** / yes"),
        row("0.9", "100", "dependency", "GAN", "1 vs 0.7 / 1.1 vs 0.4", "1.21 vs 0.366", "yes / yes"),
        row("0.9", "100", "dependency", "FactorGAN-no-cp", "1 vs 1.4 / 1.1 vs 1.1", "1.21 vs 1.49", "yes / tie"),
        "",
        row("lambda", "model", "score", "paired", "ours (ours / reference)", "paper", same),
        "|---|---|---|---|---|---|---|",
        row("0.9", "GAN", "fid", "10, 100", "50, 20 / 40, 15", "144, 18.5", "yes / yes"),
        row("0.9", "GAN", "dependency", "10, 100", "0.5, 0.7 / 0.6, 0.4", "0.694, 0.366", "**no** / yes"),
        row("0.9", "FactorGAN", "fid", "10, 100", "10, 30 / 12, 9", "10.8, 4.45", "**no** / yes"),
        row("0.9", "FactorGAN", "dependency", "10, 100", "1.3, 1 / 1.2, 1.1", "1.25, 1.21", "yes / yes")]


def test_sweep_through_submitit_skips_finished_runs(mnist_root, tmp_path, capsys):
    """--launcher submitit_local: submitit's local executor stands in for Slurm."""
    args = ["fig1", "--out_path", str(tmp_path), "--budget", "0.00001", "--paired", "5", "--lambdas", "0.9",
            "--models", "GAN", "FactorGAN", "--launcher", "submitit_local", "--wait", "--time_min", "5",
            "--extra", "--data_root", str(mnist_root), "--cache_dir", str(tmp_path / "cache"),
            "--eval_samples", "50", "--batchSize", "4"]
    assert sweep.main(args) == 0
    out = capsys.readouterr().out
    assert out.count("submitted ") == 2 and out.count("done ") == 2, out
    assert sorted(r["model"] for r in collect(tmp_path, "PairedMNIST")) == ["FactorGAN", "GAN"]
    records = sorted((tmp_path / "PairedMNIST").glob("*.submitit.json"))
    assert len(records) == 2 and all(json.loads(r.read_text())["cluster"] == "local" for r in records)
    assert sweep.main(args) == 0
    out = capsys.readouterr().out
    assert "2 runs in the grid, 2 finished, 0 to run" in out and "submitted" not in out


def _fake_slurm(folder, state):
    """srun, sbatch (keeps the script, answers job 42) and sacct (answers `state`) as shell scripts."""
    folder.mkdir()
    scripts = {"srun": "exit 0",
               "sbatch": f'cp "$1" {folder}/script.sh; echo "Submitted batch job 42"',
               "sacct": f'echo "JobID|State|NodeList"; echo "42|{state}|node1"'}
    for name, body in scripts.items():
        (folder / name).write_text(f"#!/bin/sh\n{body}\n")
        (folder / name).chmod(0o755)
    return folder


def test_sweep_submits_to_slurm_with_its_resources_once(tmp_path, monkeypatch, capsys):
    bin_dir = _fake_slurm(tmp_path / "bin", "PENDING")
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    args = ["fig1", "--out_path", str(tmp_path), "--paired", "10", "--lambdas", "0.9", "--models", "GAN",
            "--launcher", "slurm", "--partition", "gpu", "--gpus_per_run", "1", "--time_min", "90",
            "--slurm_extra", "account=abc", "--extra", "--cuda"]
    assert sweep.main(args) == 0
    out = capsys.readouterr().out
    assert "submitted GAN_10_0.9_b1.0_s1337: job 42" in out and "1 jobs submitted" in out
    script = (bin_dir / "script.sh").read_text()
    for line in ("--partition=gpu", "--gpus-per-node=1", "--time=90", "--account=abc", "--cpus-per-task=1"):
        assert f"#SBATCH {line}" in script, line
    assert sweep.main(args) == 0  # job 42 is still pending: not submitted again
    out = capsys.readouterr().out
    assert "skip GAN_10_0.9_b1.0_s1337: still queued or running as Slurm job 42" in out and "submitted " not in out


def test_slurm_extra_needs_key_value_items():
    from analysis import launchers

    assert launchers.slurm_extra(["account=abc", "--qos=high"]) == {"account": "abc", "qos": "high"}
    with pytest.raises(ValueError, match="KEY=VALUE"):
        launchers.slurm_extra(["account"])


def test_collapse_table_flags_runs_whose_batches_lost_their_diversity(tmp_path, capsys):
    import csv

    import torch

    from analysis import collapse
    from tests.conftest import write_pix2pix

    assert collapse.batch_sd(torch.full((10, 3, 4, 4), 7, dtype=torch.uint8), 4) == 0.0
    write_pix2pix(tmp_path / "data", "edges2shoes", n_train=12)
    config = {"dataset": "edges2shoes", "loadSize": 16, "batchSize": 4, "factorGAN": 1, "use_real_dep_disc": 1,
              "big_disc": 0, "model": None}
    for name, seed, factor, sds in [("c_a", 1, 1.0, [0.3, 0.001]), ("c_b", 2, 1.0, [0.3, 0.3]),
                                    ("c_c", 1, 0.25, [0.01, 0.2])]:
        run = tmp_path / "out" / "ImagePairs" / name
        run.mkdir(parents=True)
        (run / "config.json").write_text(json.dumps({**config, "seed": seed, "marginal_lr_factor": factor}))
        rows = [{"step": 50 * (i + 1), "G/batch_sd": v} for i, v in enumerate(sds)]
        rows.insert(1, {"step": 100, "G/batch_sd": 0.5})  # a resumed run logs step 100 again: the last one counts
        (run / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    assert collapse.main(["--out_path", str(tmp_path / "out"), "--runs", "c_*",
                          "--data_root", str(tmp_path / "data")]) == 0
    table = list(csv.DictReader((tmp_path / "out" / "ImagePairs" / "collapse.csv").open()))
    assert [(r["run"], r["collapsed"], r["step"]) for r in table] == [("c_a", "True", "100"), ("c_b", "False", "100"),
                                                                      ("c_c", "False", "100")]
    out = capsys.readouterr().out
    assert "| FactorGAN | none (the paper's) | 1 of 2 |" in out
    assert "| FactorGAN | marginal_lr_factor 0.25 | 0 of 1 |" in out


def test_collect_adds_released_generators_that_the_out_path_lacks(fake_out, tmp_path):
    folder = tmp_path / "releases"
    folder.mkdir()
    entry = {"task": "PairedMNIST", "model": "FactorGAN", "file": "x.pt",
             "metrics": {"num_joint_samples": 10, "lambda": 0.9, "fid": 1.0, "dependency": 0.1}}
    manifest = [{**entry, "experiment": "FactorGAN_10"}, {**entry, "experiment": "FactorGAN_1000"},
                {**entry, "experiment": "ImagePairs_run", "task": "ImagePairs"}]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    rows = {r["experiment"]: r for r in collect(fake_out, "PairedMNIST", "FactorGAN_*", releases=folder)}
    assert sorted(rows) == ["FactorGAN_10", "FactorGAN_100", "FactorGAN_1000"]
    assert rows["FactorGAN_10"]["fid"] == 5.0  # the run under out_path wins over its release
    assert rows["FactorGAN_1000"]["fid"] == 1.0 and rows["FactorGAN_1000"]["released"] == "x.pt"
    with pytest.raises(SystemExit, match="no release manifest"):
        collect(fake_out, "PairedMNIST", releases=tmp_path / "nowhere")
