"""analysis.fig_grid: the 2x2 runs' table and figure from results.json files."""

import json

from analysis import fig_grid


def _result(path, fac, cols, fid, **extra):
    path.mkdir(parents=True)
    scores = {"fid": fid, "dependency_within": 0.5, "dependency_between": 0.25}
    (path / "results.json").write_text(json.dumps({
        "layout": "2x2", "factorisation": fac, "num_column_samples": cols, "classifier": "ours", **scores,
        "floor": {"fid": 1.0, "dependency_within": 0.1, "dependency_between": 0.1}, **extra}))


def test_cells_average_seeds_and_skip_pairs(tmp_path):
    runs = tmp_path / "PairedMNIST"
    _result(runs / "h_s1", "hierarchical", 1000, 10.0)
    _result(runs / "h_s2", "hierarchical", 1000, 20.0)
    _result(runs / "j", "joint", 0, 40.0)
    (runs / "pairs").mkdir()
    (runs / "pairs" / "results.json").write_text(json.dumps({"fid": 3.0, "dependency": 1.0}))
    out = tmp_path / "fig"
    assert fig_grid.main(["--out_path", str(tmp_path), "--output", str(out)]) == 0
    lines = (tmp_path / "fig.md").read_text().splitlines()
    assert lines[2].startswith("| joint | 0 | 1 | 40 |")
    assert lines[3].startswith("| hierarchical | 1000 | 2 | 15 ± 7.1 |")
    assert lines[4].startswith("| real training grids (floor) | - | - | 1 |") and len(lines) == 5
    assert (tmp_path / "fig.png").stat().st_size > 0


def test_released_grid_runs_are_drawn_from_the_manifest(tmp_path):
    """A 2x2 run known only from a release folder (its run directory gone) still lands in its cell, floor included."""
    from analysis.release import result_metrics

    run = tmp_path / "gone" / "h_s1"
    _result(run, "hierarchical", 10000, 12.0, by_classifier={}, step=20000)
    metrics = result_metrics(json.loads((run / "results.json").read_text()))
    assert "step" not in metrics and metrics["factorisation"] == "hierarchical"
    folder = tmp_path / "rel"
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps([{"file": "h_s1.pt", "task": "PairedMNIST",
                                                       "experiment": "h_s1", "model": "FactorGAN",
                                                       "metrics": metrics}]))
    out = tmp_path / "fig"
    assert fig_grid.main(["--out_path", str(tmp_path / "none"), "--releases", str(folder), "--output", str(out)]) == 0
    lines = (tmp_path / "fig.md").read_text().splitlines()
    assert lines[2].startswith("| hierarchical | 10000 | 1 | 12 |")
    assert lines[3].startswith("| real training grids (floor) | - | - | 1 |")


def test_the_table_is_drawn_from_a_campaigns_ledger(tmp_path, monkeypatch):
    """--campaign: every recorded seed of a cell counts, the run directories and releases are not read."""
    from analysis import ledger

    (tmp_path / "g.toml").write_text(
        'script = "PairedMNIST.py"\nname = "grid_{factorisation}_c{num_column_samples}_s{seed}"\n'
        'updates = 10\nbudget_s = 100\n[[grid]]\nmodels = ["FactorGAN"]\nseeds = [1, 2, 3]\n'
        'vary = { factorisation = ["hierarchical"], num_column_samples = [0, 1000] }\n')
    campaign = ledger.load_campaign("g", tmp_path)
    for i, run in enumerate(campaign.runs[:4]):  # c0 s1-s3, c1000 s1 recorded; c1000 s2, s3 pending
        vary = dict(run.vary)
        ledger.append_record(campaign, {"run": run.name, "model": run.model, "seed": run.seed, "vary": vary, "metrics": {
            "layout": "2x2", "factorisation": vary["factorisation"], "num_column_samples": vary["num_column_samples"],
            "classifier": "ours", "fid": 10.0 * (i + 1), "dependency_within": 0.5, "dependency_between": 0.25}})
    monkeypatch.setattr(ledger, "load_campaign", lambda name: campaign)
    out = tmp_path / "fig"
    assert fig_grid.main(["--campaign", "g", "--out_path", str(tmp_path / "none"), "--output", str(out)]) == 0
    lines = (tmp_path / "fig.md").read_text().splitlines()
    assert lines[2].startswith("| hierarchical | 0 | 3 | 20 ± 10 |")
    assert lines[3].startswith("| hierarchical | 1000 | 1 | 40 |") and len(lines) == 4
