"""Figure 1 from a campaign's ledger: each cell's spread over seeds, and the
paper's orderings judged against it."""

import pytest

from analysis import fig1_paired_mnist as fig1
from analysis import ledger


@pytest.mark.parametrize("ours, other, paper_lower, expected", [
    ([1.0, 1.2, 1.1], [2.0, 2.5, 3.0], True, "holds beyond the spread"),
    ([1.0, 2.2, 1.1], [2.0, 2.5, 3.0], True, "within the spread"),
    ([1.0, 1.2, 1.1], [2.0, 2.5, 3.0], False, "**reversed** beyond the spread"),
    ([1.0], [2.0, 2.5], False, "**reversed** (1 seed)"),
    ([1.0], [2.0], True, "holds (1 seed)"),
    ([2.0], [2.0], True, "tie (1 seed)"),
])
def test_verdict(ours, other, paper_lower, expected):
    assert fig1.verdict(ours, other, paper_lower) == expected


def _row(model, seed, fid, dep, count=100, lam=0.9):
    return {"model": model, "seed": seed, "lambda": lam, "num_joint_samples": count, "experiment": f"{model}_{seed}",
            "by_classifier": {"reference": {"fid": fid, "dependency": dep}}}


def test_spread_tables_give_each_cells_spread_and_the_verdicts():
    rows = [_row("FactorGAN", s, fid, 1.0 + s / 10) for s, fid in ((1, 4.0), (2, 5.0), (3, 6.0))]
    rows += [_row("GAN", s, fid, 0.3) for s, fid in ((1, 10.0), (2, 12.0), (3, 14.0))]
    rows += [_row("FactorGAN-no-cp", s, 3.0, 1.5, count=100) for s in (1, 2)]
    text = fig1.spread_tables(rows)
    assert "| 0.9 | 100 | FactorGAN | 5.00 ± 1.00 [4.00, 6.00] (3) | 4.4495 |" in text
    # FID: FactorGAN [4, 6] vs GAN [10, 14], paper 4.45 vs 18.5: ours in the paper's order, beyond the spread
    assert "| 0.9 | 100 | fid | GAN | [4, 6] | [10, 14] | 4.45 vs 18.5 | holds beyond the spread |" in text
    # dependency: FactorGAN [1.1, 1.3] vs no-cp 1.5 (both seeds), paper 1.21 vs 1.49: holds
    assert "| dependency | FactorGAN-no-cp | [1.1, 1.3] | [1.5, 1.5] | 1.21 vs 1.49 | holds beyond the spread |" in text


def test_the_figure_is_drawn_from_a_campaigns_ledger(tmp_path, monkeypatch):
    (tmp_path / "c.toml").write_text(
        'script = "PairedMNIST.py"\nname = "{model}_{num_joint_samples}_{mnist_same_digit_prob}_s{seed}"\n'
        'updates = 10\nbudget_s = 100\n[[grid]]\nmodels = ["GAN", "FactorGAN"]\nseeds = [1, 2]\n'
        "vary = { num_joint_samples = [100], mnist_same_digit_prob = [0.9] }\n")
    campaign = ledger.load_campaign("c", tmp_path)
    for i, run in enumerate(campaign.runs):
        ledger.append_record(campaign, {"run": run.name, "model": run.model, "seed": run.seed, "vary": dict(run.vary),
                                        "metrics": {"by_classifier": {"ours": {"fid": 10.0 + i, "dependency": 0.5}}}})
    monkeypatch.setattr(ledger, "load_campaign", lambda name: campaign)
    out = tmp_path / "fig"
    assert fig1.main(["--campaign", "c", "--output", str(out)]) == 0
    assert out.with_suffix(".png").stat().st_size > 0
    assert "| 0.9 | 100 | GAN | 10.50 ± 0.71 [10.00, 11.00] (2) |" in out.with_suffix(".md").read_text()
