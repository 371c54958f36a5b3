"""The import rules between the packages, checked on the source with ``ast``.

Entry scripts -> training/ -> models/, datasets/, eval/ -> common/. The lower
packages never import the CLI layer (training/) or the scripts; models/ and
eval/ import no data set code; common/ imports nothing of this repository.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# package -> the packages of this repository it may import (itself included)
ALLOWED = {
    "common": {"common"},
    "models": {"common", "models"},
    "eval": {"common", "models", "eval"},
    "datasets": {"common", "datasets"},
}


def first_party() -> set[str]:
    """Top-level module names of this repository: folders of Python files and the entry scripts."""
    folders = {p.name for p in ROOT.iterdir() if p.is_dir() and any(p.glob("*.py"))}
    return folders | {p.stem for p in ROOT.glob("*.py")}


def imported_modules(source: str) -> list[tuple[int, str]]:
    """(line, top-level module) of every absolute import, lazy ones inside functions included."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module.split(".")[0]))
    return found


def violations(package: str, path: Path, source: str) -> list[str]:
    ours = first_party()
    return [f"{path.relative_to(ROOT)}:{line} imports {module}"
            for line, module in imported_modules(source) if module in ours and module not in ALLOWED[package]]


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_lower_layers(package: str) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"no Python files under {package}/"
    found = [v for path in files for v in violations(package, path, path.read_text())]
    assert not found, "layering broken:\n" + "\n".join(found)


def test_checker_sees_lazy_and_aliased_imports() -> None:
    source = "import torch\nimport training.options as o\ndef f():\n    from datasets.mnist_pairs import load_mnist\n"
    found = violations("eval", ROOT / "eval" / "x.py", source)
    assert found == ["eval/x.py:2 imports training", "eval/x.py:4 imports datasets"]
    assert violations("common", ROOT / "common" / "x.py", "from eval.fid import fid_from_features\n")
    assert not violations("models", ROOT / "models" / "x.py", "from common.io import save_atomic\nimport numpy\n")
