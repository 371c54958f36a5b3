"""A dependency discriminator on a batch and its shuffled copy, with the
first layer computed once per row instead of twice.

D_P and D_Q judge x against shuffle(x): every part after the first permuted
across the batch (Factorisation.shuffle). Their first layer is linear, so for
a joint sample split into parts x = (x_1, .., x_K) with weight blocks W_k,

    x W^T = sum_k x_k W_k^T,    shuffle(x) W^T = sum_k (x_k W_k^T)[perm_k]

(perm_1 the identity): the products of the shuffled rows are rows of the
products of x, and the weight gradient of both halves is one product per
part, G~_k^T x_k with G~_k = G_x + G_shuffled scattered back by perm_k. This
halves the first layer's arithmetic and its input copies; only the float
summation order differs from the single run (the sum over k).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from models.stacked import StackedLinear, StackedMLP, StackedSpectralLinear
from training.factorisation import Factorisation


class _PairedFirstLayer(torch.autograd.Function):
    """y = cat([x, shuffle(x)], 1) W^T * scale + b for stacked x (E, B, D).

    blocks: the parts' column slices (the first part kept in place); perms:
    one (E, B) permutation per further part; scale (E,) 1/sigma or None, with
    u (E, out), v (E, D) the power-iteration vectors for sigma's gradient.
    """

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None, scale: Tensor | None, u: Tensor | None,
                v: Tensor | None, blocks: Sequence[slice], perms: Sequence[Tensor]) -> Tensor:
        rows = torch.arange(x.shape[0], device=x.device).unsqueeze(1)
        products = [torch.bmm(x[:, :, s], weight[:, :, s].transpose(1, 2)) for s in blocks]  # (E, B, out) each
        plain = products[0]
        shuffled = products[0]
        for product, perm in zip(products[1:], perms, strict=True):
            plain = plain + product
            shuffled = shuffled + product[rows, perm]
        y = torch.cat([plain, shuffled], dim=1)
        if scale is not None:
            y = y * scale[:, None, None]
        ctx.save_for_backward(x, weight, y if scale is not None else None, scale, u, v, *perms)
        ctx.blocks, ctx.has_bias = list(blocks), bias is not None
        return y if bias is None else y + bias.unsqueeze(1)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, ...]:
        x, weight, y, scale, u, v, *perms = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        batch = x.shape[1]
        g = grad if scale is None else grad * scale[:, None, None]
        g_plain, g_shuffled = g[:, :batch], g[:, batch:]
        merged = [g_plain + g_shuffled]  # the first part is not permuted
        for perm in perms:  # row perm[i] of x_k fed shuffled row i
            index = perm.unsqueeze(2).expand_as(g_shuffled)
            merged.append(g_plain.scatter_add(1, index, g_shuffled))
        grad_x = grad_w = None
        if need_x:
            grad_x = torch.cat([torch.bmm(m, weight[:, :, s]) for m, s in zip(merged, ctx.blocks, strict=True)], 2)
        if need_w:
            grad_w = torch.empty_like(weight)
            if scale is not None:  # sigma's gradient u v^T, folded into each block's product (models/stacked.py)
                d_sigma_u = (-(grad * y).sum((1, 2)) * scale)[:, None, None] * u.unsqueeze(2)  # (E, out, 1)
            for m, s in zip(merged, ctx.blocks, strict=True):
                left, right = m.transpose(1, 2), x[:, :, s]
                if scale is not None:
                    left, right = torch.cat([left, d_sigma_u], 2), torch.cat([right, v[:, None, s]], 1)
                torch.bmm(left, right, out=grad_w[:, :, s])  # straight into its column block
        grad_b = grad.sum(1) if need_b and ctx.has_bias else None
        return grad_x, grad_w, grad_b, None, None, None, None, None


def pairs_shortcut(disc: nn.Module, f: Factorisation) -> bool:
    """Whether paired_logits applies: a stacked MLP whose first layer is (spectral) linear on flat samples."""
    return (isinstance(disc, StackedMLP) and f.dim == 1 and disc.squeeze
            and isinstance(disc.net[0], StackedLinear | StackedSpectralLinear))


def draw_perms(f: Factorisation, batch: int, generators: Sequence[torch.Generator],
               device: torch.device) -> list[Tensor]:
    """The shuffle's permutations, drawn as Factorisation.shuffle draws them
    (per member: one per part after the first, in part order): (E, B) per part."""
    drawn = [[torch.randperm(batch, generator=g, device=device) for _ in f.names[1:]] for g in generators]
    return [torch.stack([d[i] for d in drawn]) for i in range(len(f.names) - 1)]


def paired_logits(disc: StackedMLP, f: Factorisation, x: Tensor, perms: Sequence[Tensor]) -> Tensor:
    """disc(cat([x, shuffle(x)], 1)) for stacked x (E, B, D): (E, 2B) logits, x's rows first."""
    first = disc.net[0]
    blocks = [f.slices[name] for name in f.names]
    if isinstance(first, StackedSpectralLinear):
        layer = first.layer
        scale = 1.0 / first.sigma()
        h = _PairedFirstLayer.apply(x, layer.weight, layer.bias, scale, first.u.clone(), first.v.clone(), blocks, perms)
    else:
        h = _PairedFirstLayer.apply(x, first.weight, first.bias, None, None, None, blocks, perms)
    return disc.net[1:](h).squeeze(-1)
