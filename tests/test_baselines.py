"""The paper's baselines: CoGAN (ImagePairs), CycleGAN and pix2pix (Image2Image)."""

import json

import pytest
import torch
from torch import nn

from Image2Image import Image2Image
from ImagePairs import ImagePairs
from models.cyclegan import CycleGenerator
from tests.conftest import write_pix2pix
from training.data import TensorPool
from training.loop import LoopConfig, TrainState, make_optimizers, train_step
from training.losses import CycleConsistency, Identity, PairedL1
from training.models_registry import model_flags
from training.options import build_parser
from training.runner import main


@pytest.fixture(scope="module")
def pix_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("pix")
    write_pix2pix(root, "edges2shoes", n_train=10, n_val=10)
    write_pix2pix(root, "cityscapes", n_train=10, n_val=6, seed=3)
    return root


def _args(root, out, *extra):
    return ["--data_root", str(root), "--out_path", str(out), "--cache_dir", str(out / "cache"),
            "--loadSize", "16", "--generator_channels", "4", "--disc_channels", "4", "--batchSize", "4",
            "--epochs", "2", "--epoch_iter", "2", "--no_progress", "--log_every", "1", *extra]


class Same(nn.Module):
    def forward(self, x, z):
        return x


def test_cycle_and_identity_losses_vanish_for_identity_translators():
    gen = CycleGenerator(Same(), Same())
    a, b, z = torch.rand(3, 3, 8, 8), torch.rand(3, 3, 8, 8), torch.rand(3, 2)
    fake = gen(a, b, z)
    assert torch.equal(fake, torch.cat([b, a], 1))
    assert CycleConsistency(3)(gen, (a, b, z), fake, None).item() == 0.0
    assert Identity()(gen, (a, b, z), fake, None).item() == 0.0
    assert CycleConsistency(3)(CycleGenerator(Same(), lambda x, z: 0 * x), (a, b, z), fake, None).item() > 0


def test_pix2pix_l1_vanishes_for_a_perfect_generator():
    photos = torch.rand(6, 3, 8, 8)
    pool = TensorPool(torch.cat([photos, 1 - photos], 1))  # map = 1 - photo

    class Perfect(nn.Module):
        def forward(self, x, z):
            return 1 - x

    class Wrapper(nn.Module):
        predictor = Perfect()

    rng = torch.Generator().manual_seed(0)
    assert PairedL1(pool, 3, nz=2)(Wrapper(), (), torch.zeros(4, 6, 8, 8), rng).item() < 1e-6
    Wrapper.predictor = Same()
    assert PairedL1(pool, 3, nz=2)(Wrapper(), (), torch.zeros(4, 6, 8, 8), rng).item() > 1.0


def test_cogan_shares_one_set_of_parameters(pix_root, tmp_path):
    opts = build_parser("", ImagePairs().add_options).parse_args(_args(pix_root, tmp_path, *model_flags("CoGAN")))
    setup, _ = ImagePairs().build(opts, torch.device("cpu"))
    da, db = setup.discriminator.marginals["A"], setup.discriminator.marginals["B"]
    assert da.tail is db.tail and da.head is not db.head
    trunks, heads = setup.generator.trunks, setup.generator.heads
    assert trunks["A"] is trunks["B"] and heads["A"] is not heads["B"]
    opt_g, opt_d = make_optimizers(setup, 1e-3, 0.5, 0.0)
    for opt, module in ((opt_g, setup.generator), (opt_d, setup.discriminator)):
        ids = [id(p) for g in opt.param_groups for p in g["params"]]
        assert sorted(ids) == sorted({id(p) for p in module.parameters()})  # shared layers once: one Adam step
    before = {k: v.clone() for k, v in setup.discriminator.state_dict().items()}
    train_step(TrainState(setup, opt_g, opt_d, torch.Generator().manual_seed(0)), LoopConfig(batch_size=4))
    after = setup.discriminator.state_dict()
    shared = [k for k in after if k.startswith("marginals.A.tail.") and k.endswith("layer.weight")]
    assert shared
    for key in shared:
        twin = key.replace("marginals.A.", "marginals.B.")
        assert torch.equal(after[key], after[twin]) and not torch.equal(after[key], before[key])


CASES = [(ImagePairs, "CoGAN", ["--ls_runs", "1", "--ls_epochs", "1", "--num_generated", "2"]),
         (ImagePairs, "SCoGAN", ["--ls_runs", "1", "--ls_epochs", "1", "--num_generated", "2"]),
         (Image2Image, "CycleGAN", ["--num_examples", "2"]),
         (Image2Image, "pix2pix", ["--num_joint_samples", "3", "--num_examples", "2"])]


@pytest.mark.parametrize("experiment,model,flags", CASES)
def test_baselines_train_evaluate_and_resume(pix_root, tmp_path, experiment, model, flags):
    common = [*model_flags(model), *flags, "--experiment_name", "b"]
    assert main(experiment(), _args(pix_root, tmp_path / "full", *common)) == 0
    results = json.loads((tmp_path / "full" / experiment.task / "b" / "results.json").read_text())
    assert results["model"] == model
    lines = [json.loads(x) for x in (tmp_path / "full" / experiment.task / "b" / "metrics.jsonl").read_text().splitlines()]
    assert all(torch.isfinite(torch.tensor(v)) for x in lines for v in x.values())
    assert main(experiment(), _args(pix_root, tmp_path / "part", *common, "--max_steps", "3")) == 0
    assert main(experiment(), _args(pix_root, tmp_path / "part", *common, "--resume")) == 0
    a, b = (torch.load(p / experiment.task / "b" / "checkpoints" / "last.pt", weights_only=False)
            for p in (tmp_path / "full", tmp_path / "part"))
    for name, tensor in a["generator"].items():
        assert torch.equal(tensor, b["generator"][name]), name
