"""Device placement checks that need no GPU (used by tests/test_device_placement.py).

On the CPU every tensor is on the CPU, so a tensor made without the
training device's ``device=`` works there and breaks the first CUDA run
(``torch.rand(..., generator=cuda_rng)`` on the CPU, a CPU index into GPU
data, ...). Two checks find such code without a GPU:

* ``audit``: reads the training and evaluation sources (AST) and lists tensor
  factory calls without ``device=``, generators without ``device=``,
  ``.numpy()`` without ``.cpu()`` before it, ``torch.load`` without
  ``map_location=`` and hard-coded ``.cuda()``.
* ``PlacementRecorder``: a ``TorchFunctionMode`` that notes, while code runs,
  every factory call from those sources without a ``device=`` (and, asked
  for, every move of a tensor to the CPU, which a training step never needs).

Both accept the justified exceptions in ``ALLOWED``, by file, function and call.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

ROOT = Path(__file__).resolve().parents[1]
# the code that runs in training and evaluation: the layers and the four entry scripts
AUDITED_DIRS = ("training", "models", "eval", "datasets", "common", "factorgan")
ENTRY_SCRIPTS = ("PairedMNIST.py", "ImagePairs.py", "Image2Image.py", "AudioSeparation.py")

# torch functions that make a new tensor on the default device unless given device=
FACTORIES = frozenset({
    "zeros", "ones", "full", "empty", "empty_strided", "arange", "range", "linspace", "logspace", "eye",
    "rand", "randn", "randint", "randperm", "normal", "tensor", "as_tensor", "scalar_tensor",
    "tril_indices", "triu_indices", "hann_window", "hamming_window", "bartlett_window", "blackman_window",
    "kaiser_window",
})
# torch.normal(mean_tensor, std_tensor) and torch.as_tensor(tensor) follow their input's device: the
# audit, which cannot tell what the arguments are, leaves them out; at run time they are flagged when
# called without tensor arguments
FOLLOWS_INPUT = frozenset({"normal", "as_tensor"})

# (file, function, call) -> why it is right to make this on the CPU. "<module>": at import.
ALLOWED: dict[tuple[str, str, str], str] = {
    ("PairedMNIST.py", "PairedMNIST.scores", "torch.Generator"):
        "the test pairs are drawn on the CPU: the same pairs on every device",
    ("PairedMNIST.py", "pair_pools", "torch.Generator"):
        "the training pairs are drawn once on the CPU (then moved): the same split on every device",
    ("PairedMNIST.py", "PairedMNIST.build_grids", "torch.Generator"):
        "the 2x2 training grids are drawn once on the CPU (then moved): the same split on every device",
    ("PairedMNIST.py", "PairedMNIST.grid_references", "torch.Generator"):
        "the 2x2 test grids and the floor's grids are drawn on the CPU: the same grids on every device",
    ("ImagePairs.py", "ImagePairs.evaluate", "torch.Generator"):
        "the LS metric's validation split is drawn on the CPU: the same split on every device",
    ("ImagePairs.py", "ImagePairs.evaluate", "torch.randperm"):
        "the validation split's permutation, of the CPU images, from that CPU generator",
    ("AudioSeparation.py", "AudioSeparation.build", "torch.Generator"):
        "the paired songs are drawn on the CPU: the same songs on every device",
    ("AudioSeparation.py", "AudioSeparation.build", "torch.randperm"):
        "the paired songs' permutation, from that CPU generator, read with .tolist()",
    ("AudioSeparation.py", "snippets", "torch.tensor"):
        "the snippet starts; SnippetPool moves them to its data's device",
    ("training/own_images.py", "load_own_images", "torch.zeros"):
        "an empty set of parts seen alone, moved to the device with the loaded images",
    ("eval/cityscapes.py", "<module>", "torch.tensor"):
        "the class colour tables; every use moves them to the maps' device (.to(maps.device))",
    ("eval/mnist.py", "train_classifier", "torch.Generator"):
        "the evaluation classifiers train on the CPU (the released weights were trained there)",
    ("eval/mnist.py", "train_classifier", "torch.randperm"):
        "the classifier's batch order, from that CPU generator",
    ("eval/mnist.py", "weights_digest", ".numpy"):
        "t is a CPU copy (.detach().cpu().contiguous()) of the weights",
}


@dataclass(frozen=True)
class Finding:
    path: str  # relative to the repository root
    line: int
    scope: str  # function qualname as Python writes it ("Cls.method", "f.<locals>.g"), or "<module>"
    call: str  # "torch.zeros", "torch.Generator", ".numpy", "torch.load", ".cuda", ".cpu"
    problem: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line} in {self.scope}: {self.call} {self.problem}"

    @property
    def allowed(self) -> bool:
        return (self.path, self.scope, self.call) in ALLOWED


def audited_files(root: Path = ROOT) -> list[Path]:
    files = [p for d in AUDITED_DIRS for p in sorted((root / d).rglob("*.py"))]
    return files + [root / name for name in ENTRY_SCRIPTS]


def _dotted(node: ast.expr) -> str | None:
    """torch.zeros -> "torch.zeros"; anything but names and attributes -> None."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return None if inner is None else f"{inner}.{node.attr}"
    return None


def _has_keyword(call: ast.Call, name: str) -> bool:
    """name=... given (and not a literal None), or **kwargs that may hold it."""
    for kw in call.keywords:
        if kw.arg is None:
            return True
        if kw.arg == name:
            return not (isinstance(kw.value, ast.Constant) and kw.value.value is None)
    return False


def _is_cpu_call(node: ast.expr) -> bool:
    """x.cpu() (or x.cpu().detach() etc.: a .cpu() call anywhere in the receiver chain)."""
    while isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        if node.func.attr == "cpu":
            return True
        node = node.func.value
    return False


def _problem(call: ast.Call) -> tuple[str, str] | None:
    """(call, problem) for a call that may put a tensor on the wrong device, else None."""
    name = _dotted(call.func)
    if name is not None and name.startswith("torch.") and name.count(".") == 1:
        attr = name.removeprefix("torch.")
        if attr in FACTORIES - FOLLOWS_INPUT and not _has_keyword(call, "device"):
            return name, "makes a tensor without device= (it lands on the CPU whatever the run's device)"
        if attr == "Generator" and not _has_keyword(call, "device") and not call.args:
            return name, "makes a CPU generator without device= (CUDA draws refuse it)"
        if attr == "load" and not _has_keyword(call, "map_location") and len(call.args) < 2:
            return name, "loads without map_location= (a GPU-saved file fails on a machine without one)"
    if isinstance(call.func, ast.Attribute):
        if call.func.attr == "numpy" and not call.args and not _is_cpu_call(call.func.value):
            return ".numpy", "without .cpu() before it (GPU tensors have no numpy view)"
        if call.func.attr == "cuda":
            return ".cuda", "hard-codes the GPU; use the run's device"
    return None


def _is_module_state(call: ast.Call) -> bool:
    """nn.Parameter(...) or self.register_buffer(...): what is made inside moves with module.to(device)."""
    name = _dotted(call.func) or ""
    return name.split(".")[-1] in ("Parameter", "register_buffer")


class _Auditor(ast.NodeVisitor):
    """Collects the findings of one file, each with its enclosing function's qualname."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.scopes: list[tuple[str, bool]] = []  # (name, is a function)
        self.findings: list[Finding] = []
        self.module_state = 0  # > 0: inside the arguments of a parameter or buffer

    def _within(self, node: ast.AST, name: str, function: bool) -> None:
        self.scopes.append((name, function))
        self.generic_visit(node)
        self.scopes.pop()

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._within(node, node.name, False)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._within(node, node.name, True)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._within(node, node.name, True)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._within(node, "<lambda>", True)

    def qualname(self) -> str:
        """As Python's co_qualname: what is defined inside a function is "f.<locals>.g"."""
        parts = []
        for i, (name, function) in enumerate(self.scopes):
            parts.append(name)
            if function and i < len(self.scopes) - 1:
                parts.append("<locals>")
        return ".".join(parts) or "<module>"

    def visit_Call(self, node: ast.Call) -> None:
        found = _problem(node)
        if found is not None and not (self.module_state and found[0].removeprefix("torch.") in FACTORIES):
            self.findings.append(Finding(self.path, node.lineno, self.qualname(), *found))
        state = _is_module_state(node)
        self.module_state += state
        self.generic_visit(node)
        self.module_state -= state


def audit_source(source: str, path: str) -> list[Finding]:
    """Every finding in one file's source, allowed ones included."""
    auditor = _Auditor(path)
    auditor.visit(ast.parse(source))
    return auditor.findings


def audit(files: Iterable[Path] | None = None, root: Path = ROOT) -> list[Finding]:
    """The findings of the training and evaluation sources, allowed ones included."""
    found = []
    for file in audited_files(root) if files is None else files:
        found += audit_source(file.read_text(), file.relative_to(root).as_posix())
    return found


# -- the run-time check --------------------------------------------------------------------

_FACTORY_FUNCTIONS = {getattr(torch, name): name for name in FACTORIES}
_CPU_MOVES = {torch.Tensor.cpu: ".cpu", torch.Tensor.numpy: ".numpy"}
# comprehensions are code objects of their own in Python 3.11: "f.<locals>.<listcomp>" is f's code
_COMPREHENSIONS = (".<locals>.<listcomp>", ".<locals>.<dictcomp>", ".<locals>.<setcomp>", ".<locals>.<genexpr>")


def _audited_path(filename: str, root: Path) -> str | None:
    """The file's path relative to root when it is one of the audited sources, else None."""
    try:
        rel = Path(filename).resolve().relative_to(root)
    except ValueError:
        return None
    top = rel.parts[0] if rel.parts else ""
    return rel.as_posix() if top in AUDITED_DIRS or (len(rel.parts) == 1 and top in ENTRY_SCRIPTS) else None


def _moves_to_cpu(func: Any, args: tuple, kwargs: dict) -> bool:
    if func in _CPU_MOVES:
        return True
    if func is torch.Tensor.to:
        targets = [*args[1:], kwargs.get("device")]
        return any(isinstance(t, str | torch.device) and torch.device(t).type == "cpu" for t in targets)
    return False


def _in_module_init(frame: Any) -> bool:
    return frame.f_code.co_name == "__init__" and isinstance(frame.f_locals.get("self"), torch.nn.Module)


class PlacementRecorder(TorchFunctionMode):
    """While active, notes each tensor factory call made directly by the audited
    sources without device= (and with cpu_moves, each .cpu(), .numpy() or
    .to("cpu") there) as a Finding in ``findings``; allowed ones and those in a
    module's __init__ (its parameters and buffers) are left out. The calls
    themselves run unchanged.

    sources: which files count (default: the audited sources; tests pass their own).
    """

    def __init__(self, cpu_moves: bool = False, root: Path = ROOT, sources: Iterable[Path] | None = None) -> None:
        super().__init__()
        self.cpu_moves, self.root = cpu_moves, root
        self.extra = {p.resolve().as_posix() for p in sources} if sources is not None else set()
        self.findings: list[Finding] = []

    def _path_of(self, filename: str) -> str | None:
        if self.extra:
            resolved = Path(filename).resolve()
            return resolved.relative_to(self.root).as_posix() if resolved.as_posix() in self.extra else None
        return _audited_path(filename, self.root)

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        name = _FACTORY_FUNCTIONS.get(func)
        if name is not None and kwargs.get("device") is None:
            if not (name in FOLLOWS_INPUT and any(isinstance(a, torch.Tensor) for a in args)):
                self._note(f"torch.{name}", "made a tensor without device=")
        elif self.cpu_moves and _moves_to_cpu(func, args, kwargs):
            self._note(_CPU_MOVES.get(func, ".to"), "moved a tensor to the CPU")
        return func(*args, **kwargs)

    def _note(self, call: str, problem: str) -> None:
        frame = sys._getframe(2)  # the direct caller of the torch function (1 is __torch_function__)
        path = self._path_of(frame.f_code.co_filename)
        if path is None:
            return  # torch's own code, a test, or a library
        if call.startswith("torch.") and _in_module_init(frame):
            return  # a module's parameters and buffers: they move with module.to(device)
        scope = frame.f_code.co_qualname
        for suffix in _COMPREHENSIONS:
            scope = scope.removesuffix(suffix)
        finding = Finding(path, frame.f_lineno, scope, call, problem)
        if not finding.allowed:
            self.findings.append(finding)


def report(findings: Iterable[Finding]) -> str:
    return "\n".join(sorted({str(f) for f in findings}))

