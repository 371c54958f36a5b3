"""Stacked (batched) copies of E independent networks of the same shape.

``stack_modules([net_1, ..., net_E])`` returns one module that runs all E
networks at once: its inputs and outputs gain a leading member axis, e.g. an
MLP discriminator's x: (B, in) -> (B,) becomes x: (E, B, in) -> (E, B), and
every weight (out, in) becomes (E, out, in), multiplied with ``torch.bmm``.
Member e's output depends only on member e's input and weights, so the sum of
the members' losses gives each member exactly its own gradients.

The stacked module's parameters and buffers have the same names as each
member's, with the member axis in front: ``load_members`` and
``store_members`` copy between the two, so that checkpoints keep the
single-network format. Supported layers: Linear, SpectralNorm(Linear) (our
output-scaling implementation, with one power iteration per member) and
elementwise activations; anything else is refused with a TypeError.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.mlp import MLPDiscriminator, MLPGenerator
from models.spectral import SpectralNorm

ELEMENTWISE = (nn.ReLU, nn.LeakyReLU, nn.Sigmoid, nn.Tanh, nn.Identity)


class _BatchedLinear(torch.autograd.Function):
    """y = (x W^T) * scale + b per member, with the weight gradient computed
    directly in W's (E, out, in) layout (autograd's would be transposed and
    need a copy), and, for spectral norm, the gradient through sigma folded
    into the same batched product.

    x: (E, B, in), W: (E, out, in), b: (E, out) or None; scale: (E,) 1/sigma
    or None; u: (E, out), v: (E, in) the power-iteration vectors (constants)
    when scale is 1/sigma with sigma = u . (W v), else None.
    """

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None, scale: Tensor | None,
                u: Tensor | None, v: Tensor | None) -> Tensor:
        y = torch.bmm(x, weight.transpose(1, 2))
        if scale is not None:
            y = y * scale[:, None, None]
        ctx.save_for_backward(x, weight, y if scale is not None else None, scale, u, v)
        ctx.has_bias = bias is not None
        return y if bias is None else y + bias.unsqueeze(1)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, ...]:
        x, weight, y, scale, u, v = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        g = grad if scale is None else grad * scale[:, None, None]  # dL/d(x W^T)
        grad_x = torch.bmm(g, weight) if need_x else None
        grad_w = None
        if need_w and scale is None:
            grad_w = torch.bmm(g.transpose(1, 2), x)
        elif need_w:
            # sigma = u . (W v): dL/dsigma = -sum(grad * y) / sigma, dsigma/dW = u v^T (Miyato et al.'s gradient,
            # as autograd computes it through torch's vdot); one product: [g^T | dsigma u] @ [x ; v^T]
            d_sigma = -(grad * y).sum((1, 2)) * scale  # (E,)
            left = torch.cat([g.transpose(1, 2), (d_sigma[:, None] * u).unsqueeze(2)], dim=2)
            grad_w = torch.bmm(left, torch.cat([x, v.unsqueeze(1)], dim=1))
        grad_b = grad.sum(1) if need_b and ctx.has_bias else None
        return grad_x, grad_w, grad_b, None, None, None


def _matvec(w: Tensor, v: Tensor) -> Tensor:
    """w (E, out, in), v (E, in) -> (E, out): W_e v_e. One torch.mv per member on
    wide layers (1.7x faster than bmm with a single column here), bmm on narrow ones."""
    if w.shape[2] < 512:
        return torch.bmm(w, v.unsqueeze(2)).squeeze(2)
    return torch.stack([torch.mv(w[e], v[e]) for e in range(w.shape[0])])


class StackedLinear(nn.Module):
    """E Linear layers: x (E, B, in) -> (E, B, out); weight (E, out, in), bias (E, out)."""

    def __init__(self, members: int, in_features: int, out_features: int, bias: bool, like: Tensor) -> None:
        super().__init__()
        kw = {"device": like.device, "dtype": like.dtype}
        self.weight = nn.Parameter(torch.empty(members, out_features, in_features, **kw))
        self.bias = nn.Parameter(torch.empty(members, out_features, **kw)) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        return _BatchedLinear.apply(x, self.weight, self.bias, None, None, None)


class StackedSpectralLinear(nn.Module):
    """E spectrally normalised Linear layers (models.spectral.SpectralNorm each):
    x (E, B, in) -> (x W_e^T) / sigma_e + b_e, sigma_e = u_e . (W_e v_e).

    u: (E, out), v: (E, in); one power-iteration step per member and
    training-mode forward, none in eval mode, as SpectralNorm.
    """

    def __init__(self, members: int, in_features: int, out_features: int, bias: bool, eps: float,
                 like: Tensor) -> None:
        super().__init__()
        self.layer = StackedLinear(members, in_features, out_features, bias, like)
        self.eps = eps
        self.register_buffer("u", torch.empty(members, out_features, device=like.device, dtype=like.dtype))
        self.register_buffer("v", torch.empty(members, in_features, device=like.device, dtype=like.dtype))

    @torch.no_grad()
    def sigma(self) -> Tensor:
        """(E,) the members' spectral-norm estimates u . (W v) (after one
        power-iteration step in training mode); the forward's gradient treats
        u and v as constants, as SpectralNorm's autograd does."""
        w = self.layer.weight  # (E, out, in)
        if not self.training:
            return (self.u * _matvec(w, self.v)).sum(1)
        self.u.copy_(F.normalize(_matvec(w, self.v), dim=1, eps=self.eps))
        wu = torch.bmm(self.u.unsqueeze(1), w).squeeze(1)  # (E, in): W^T u
        norm = wu.norm(dim=1)
        self.v.copy_(wu / norm.clamp_min(self.eps)[:, None])
        # u . (W v) with v = W^T u / |W^T u| is |W^T u|: no third product with W
        return norm * norm / norm.clamp_min(self.eps)

    def forward(self, x: Tensor) -> Tensor:
        layer = self.layer
        scale = 1.0 / self.sigma()
        return _BatchedLinear.apply(x, layer.weight, layer.bias, scale, self.u.clone(), self.v.clone())


class StackedMLP(nn.Module):
    """E MLPGenerators or MLPDiscriminators: ``net`` holds the stacked layers.

    x: (E, B, in) -> (E, B, out), or (E, B) when squeeze (a discriminator's logit).
    """

    def __init__(self, net: nn.Sequential, squeeze: bool) -> None:
        super().__init__()
        self.net, self.squeeze = net, squeeze

    def forward(self, x: Tensor) -> Tensor:
        out = self.net(x)
        return out.squeeze(-1) if self.squeeze else out


def _same_type(members: Sequence[nn.Module]) -> type:
    kinds = {type(m) for m in members}
    if len(kinds) != 1:
        raise TypeError(f"cannot stack modules of different types {sorted(k.__name__ for k in kinds)}")
    return kinds.pop()


def _stack_structure(members: Sequence[nn.Module]) -> nn.Module:
    """An uninitialised stacked module shaped like members[0] (values: load_members)."""
    kind, first, count = _same_type(members), members[0], len(members)
    if kind in (MLPGenerator, MLPDiscriminator):
        squeeze = kind is MLPDiscriminator and first.outputs is None
        return StackedMLP(_stack_structure([m.net for m in members]), squeeze)
    if kind is nn.Sequential:
        if len({len(m) for m in members}) != 1:
            raise TypeError("cannot stack Sequentials of different lengths")
        return nn.Sequential(*(_stack_structure([m[i] for m in members]) for i in range(len(first))))
    if kind is nn.Linear:
        return StackedLinear(count, first.in_features, first.out_features, first.bias is not None, first.weight)
    if kind is SpectralNorm and isinstance(first.layer, nn.Linear):
        layer = first.layer
        return StackedSpectralLinear(count, layer.in_features, layer.out_features, layer.bias is not None, first.eps,
                                     layer.weight)
    if kind in ELEMENTWISE and not list(first.parameters()):
        if len({repr(m) for m in members}) != 1:
            raise TypeError(f"cannot stack differently configured {kind.__name__} layers")
        return copy.deepcopy(first)
    raise TypeError(f"ensembles cannot stack {kind.__name__} layers (supported: MLPGenerator, MLPDiscriminator, "
                    "Linear, SpectralNorm(Linear) and elementwise activations)")


def stack_modules(members: Sequence[nn.Module]) -> nn.Module:
    """One module running every member at once (see the module docstring),
    on the members' device and in their dtype, holding copies of their weights."""
    if not members:
        raise ValueError("nothing to stack")
    stacked = _stack_structure(members)
    load_members(stacked, members)
    stacked.train(members[0].training)
    return stacked


@torch.no_grad()
def load_members(stacked: nn.Module, members: Sequence[nn.Module]) -> None:
    """Copy the members' parameters and buffers into the stacked module (member e -> index e)."""
    states = [m.state_dict() for m in members]
    target = stacked.state_dict()
    if any(set(s) != set(target) for s in states):
        raise ValueError("the members' state dicts do not match the stacked module's names")
    for name, tensor in target.items():
        tensor.copy_(torch.stack([s[name] for s in states]))


@torch.no_grad()
def store_members(stacked: nn.Module, members: Sequence[nn.Module]) -> None:
    """Copy the stacked module's parameters and buffers back into each member."""
    for name, tensor in stacked.state_dict().items():
        for e, member in enumerate(members):
            _member_tensor(member, name).copy_(tensor[e])


def _member_tensor(module: nn.Module, name: str) -> Tensor:
    owner, _, leaf = name.rpartition(".")
    sub = module.get_submodule(owner) if owner else module
    return getattr(sub, leaf)
