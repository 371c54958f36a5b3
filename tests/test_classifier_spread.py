"""FID's spread with the evaluation classifier alone: one recipe, several training seeds."""

import pytest

from analysis.classifier_spread import spread_rows, spread_table


def _run(name, fids, deps):
    names = ["reference", "reference@1", "reference@2"]
    return {"experiment": name, "by_classifier": {
        **{c: {"fid": f, "dependency": d} for c, f, d in zip(names, fids, deps, strict=True)},
        "ours": {"fid": 99.0, "dependency": 9.0}}}


def test_spread_table_gives_each_runs_range_under_the_recipes_seeds():
    runs = [_run("a", [10.0, 12.0, 11.0], [0.5, 0.5, 0.55]), _run("b", [4.0, 4.0, 5.0], [1.0, 1.0, 1.0])]
    names, rows = spread_rows(runs, "reference", "fid")
    assert names == ["reference", "reference@1", "reference@2"]  # "ours" is another recipe
    assert rows == [("a", [10.0, 12.0, 11.0]), ("b", [4.0, 4.0, 5.0])]
    text = spread_table(runs, "reference")
    assert "| a | 10 | 12 | 11 | 2 | 20.0 % |" in text
    assert "fid: max / min - 1 over the runs: median 22.5 %, largest 25.0 %" in text


def test_a_classifier_missing_from_a_run_is_left_out_and_one_is_too_few():
    runs = [_run("a", [10.0, 12.0, 11.0], [0.5, 0.5, 0.5]), {"experiment": "b", "by_classifier": {
        "reference": {"fid": 1.0, "dependency": 1.0}}}]
    assert spread_rows(runs, "reference", "fid")[0] == ["reference"]
    with pytest.raises(SystemExit, match="fewer than two"):
        spread_table(runs, "reference")
