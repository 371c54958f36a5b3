"""The model registry: names <-> flags, refused flag combinations, and the
discriminators' initial weights (construction order)."""

import json

import pytest
import torch

from AudioSeparation import AudioSeparation
from Image2Image import Image2Image
from ImagePairs import ImagePairs
from PairedMNIST import PairedMNIST, build_gan
from training.models_registry import EXPERIMENTS, MODELS, model_flags, model_name, models_of, option_values
from training.options import build_parser
from training.runner import main

ENTRIES = {e.task: e for e in (PairedMNIST, ImagePairs, Image2Image, AudioSeparation)}


def _parse(task, flags):
    return build_parser("", ENTRIES[task]().add_options).parse_args(flags)


@pytest.mark.parametrize("task", EXPERIMENTS)
def test_each_model_flags_give_back_its_name(task):
    for name in models_of(task):
        assert model_name(_parse(task, model_flags(name)), task) == name


def test_the_registry_lists_the_papers_models():
    assert list(MODELS) == ["GAN", "GAN big", "FactorGAN", "FactorGAN-no-cp", "CoGAN", "SCoGAN", "CycleGAN",
                            "pix2pix"]
    assert models_of("AudioSeparation") == ["GAN", "FactorGAN", "FactorGAN-no-cp"]
    assert models_of("PairedMNIST") == ["GAN", "FactorGAN", "FactorGAN-no-cp", "CoGAN", "SCoGAN"]
    assert option_values("model", "PairedMNIST") == option_values("model", "ImagePairs") == ["cogan", "scogan"]
    assert option_values("model", "Image2Image") == ["cyclegan", "pix2pix"]
    assert {n for n, m in MODELS.items() if not m.uses_pairs} == {"FactorGAN-no-cp", "CoGAN", "SCoGAN", "CycleGAN"}


GAN, CP = "GAN (--factorGAN 0)", "FactorGAN (--factorGAN 1)"
NO_CP = "FactorGAN-no-cp (--factorGAN 1 --use_real_dep_disc 0)"
REFUSED = [
    ("PairedMNIST", ["--use_real_dep_disc", "0"], f"--use_real_dep_disc 0 does not apply to {GAN}; it is for {NO_CP}"),
    ("PairedMNIST", ["--lipschitz_p", "0"], f"--lipschitz_p 0 does not apply to {GAN}; it is for {CP}"),
    ("PairedMNIST", ["--factorGAN", "1", "--use_real_dep_disc", "0", "--lipschitz_p", "0"],
     f"--lipschitz_p 0 does not apply to {NO_CP}; it is for {CP}"),
    ("AudioSeparation", ["--lipschitz_q", "0"], f"--lipschitz_q 0 does not apply to {GAN}; it is for {CP} or {NO_CP}"),
    ("ImagePairs", ["--model", "cogan", "--factorGAN", "1"],
     f"--factorGAN 1 does not apply to CoGAN (--model cogan); it is for {CP} or {NO_CP}"),
    ("ImagePairs", ["--big_disc", "1", "--factorGAN", "1"],
     f"--big_disc 1 does not apply to {CP}; it is for GAN big (--factorGAN 0 --big_disc 1)"),
    ("PairedMNIST", ["--fr_weight", "2"], f"--fr_weight 2.0 does not apply to {GAN}; it is for SCoGAN (--model scogan)"),
    ("PairedMNIST", ["--model", "cogan", "--semantic_weight", "0"],
     "--semantic_weight 0.0 does not apply to CoGAN (--model cogan); it is for SCoGAN (--model scogan)"),
    ("ImagePairs", ["--model", "scogan", "--marginal_lr_factor", "0.5"],
     f"--marginal_lr_factor 0.5 does not apply to SCoGAN (--model scogan); it is for {CP} or {NO_CP}"),
    ("Image2Image", ["--model", "pix2pix", "--factorGAN", "1"],
     f"--factorGAN 1 does not apply to pix2pix (--model pix2pix); it is for {CP} or {NO_CP}"),
    ("Image2Image", ["--l1_weight", "5"],
     f"--l1_weight 5.0 does not apply to {GAN}; it is for pix2pix (--model pix2pix)"),
    ("Image2Image", ["--model", "pix2pix", "--cycle_weight", "1"],
     "--cycle_weight 1.0 does not apply to pix2pix (--model pix2pix); it is for CycleGAN (--model cyclegan)"),
]


@pytest.mark.parametrize("task,flags,message", REFUSED)
def test_conflicting_flags_are_refused_in_one_line(task, flags, message, tmp_path, capsys):
    assert main(ENTRIES[task](), ["--out_path", str(tmp_path / "out"), "--data_root", str(tmp_path), *flags]) == 2
    assert capsys.readouterr().err.splitlines() == [f"error: {message}"]
    assert not (tmp_path / "out").exists()


def test_flags_at_their_defaults_are_no_conflict():
    for task, flags in [("PairedMNIST", ["--lipschitz_p", "1", "--use_real_dep_disc", "1"]),
                        ("ImagePairs", ["--model", "cogan", "--factorGAN", "0", "--big_disc", "0"])]:
        opts = _parse(task, flags)
        assert model_name(opts, task) == ("GAN" if task == "PairedMNIST" else "CoGAN")


def test_a_saved_run_with_ignored_flags_resumes_as_it_trained(mnist_root, tmp_path, capsys):
    """Runs saved before the check may hold flags their model ignored: they
    resume and evaluate as they trained; only flags given now are judged."""
    args = ["--data_root", str(mnist_root), "--out_path", str(tmp_path), "--cache_dir", str(tmp_path / "cache"),
            "--batchSize", "4", "--epochs", "1", "--epoch_iter", "3", "--no_progress", "--experiment_name", "old"]
    assert main(PairedMNIST(), [*args, "--max_steps", "1"]) == 0
    config = tmp_path / "PairedMNIST" / "old" / "config.json"
    saved = json.loads(config.read_text())
    config.write_text(json.dumps({**saved, "use_real_dep_disc": 0, "lipschitz_p": 0}))  # as an older version wrote
    assert main(PairedMNIST(), [*args, "--resume", "--max_steps", "2"]) == 0
    capsys.readouterr()
    assert main(PairedMNIST(), [*args, "--resume", "--lipschitz_q", "0"]) == 2
    assert capsys.readouterr().err.startswith("error: --lipschitz_q 0 does not apply to GAN")


# Sum of each sub-discriminator's initial parameters after torch.manual_seed(0),
# from before the builders shared factorised_or_joint: the construction order
# (and so each module's random draws) must not change.
FINGERPRINTS = {
    "GAN": {"joint": 9.735363},
    "FactorGAN": {"upper": 6.131124, "lower": 6.006838, "p_dep": 6.300907, "q_dep": 11.381022},
    "FactorGAN-no-cp": {"upper": 6.131124, "lower": 6.006838, "q_dep": 6.300907},
}


@pytest.mark.parametrize("model", FINGERPRINTS)
def test_paired_mnist_discriminators_start_from_the_same_weights(model):
    opts = _parse("PairedMNIST", model_flags(model))
    torch.manual_seed(0)
    disc = build_gan(opts, torch.device("cpu"), lambda source: None).discriminator
    with torch.no_grad():
        sums = {name: float(sum(p.double().sum() for p in sub.parameters()))
                for name, sub in disc.sub_discriminators().items()}
    assert sums == pytest.approx(FINGERPRINTS[model], abs=1e-4)


def test_sweep_refuses_a_model_its_experiment_lacks(capsys):
    from analysis import sweep

    with pytest.raises(SystemExit) as exit_:
        sweep.main(["fig1", "--models", "GAN big", "--dry_run"])
    assert exit_.value.code == 2 and "PairedMNIST has no model 'GAN big'" in capsys.readouterr().err
