import pytest
import torch

from models.mlp import MLPDiscriminator
from tests.spy import Spy
from training.discriminator import P_DEP, Q_DEP, FactorisedDiscriminator
from training.factorisation import Factorisation

F2 = Factorisation([("upper", 6), ("lower", 4)])


def _factor_disc(with_p: bool = True) -> FactorisedDiscriminator:
    torch.manual_seed(0)
    return FactorisedDiscriminator(
        F2, {"upper": MLPDiscriminator(6, hidden=8), "lower": MLPDiscriminator(4, hidden=8)},
        dep_p=MLPDiscriminator(10, hidden=8) if with_p else None,
        dep_q=MLPDiscriminator(10, hidden=8),
    ).eval()


@pytest.mark.parametrize("with_p", [True, False])
def test_combined_logit_is_sum_of_marginals_plus_p_minus_q(with_p):
    d = _factor_disc(with_p)
    x = torch.rand(5, 10)
    expected = d.marginals["upper"](x[:, :6]) + d.marginals["lower"](x[:, 6:]) - d.dep_q(x)
    if with_p:
        expected = expected + d.dep_p(x)
    assert torch.allclose(d(x), expected)


def test_gan_is_one_joint_discriminator_on_paired_data():
    joint = MLPDiscriminator(10, hidden=8).eval()
    d = FactorisedDiscriminator.joint(F2, joint)
    x = torch.rand(3, 10)
    assert torch.allclose(d(x), joint(x))
    assert d.real_sources() == {"joint": "paired"}
    assert list(d.sub_discriminators()) == ["joint"]


def test_real_sources_of_factorgan():
    assert _factor_disc(True).real_sources() == {"upper": "marginal", "lower": "marginal", P_DEP: "paired"}
    assert _factor_disc(False).real_sources() == {"upper": "marginal", "lower": "marginal"}


def test_losses_use_shuffled_batches_for_dependency_discriminators():
    d = _factor_disc(True)
    seen = {}

    d.dep_p, d.dep_q = Spy("p", seen), Spy("q", seen)
    real, fake = torch.rand(8, 10), torch.rand(8, 10)
    losses = d.losses({"upper": real, "lower": real, P_DEP: real}, {"upper": fake, "lower": fake, Q_DEP: fake},
                      torch.Generator().manual_seed(0))
    assert set(losses) == {"upper", "lower", P_DEP, Q_DEP}
    # D_P: real pairs first, then the same pairs with the lower part shuffled
    assert torch.equal(seen["p"][:8], real)
    assert torch.equal(seen["p"][8:, :6], real[:, :6])
    shuffled_rows = {tuple(r.tolist()) for r in seen["p"][8:, 6:]}
    assert shuffled_rows == {tuple(r.tolist()) for r in real[:, 6:]}
    assert torch.equal(seen["q"][:8], fake)
    assert torch.equal(seen["q"][8:, :6], fake[:, :6])
    for sub in losses.values():
        assert torch.isfinite(sub.loss) and 0 <= sub.accuracy <= 1


def test_unknown_part_is_rejected():
    with pytest.raises(ValueError, match="unknown parts"):
        FactorisedDiscriminator(F2, {"left": MLPDiscriminator(6)})


def test_shared_and_per_disc_fake_batches_give_the_same_losses_and_gradients():
    """The reference's fresh batch per sub-discriminator and the shared batch
    are the same computation when the batches hold the same samples."""
    real, fake = torch.rand(8, 10), torch.rand(8, 10)
    results = []
    for shared in (True, False):
        d = _factor_disc(True).train()
        fakes = {n: fake if shared else fake.clone() for n in ("upper", "lower", Q_DEP)}
        reals = {n: real.clone() for n in ("upper", "lower", P_DEP)}
        losses = d.losses(reals, fakes, torch.Generator().manual_seed(0))
        torch.stack([s.loss for s in losses.values()]).sum().backward()
        results.append(({n: s.loss.detach() for n, s in losses.items()},
                        {n: p.grad.clone() for n, p in d.named_parameters()}))
    (loss_a, grad_a), (loss_b, grad_b) = results
    assert loss_a.keys() == loss_b.keys() and all(torch.equal(loss_a[n], loss_b[n]) for n in loss_a)
    assert all(torch.equal(grad_a[n], grad_b[n]) for n in grad_a)
