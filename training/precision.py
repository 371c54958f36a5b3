"""Mixed precision and torch.compile for the training loop (``--amp``, ``--compile``).

* ``none``: float32 everywhere (the default; the loop runs exactly as without this module).
* ``bf16``: forwards under ``torch.autocast`` with bfloat16 (CPU, and CUDA GPUs of the
  Ampere generation or newer); same exponent range as float32, so no loss scaling is needed.
* ``fp16``: forwards under autocast with float16 (CUDA only) and one
  ``torch.amp.GradScaler`` per optimiser; the scalers' state goes into the
  checkpoint so that a resumed run continues exactly.

Losses are computed in float32: the discriminators cast their logits to float
before the loss (training/discriminator.py). Evaluation never autocasts.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor, nn

from common.errors import UserError

AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
AMP_MODES = ("none", *AMP_DTYPES)


class Precision:
    """How the loop runs its forwards and backward passes.

    mode: "none", "bf16" or "fp16"; device: where the models train.
    """

    def __init__(self, mode: str = "none", device: torch.device | str = "cpu") -> None:
        if mode not in AMP_MODES:
            raise ValueError(f"unknown precision {mode!r}; expected one of {AMP_MODES}")
        device = torch.device(device)
        if mode == "fp16" and device.type != "cuda":
            raise UserError("--amp fp16 needs a CUDA GPU (add --cuda); on the CPU use --amp bf16")
        if mode == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
            # what torch.autocast would raise at the first forward, said before training starts
            raise UserError("--amp bf16: this GPU has no bfloat16 (it needs Ampere or newer); use --amp fp16")
        self.mode, self.device_type = mode, device.type
        # one scaler per optimiser: each keeps its own scale and skips its own inf/NaN steps
        self.scalers = {name: torch.amp.GradScaler(device.type) for name in ("opt_g", "opt_d")} if mode == "fp16" else {}

    def autocast(self) -> contextlib.AbstractContextManager:
        """The context for forward passes (a no-op for "none")."""
        if self.mode == "none":
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=AMP_DTYPES[self.mode])

    def backward_step(self, loss: Tensor, optimizer: torch.optim.Optimizer, name: str) -> None:
        """loss.backward() and optimizer.step(); with fp16 through the scaler called `name`."""
        scaler = self.scalers.get(name)
        if scaler is None:
            loss.backward()
            optimizer.step()
            return
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    def state_dict(self) -> dict[str, Any]:
        """The scalers' state (empty unless fp16)."""
        return {name: scaler.state_dict() for name, scaler in self.scalers.items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name, scaler in self.scalers.items():
            if state.get(name):  # a checkpoint of a run without fp16 has none: start fresh
                scaler.load_state_dict(state[name])


def compile_in_place(generator: nn.Module, discriminators: dict[str, nn.Module]) -> list[nn.Module]:
    """torch.compile the generator and each sub-discriminator in place; returns them."""
    check_compiler(next(generator.parameters()).device)
    modules = list(dict.fromkeys([generator, *discriminators.values()]))  # a shared module is compiled once
    for module in modules:
        module.compile()
    return modules


def check_compiler(device: torch.device) -> None:
    """torch.compile's CPU backend builds C++ kernels: fail early, in one line, without a compiler."""
    compilers = [c for c in (os.environ.get("CXX"), "g++", "c++", "clang++") if c]
    if device.type == "cpu" and not any(shutil.which(c) for c in compilers):
        raise UserError("--compile on the CPU needs a C++ compiler (g++ or clang++, or set CXX); "
                        "install one or drop --compile")


@contextlib.contextmanager
def compiled(generator: nn.Module, discriminators: dict[str, nn.Module], enabled: bool) -> Iterator[None]:
    """Inside: the generator and every sub-discriminator run through torch.compile.

    Modules are compiled in place (``nn.Module.compile``), so parameter names
    and checkpoints are unchanged; on exit they run eagerly again, so that
    evaluation uses the plain float32 models.
    """
    if not enabled:
        yield
        return
    modules = compile_in_place(generator, discriminators)
    try:
        yield
    finally:
        for module in modules:
            module._compiled_call_impl = None  # what nn.Module.compile set: back to the eager forward
