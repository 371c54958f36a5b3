"""Our output-scaled spectral norm computes what torch's parametrization computes."""

import pytest
import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from models.spectral import SpectralNorm, maybe_spectral_norm


def _pair(layer: nn.Module) -> tuple[nn.Module, SpectralNorm]:
    """torch's parametrization and ours on copies of layer, with the same u and v."""
    theirs = spectral_norm(layer)
    ours = SpectralNorm(_clone(layer))
    sn = theirs.parametrizations.weight[0]
    with torch.no_grad():
        ours.layer.weight.copy_(theirs.parametrizations.weight.original)
        ours.u.copy_(sn._u)
        ours.v.copy_(sn._v)
    return theirs, ours


def _clone(layer: nn.Module) -> nn.Module:
    copy = type(layer)(*_shape_args(layer))
    copy.load_state_dict({k: v for k, v in layer.state_dict().items() if "parametrizations" not in k}, strict=False)
    return copy


def _shape_args(layer: nn.Module) -> tuple:
    if isinstance(layer, nn.Linear):
        return layer.in_features, layer.out_features
    return layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride, layer.padding


@pytest.mark.parametrize("make, shape", [(lambda: nn.Linear(30, 7), (5, 30)),
                                         (lambda: nn.Conv2d(3, 4, 4, 2, 1), (2, 3, 8, 8))])
def test_matches_torch_spectral_norm_in_training_and_eval(make, shape):
    torch.manual_seed(0)
    theirs, ours = _pair(make())
    x = torch.randn(shape)
    for training in (True, True, False):
        theirs.train(training)
        ours.train(training)
        y_theirs, y_ours = theirs(x), ours(x)
        torch.testing.assert_close(y_ours, y_theirs, rtol=1e-5, atol=1e-6)
        sn = theirs.parametrizations.weight[0]
        torch.testing.assert_close(ours.u, sn._u)
        torch.testing.assert_close(ours.v, sn._v)
    theirs.train()
    ours.train()
    (theirs(x) ** 2).sum().backward()
    (ours(x) ** 2).sum().backward()
    torch.testing.assert_close(ours.layer.weight.grad, theirs.parametrizations.weight.original.grad,
                               rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(ours.layer.bias.grad, theirs.bias.grad, rtol=1e-4, atol=1e-6)


def test_eval_mode_keeps_u_and_v_and_sigma_approaches_the_top_singular_value():
    torch.manual_seed(1)
    layer = SpectralNorm(nn.Linear(20, 10))
    for _ in range(200):
        layer(torch.randn(3, 20))  # training mode: one power step per call
    top = torch.linalg.matrix_norm(layer.layer.weight.detach(), ord=2)
    assert abs(layer.sigma().item() - top.item()) < 1e-4 * top.item()
    layer.eval()
    u = layer.u.clone()
    layer(torch.randn(3, 20))
    assert torch.equal(u, layer.u)


def test_a_layer_used_twice_before_backward_works():
    # CoGAN shares discriminator layers: two training-mode calls, then one backward
    layer = SpectralNorm(nn.Linear(6, 4))
    x = torch.randn(2, 6)
    (layer(x).sum() + layer(x).sum()).backward()
    assert layer.layer.weight.grad is not None


def test_unknown_impl_and_layer_are_refused():
    with pytest.raises(ValueError, match="scaled"):
        maybe_spectral_norm(nn.Linear(2, 2), True, impl="fast")
    with pytest.raises(TypeError, match="Linear and Conv2d"):
        SpectralNorm(nn.ConvTranspose2d(2, 2, 3))
    assert isinstance(maybe_spectral_norm(nn.Linear(2, 2), False), nn.Linear)
