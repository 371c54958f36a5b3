"""The "LS" metric of the ImagePairs experiment (paper Sec. 4.2; Im et al., 2018).

A fresh least-squares GAN discriminator learns to tell real "test-train"
samples from fresh generator samples; its least-squares loss on held-out
"test-test" samples vs fresh generator samples is the score. A higher loss
means the discriminator cannot separate them: higher is better.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from common.tensors import as_float


def lsgan_loss(disc: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
    """mean((D(real) - 1)^2) + mean(D(fake)^2); real and fake in one forward."""
    out = disc(torch.cat([real, fake]))
    return (out[: real.shape[0]] - 1).pow(2).mean() + out[real.shape[0]:].pow(2).mean()


def ls_distance(make_disc: Callable[[], nn.Module], train_real: Tensor, test_real: Tensor,
                sample_fake: Callable[[int], Tensor], generator: torch.Generator,
                epochs: int = 40, batch_size: int = 25, lr: float = 1e-4) -> float:
    """Train a fresh LSGAN discriminator, then return its test loss.

    train_real: (N, ...) and test_real: (M, ...) real samples (uint8 or float),
    sample_fake(n) -> (n, ...) fresh generator samples. Training uses full
    batches of a new shuffle every epoch; the test loss is averaged over test
    batches weighted by their size.
    """
    disc = make_disc()
    opt = torch.optim.Adam(disc.parameters(), lr=lr)
    n = train_real.shape[0]
    batch_size = min(batch_size, n)
    disc.train()
    for _ in range(epochs):
        perm = torch.randperm(n, generator=generator, device=generator.device)
        for i in range(0, n - batch_size + 1, batch_size):
            real = as_float(train_real[perm[i:i + batch_size]])
            loss = lsgan_loss(disc, real, sample_fake(batch_size))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    disc.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for i in range(0, test_real.shape[0], batch_size):
            real = as_float(test_real[i:i + batch_size])
            total += lsgan_loss(disc, real, sample_fake(real.shape[0])).item() * real.shape[0]
            count += real.shape[0]
    return total / count
