"""Released generators: one small file with its options, evaluated without the run directory."""

import json
import shutil

from analysis import release
from PairedMNIST import PairedMNIST
from training.runner import main


def _common(mnist_root, out, cache):
    return ["--data_root", str(mnist_root), "--out_path", str(out), "--cache_dir", str(cache),
            "--eval_samples", "100", "--no_progress"]


def test_a_released_generator_gives_the_reported_numbers_without_its_run(mnist_root, tmp_path, capsys):
    cache, runs = tmp_path / "cache", tmp_path / "runs"
    train = ["--factorGAN", "1", "--pairing", "reference", "--num_joint_samples", "20", "--batchSize", "8",
             "--epochs", "1", "--epoch_iter", "3", "--experiment_name", "r", "--mnist_same_digit_prob", "0.9",
             "--eval_classifier", "ours", "reference"]
    assert main(PairedMNIST(), [*_common(mnist_root, runs, cache), *train]) == 0
    reported = json.loads((runs / "PairedMNIST" / "r" / "results.json").read_text())
    assert release.main(["--out_path", str(runs), "--task", "PairedMNIST", "--to", str(tmp_path / "rel")]) == 0
    manifest = json.loads((tmp_path / "rel" / "manifest.json").read_text())
    assert [e["file"] for e in manifest] == ["r.pt"]
    entry = manifest[0]
    assert entry["model"] == "FactorGAN" and entry["updates"] == 3 and entry["options"]["pairing"] == "reference"
    assert entry["metrics"]["fid"] == reported["fid"] and "data_root" not in entry["options"]
    assert entry["metrics"]["by_classifier"]["reference"]["fid"] == reported["by_classifier"]["reference"]["fid"]
    shutil.rmtree(runs)  # the run directory is gone: only the released file is left
    argv = [*_common(mnist_root, tmp_path / "again", cache), "--eval", "--generator", str(tmp_path / "rel" / "r.pt")]
    assert main(PairedMNIST(), argv) == 0
    again = json.loads((tmp_path / "again" / "PairedMNIST" / "r" / "results.json").read_text())
    assert again["model"] == "FactorGAN" and again["pairing"] == "reference"  # the saved options, not the defaults
    assert (again["fid"], again["dependency"]) == (reported["fid"], reported["dependency"])
    assert again["by_classifier"] == reported["by_classifier"]  # both classifiers, as released
    # those scores are no training run: releasing them again is refused in one line, the manifest kept
    assert release.main(["--out_path", str(tmp_path / "again"), "--to", str(tmp_path / "rel")]) == 2
    assert "skipped r: not a training run" in capsys.readouterr().err
    assert json.loads((tmp_path / "rel" / "manifest.json").read_text()) == manifest


def test_generator_needs_eval_and_a_readable_file(mnist_root, tmp_path, capsys):
    assert main(PairedMNIST(), [*_common(mnist_root, tmp_path, tmp_path), "--generator", "x.pt"]) == 2
    assert "add --eval" in capsys.readouterr().err
    assert main(PairedMNIST(), [*_common(mnist_root, tmp_path, tmp_path), "--eval", "--generator", "nope.pt"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nope.pt" in err[0]
