"""The model registry: names <-> flags, and the discriminators' initial
weights (construction order)."""

import pytest
import torch

from AudioSeparation import AudioSeparation
from Image2Image import Image2Image
from ImagePairs import ImagePairs
from PairedMNIST import PairedMNIST, build_gan
from training.models_registry import EXPERIMENTS, MODELS, model_flags, model_name, models_of, option_values
from training.options import build_parser

ENTRIES = {e.task: e for e in (PairedMNIST, ImagePairs, Image2Image, AudioSeparation)}


def _parse(task, flags):
    return build_parser("", ENTRIES[task]().add_options).parse_args(flags)


@pytest.mark.parametrize("task", EXPERIMENTS)
def test_each_model_flags_give_back_its_name(task):
    for name in models_of(task):
        assert model_name(_parse(task, model_flags(name)), task) == name


def test_the_registry_lists_the_papers_models():
    assert list(MODELS) == ["GAN", "GAN big", "FactorGAN", "FactorGAN-no-cp", "CoGAN", "CycleGAN", "pix2pix"]
    assert models_of("PairedMNIST") == models_of("AudioSeparation") == ["GAN", "FactorGAN", "FactorGAN-no-cp"]
    assert option_values("model", "ImagePairs") == ["cogan"]
    assert option_values("model", "Image2Image") == ["cyclegan", "pix2pix"]
    assert {n for n, m in MODELS.items() if not m.uses_pairs} == {"FactorGAN-no-cp", "CoGAN", "CycleGAN"}


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
