"""Write the ``--help`` of every command a user runs into docs/help/, one text
file per command: the four entry scripts (``PairedMNIST.txt``, ...), the
command-line modules (``analysis.fig1_paired_mnist.txt``, ...) and the
examples (``examples.two_part.txt``). tests/test_docs.py fails when a file
is stale; rewrite them all with

    python -m analysis.help_docs

The texts are made in one child process with a fixed terminal width
(COLUMNS), so that they do not depend on the terminal that runs this: each
entry script and example runs there as ``python SCRIPT --help`` would (runpy,
its stdout captured), each module prints its ``build_parser()`` help. So this
module imports none of the commands it documents, and torch is imported once.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HELP_DIR = ROOT / "docs" / "help"
COLUMNS = 100  # argparse wraps its help to the terminal width: fixed, so the files are the same everywhere
ENTRY_SCRIPTS = ("PairedMNIST.py", "ImagePairs.py", "Image2Image.py", "AudioSeparation.py")
# run as `python -m NAME`; each has a build_parser() that its main() uses
MODULES = (
    "analysis.campaign", "analysis.classifier_spread", "analysis.collapse", "analysis.collect", "analysis.fig1_paired_mnist",
    "analysis.fig2_image_pairs", "analysis.fig4_image2image", "analysis.fig6_audio_separation",
    "analysis.fig_grid", "analysis.fig_i2i_curves", "analysis.fig_mnist_curves", "analysis.help_docs", "analysis.release", "analysis.sample", "analysis.sweep",
    "bench.audio_speed", "bench.ensemble_speed", "bench.gpu_check", "bench.image_speed", "bench.paired_mnist_speed",
    "datasets.download",
)
EXAMPLES = ("examples/two_part.py",)  # run as `python examples/NAME.py`, with a build_parser() too

# The child that prints every help as one JSON object, name -> text; argv: the
# names (a file: run as a script; else a module). prog is what a user types.
_PRINT_HELPS = """
import contextlib, importlib, io, json, os, runpy, sys
helps = {}
for name in sys.argv[1:]:
    text = io.StringIO()
    if name.endswith('.py'):
        sys.argv = [os.path.basename(name), '--help']
        with contextlib.redirect_stdout(text):
            try:
                runpy.run_path(name, run_name='__main__')
            except SystemExit as end:
                if end.code:
                    raise
    else:
        parser = importlib.import_module(name).build_parser()
        parser.prog = 'python -m ' + name
        text.write(parser.format_help())
    helps[name] = text.getvalue()
print(json.dumps(helps))
"""


def file_name(command: str) -> str:
    """The help file of a command: PairedMNIST.py -> PairedMNIST.txt,
    analysis.collect -> analysis.collect.txt, examples/two_part.py -> examples.two_part.txt."""
    stem = command.removesuffix(".py").replace("/", ".")
    return f"{stem}.txt"


def _child_env() -> dict[str, str]:
    env = {**os.environ, "COLUMNS": str(COLUMNS), "NO_COLOR": "1"}
    env.pop("LINES", None)
    return env


def help_texts() -> dict[str, str]:
    """File name -> the --help text, of every command."""
    names = [*ENTRY_SCRIPTS, *MODULES, *EXAMPLES]
    out = subprocess.run([sys.executable, "-c", _PRINT_HELPS, *names], cwd=ROOT, env=_child_env(), text=True,
                         capture_output=True, timeout=300, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"printing the helps failed (exit {out.returncode}):\n{out.stderr}")
    return {file_name(name): text for name, text in json.loads(out.stdout).items()}


def write(folder: Path) -> list[Path]:
    """Write every help text into folder; help files of commands that no longer
    exist are removed. Returns the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    texts = help_texts()
    for old in folder.glob("*.txt"):
        if old.name not in texts:
            old.unlink()
    paths = []
    for name, text in sorted(texts.items()):
        paths.append(folder / name)
        paths[-1].write_text(text)
    return paths


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--to", default=None, help="folder to write the help files into (default: docs/help/ "
                                              "of this repository)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    paths = write(Path(args.to) if args.to else HELP_DIR)
    print(f"wrote {len(paths)} help files to {paths[0].parent}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
