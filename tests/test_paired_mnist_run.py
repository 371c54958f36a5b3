"""End-to-end PairedMNIST runs on the synthetic MNIST (few steps, CPU)."""

import json
import subprocess
import sys
import urllib.error
from pathlib import Path

import pytest
import torch

import training.discriminator
from eval.mnist import RELEASED_CLASSIFIERS
from models.spectral import SpectralNorm
from PairedMNIST import PairedMNIST
from training.models_registry import model_flags, models_of
from training.runner import main

ROOT = Path(__file__).resolve().parents[1]


def _args(mnist_root, out, *extra):
    return ["--data_root", str(mnist_root), "--out_path", str(out), "--cache_dir", str(out / "cache"),
            "--epochs", "2", "--epoch_iter", "3", "--batchSize", "8", "--num_joint_samples", "5",
            "--eval_samples", "100", "--no_progress", "--log_every", "2", *extra]


@pytest.mark.parametrize("model", models_of("PairedMNIST"))
def test_train_and_evaluate_each_model(model, mnist_root, tmp_path):
    assert main(PairedMNIST(), _args(mnist_root, tmp_path, *model_flags(model), "--experiment_name", "r")) == 0
    run = tmp_path / "PairedMNIST" / "r"
    results = json.loads((run / "results.json").read_text())
    assert results["model"] == model and results["step"] == 6
    for key in ("fid_upper", "fid_lower", "fid", "dependency"):
        assert torch.isfinite(torch.tensor(results[key]))
    for name in ("G.pt", "G_epoch1.pt", "G_epoch2.pt", "last.pt"):
        assert (run / "checkpoints" / name).is_file()
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines] == [2, 3, 4, 6]
    assert all(torch.isfinite(torch.tensor(v)) for x in lines for v in x.values())
    assert (run / "samples" / "generated.png").stat().st_size > 0
    config = json.loads((run / "config.json").read_text())
    assert config["factorGAN"] == int(model.startswith("FactorGAN"))
    split = json.loads((run / "split.json").read_text())
    assert len(split["lower_index"]) == 600
    header = (tmp_path / "PairedMNIST" / "results_FID.csv").read_text().splitlines()[0]
    assert header == "Paired samples;Lambda;FID;Model;Experiment"


def test_lipschitz_flags_switch_spectral_norm(mnist_root):
    exp = PairedMNIST()
    from training.options import build_parser
    opts = build_parser("", exp.add_options).parse_args(
        ["--factorGAN", "1", "--lipschitz_q", "0", "--data_root", str(mnist_root)])
    setup, _ = exp.build(opts, torch.device("cpu"))
    def has_sn(m):
        return any(isinstance(layer, SpectralNorm) for layer in m.modules())
    assert has_sn(setup.discriminator.dep_p)
    assert not has_sn(setup.discriminator.dep_q)
    assert has_sn(setup.discriminator.marginals["upper"])


def test_split_does_not_depend_on_workers(mnist_root, tmp_path):
    splits = []
    for workers in ("0", "4"):
        out = tmp_path / workers
        main(PairedMNIST(), _args(mnist_root, out, "--workers", workers, "--experiment_name", "w",
                                  "--epochs", "1", "--epoch_iter", "1"))
        splits.append(json.loads((out / "PairedMNIST" / "w" / "split.json").read_text()))
    assert splits[0] == splits[1]


def _weights(path):
    return torch.load(path, weights_only=False)


def test_kill_and_resume_gives_the_same_weights(mnist_root, tmp_path):
    common = ["--factorGAN", "1", "--experiment_name", "x"]
    full, part = tmp_path / "full", tmp_path / "part"
    assert main(PairedMNIST(), _args(mnist_root, full, *common)) == 0
    assert main(PairedMNIST(), _args(mnist_root, part, *common, "--max_steps", "4")) == 0
    assert _weights(part / "PairedMNIST" / "x" / "checkpoints" / "last.pt")["step"] == 4
    assert main(PairedMNIST(), _args(mnist_root, part, *common, "--resume")) == 0
    a = _weights(full / "PairedMNIST" / "x" / "checkpoints" / "last.pt")
    b = _weights(part / "PairedMNIST" / "x" / "checkpoints" / "last.pt")
    assert a["step"] == b["step"] == 6
    for key in ("generator", "discriminator"):
        for name, tensor in a[key].items():
            assert torch.equal(tensor, b[key][name]), (key, name)
    assert torch.equal(a["rng"], b["rng"])


def test_reference_pairing_resumes_mid_pass_bit_exactly(mnist_root, tmp_path):
    # 20 pairs, batch 8: passes of 8 + 8 + 4, so step 2 (4 draws) stops inside a pass
    common = ["--factorGAN", "1", "--pairing", "reference", "--num_joint_samples", "20", "--experiment_name", "x",
              "--eval_classifier", "ours", "reference"]
    full, part = tmp_path / "full", tmp_path / "part"
    assert main(PairedMNIST(), _args(mnist_root, full, *common)) == 0
    assert main(PairedMNIST(), _args(mnist_root, part, *common, "--max_steps", "2")) == 0
    mid = _weights(part / "PairedMNIST" / "x" / "checkpoints" / "last.pt")
    assert mid["pools"]["p_dep"]["position"] == 8
    assert main(PairedMNIST(), _args(mnist_root, part, *common, "--resume")) == 0
    a = _weights(full / "PairedMNIST" / "x" / "checkpoints" / "last.pt")
    b = _weights(part / "PairedMNIST" / "x" / "checkpoints" / "last.pt")
    for key in ("generator", "discriminator"):
        for name, tensor in a[key].items():
            assert torch.equal(tensor, b[key][name]), (key, name)
    assert torch.equal(a["pools"]["lower"]["lower"], b["pools"]["lower"]["lower"])
    results = json.loads((part / "PairedMNIST" / "x" / "results.json").read_text())
    assert results["pairing"] == "reference" and results["classifier"] == "ours"
    assert set(results["by_classifier"]) == {"ours", "reference"}
    assert results["fid"] == results["by_classifier"]["ours"]["fid"]
    assert results["by_classifier"]["reference"]["fid"] != results["fid"]
    # scored with the released classifiers (none trained, none cached)
    released = {e["recipe"]: e["weights"] for e in json.loads((RELEASED_CLASSIFIERS / "manifest.json").read_text())}
    assert {r: s["classifier_weights"] for r, s in results["by_classifier"].items()} == released
    assert not list((part / "cache").glob("mnist_classifier_*.pt"))


def test_help_works():
    out = subprocess.run([sys.executable, "PairedMNIST.py", "--help"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert out.returncode == 0
    for flag in ("--factorGAN", "--use_real_dep_disc", "--num_joint_samples", "--lipschitz_q", "--resume"):
        assert flag in out.stdout


def _error(capsys, argv):
    code = main(PairedMNIST(), argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, err
    assert len(err) == 1 and err[0].startswith("error: ")
    return err[0]


@pytest.mark.parametrize("count", ["0", "60001"])
def test_impossible_sample_counts(count, mnist_root, tmp_path, capsys):
    msg = _error(capsys, _args(mnist_root, tmp_path, "--num_joint_samples", count))
    assert "--num_joint_samples must be between 1 and 60000" in msg


def test_missing_mnist_without_network(tmp_path, capsys, monkeypatch):
    from torchvision.datasets import MNIST

    def offline(self):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(MNIST, "download", offline)
    msg = _error(capsys, _args(tmp_path / "empty", tmp_path))
    assert "MNIST not found under" in msg and "--data_root" in msg
    assert not (tmp_path / "PairedMNIST").exists()  # nothing half-written


def test_eval_without_checkpoint_names_the_path(mnist_root, tmp_path, capsys):
    (tmp_path / "PairedMNIST" / "e").mkdir(parents=True)
    msg = _error(capsys, _args(mnist_root, tmp_path, "--eval", "--experiment_name", "e"))
    assert str(tmp_path / "PairedMNIST" / "e" / "checkpoints" / "G.pt") in msg


def test_existing_run_is_never_overwritten(mnist_root, tmp_path, capsys):
    run = tmp_path / "PairedMNIST" / "old"
    run.mkdir(parents=True)
    (run / "keep.txt").write_text("x")
    msg = _error(capsys, _args(mnist_root, tmp_path, "--experiment_name", "old"))
    assert "--resume" in msg
    assert (run / "keep.txt").read_text() == "x"


def test_nan_loss_stops_and_keeps_last_good_checkpoint(mnist_root, tmp_path, capsys, monkeypatch):
    real_loss = training.discriminator.generator_loss
    calls = {"n": 0}

    def poisoned(logit, objective):
        calls["n"] += 1
        loss = real_loss(logit, objective)
        return loss * float("nan") if calls["n"] > 4 else loss

    monkeypatch.setattr(training.discriminator, "generator_loss", poisoned)
    msg = _error(capsys, _args(mnist_root, tmp_path, "--experiment_name", "nan", "--checkpoint_every", "2"))
    assert "diverged" in msg
    last = _weights(tmp_path / "PairedMNIST" / "nan" / "checkpoints" / "last.pt")
    assert last["step"] == 4
    assert all(torch.isfinite(t).all() for t in last["generator"].values())


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on machines without a GPU")
def test_cuda_without_a_gpu_says_so(mnist_root, tmp_path, capsys):
    msg = _error(capsys, _args(mnist_root, tmp_path, "--cuda"))
    assert "--cuda" in msg and "no CUDA device" in msg


def test_thread_count_is_recorded(mnist_root, tmp_path):
    before = torch.get_num_threads()
    try:
        assert main(PairedMNIST(), _args(mnist_root, tmp_path, "--threads", "1", "--experiment_name", "t",
                                         "--epochs", "1", "--epoch_iter", "1")) == 0
    finally:
        torch.set_num_threads(before)
    config = json.loads((tmp_path / "PairedMNIST" / "t" / "config.json").read_text())
    assert config["threads"] == 1 and config["torch_threads"] == 1


def test_eval_every_logs_fid_and_dependency_curves_without_changing_training(mnist_root, tmp_path):
    """--eval_every N scores --eval_subset pairs under each classifier every N updates (val/ keys);
    training goes on exactly as without it, and the last curve point is the final evaluation
    when the subset is the evaluation's size."""
    common = [*_args(mnist_root, tmp_path, "--factorGAN", "1"), "--eval_classifier", "ours", "reference",
              "--eval_samples", "100"]
    assert main(PairedMNIST(), [*common, "--experiment_name", "plain"]) == 0
    assert main(PairedMNIST(), [*common, "--experiment_name", "curves", "--eval_every", "3",
                                "--eval_subset", "100"]) == 0

    def rows(name):
        return [json.loads(x) for x in (tmp_path / "PairedMNIST" / name / "metrics.jsonl").read_text().splitlines()]

    curves = [r for r in rows("curves") if "val/fid/ours" in r]
    assert [r["step"] for r in curves] == [3, 6]
    assert {"val/fid/reference", "val/dependency/ours", "val/dependency/reference"} <= set(curves[0])
    training = [{k: v for k, v in r.items() if not k.startswith("val/") and k != "time"} for r in rows("curves")]
    assert [r for r in training if len(r) > 1] == [{k: v for k, v in r.items() if k != "time"} for r in rows("plain")]
    final = json.loads((tmp_path / "PairedMNIST" / "curves" / "results.json").read_text())
    assert curves[-1]["val/fid/reference"] == pytest.approx(final["by_classifier"]["reference"]["fid"])
