"""The commands of markdown docs that run this repository's code, and whether
their flags parse with that command's own parser (no training, no data read).

A command is found in a fenced code block (one shell line, ``\\`` continuations
joined, ``&&``/``;``/``|`` separating commands) or in inline code (which may
wrap over lines of a paragraph). It runs one of the four entry scripts
(``python PairedMNIST.py ...``, any path to the interpreter or the script), an
example (``python examples/two_part.py``) or a module ``python -m
analysis.X|bench.X|examples.X|datasets.X``.

The docs' shorthand is read as a reader would: ``[--flag V]`` is an optional
part (checked as if given), ``a|b`` a choice of values (each is checked), an
upper-case word or ``<...>`` a placeholder (replaced by a value its option
accepts, where it is not one itself: ``--seed S`` checks as ``--seed 1337``),
and a ``...`` word leaves the command out (it is counted as skipped).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENTRY_SCRIPTS = ("PairedMNIST.py", "ImagePairs.py", "Image2Image.py", "AudioSeparation.py")
MODULE = re.compile(r"(analysis|bench|examples|datasets)\.\w+")
EXAMPLE = re.compile(r"(?:.*/)?(examples/\w+\.py)")
PYTHON = re.compile(r"(?:.*/)?python(\d+(\.\d+)*)?")
PLACEHOLDER = re.compile(r"[A-Z][A-Z0-9_]*|<[^<>]+>")
SEPARATORS = {"&&", "||", ";", "|", "&"}
REDIRECT = re.compile(r"\d*>>?|&>|<|\d*>&\d")  # a redirection word whose target (if any) follows
ELLIPSIS = {"...", "\u2026"}
FENCE = re.compile(r"\s*(```|~~~)")
INLINE = re.compile(r"(`+)(.+?)(?<!`)\1(?!`)", re.DOTALL)


@dataclass
class Command:
    where: str  # "README.md:13"
    text: str  # the snippet that holds it, on one line
    target: str  # "PairedMNIST.py", "analysis.sweep" or "examples/two_part.py"
    args: list[str]


class Skipped(Exception):
    """A command that cannot be checked as written (an ellipsis for its flags)."""


def snippets(markdown: str) -> list[tuple[int, str]]:
    """(line number, text) of every shell line of the fenced code blocks and of
    every inline code span outside them; a span that wraps is joined by spaces."""
    found: list[tuple[int, str]] = []
    prose, fenced, pending = [], False, None  # pending: (first line, text) of a line continued with \\
    for number, line in enumerate(markdown.splitlines(), 1):
        prose.append("" if fenced or FENCE.match(line) else line)
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            continue
        start, text = (pending[0], f"{pending[1]} {line.strip()}") if pending else (number, line.strip())
        pending = (start, text[:-1].rstrip()) if text.endswith("\\") else None
        if pending is None:
            found.append((start, text.removeprefix("$ ")))
    start = 1
    for paragraph in re.split(r"\n[ \t]*\n", "\n".join(prose)):
        for match in INLINE.finditer(paragraph):
            found.append((start + paragraph.count("\n", 0, match.start()), " ".join(match.group(2).split())))
        start += paragraph.count("\n") + 2
    return sorted(found)


def split_commands(words: list[str]) -> list[list[str]]:
    """Shell words -> simple commands: split at && || ; | &, redirections left
    out; a | inside [...] is a choice of flags, not a pipe."""
    commands, depth, skip_target = [[]], 0, False
    for word in words:
        if skip_target:
            skip_target = False
        elif word in SEPARATORS and not (word == "|" and depth > 0):
            commands.append([])
        elif REDIRECT.fullmatch(word):
            skip_target = not word.endswith(("&1", "&2"))
        elif not re.match(r"\d*>|&>", word):  # >file, 2>log: a redirection with its target attached
            if word.startswith("[-") or depth:
                depth += word.count("[") - word.count("]")
            commands[-1].append(word)
    return [c for c in commands if c]


def target_of(words: list[str]) -> tuple[str, list[str]] | None:
    """(what a simple command runs, its arguments), or None when it runs none of ours."""
    at = next((i for i, w in enumerate(words) if PYTHON.fullmatch(w)), None)
    if at is None:
        return None
    rest = words[at + 1:]
    while rest and rest[0].startswith("-") and rest[0] not in ("-m", "-c"):
        rest = rest[1:]  # interpreter options such as -u
    if len(rest) >= 2 and rest[0] == "-m" and MODULE.fullmatch(rest[1]):
        return rest[1], rest[2:]
    if rest and Path(rest[0]).name in ENTRY_SCRIPTS and "/examples/" not in f"/{rest[0]}":
        return Path(rest[0]).name, rest[1:]
    if rest and (match := EXAMPLE.fullmatch(rest[0])):
        return match.group(1), rest[1:]
    return None


def extract(markdown: str, source: str) -> list[Command]:
    """Every command of the markdown text that runs our code; source names the
    file in Command.where. A snippet the shell cannot split (an unmatched
    quote) that names our code becomes a command with target "?"."""
    commands = []
    for line, text in snippets(markdown):
        if "python" not in text:
            continue
        try:
            words = shlex.split(text, comments=True)
        except ValueError as err:
            if any(name in text for name in ENTRY_SCRIPTS) or MODULE.search(text) or EXAMPLE.search(text):
                commands.append(Command(f"{source}:{line}", text, "?", [str(err)]))
            continue
        for simple in split_commands(words):
            if (found := target_of(simple)) is not None:
                commands.append(Command(f"{source}:{line}", text, *found))
    return commands


def parser_for(target: str) -> argparse.ArgumentParser:
    """The command's own parser: an entry script's as training.runner builds it,
    a module's or example's build_parser()."""
    if target in ENTRY_SCRIPTS:
        from training.options import build_parser

        stem = target.removesuffix(".py")
        experiment = getattr(importlib.import_module(stem), stem)()
        parser = build_parser(experiment.description, experiment.add_options)
    elif target.endswith(".py"):
        spec = importlib.util.spec_from_file_location(target[:-3].replace("/", "."), ROOT / target)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        parser = module.build_parser()
    else:
        parser = importlib.import_module(target).build_parser()
    parser.prog = target
    parser.allow_abbrev = False  # the docs write flags in full: a shortened one would break when a flag is added
    return parser


def unbracket(args: list[str]) -> list[str]:
    """[--flag V] -> --flag V; [--a 1 | --b 2] -> --a 1 --b 2 (each flag is checked)."""
    out, depth = [], 0
    for word in args:
        if word.startswith("[-") or (depth and word.startswith("[")):
            depth, word = depth + 1, word[1:]
        if depth and word.endswith("]"):
            depth, word = max(0, depth - (len(word) - len(word.rstrip("]")))), word.rstrip("]")
        if word and word != "|":
            out.append(word)
    return out


def accepts(action: argparse.Action, word: str) -> bool:
    try:
        value = action.type(word) if callable(action.type) else word
    except (TypeError, ValueError, argparse.ArgumentTypeError):
        return False
    return action.choices is None or value in action.choices


def sample(action: argparse.Action) -> str:
    """A value the option accepts: its first choice, its default, or 1."""
    if action.choices:
        return str(next(iter(action.choices)))
    default = action.default[0] if isinstance(action.default, list | tuple) and action.default else action.default
    if default not in (None, False, True) and accepts(action, str(default)):
        return str(default)
    return "1"


def values_taken(action: argparse.Action) -> int | None:
    """How many words follow an option as its values (None: all up to the next flag)."""
    if action.nargs is None or action.nargs == "?":
        return 1
    return action.nargs if isinstance(action.nargs, int) else None


def fill_placeholders(parser: argparse.ArgumentParser, args: list[str]) -> list[str]:
    """Replace each placeholder value (FILE, N, <name>) that its option would
    refuse by one it accepts; a real value (JSD, MUSDB18) stays."""
    out, positionals = list(args), [a for a in parser._actions if not a.option_strings]
    action, left = None, 0  # the option whose values follow, and how many it may still take (None: any)
    for i, word in enumerate(args):
        if word.startswith("-") and len(word) > 1:
            action = parser._option_string_actions.get(word.split("=", 1)[0])
            if action is not None and action.nargs == argparse.REMAINDER:
                break  # the rest belongs to another parser (analysis.sweep --extra)
            left = 0 if action is None or "=" in word else values_taken(action)
            continue
        if left == 0:
            action, left = (positionals.pop(0), 1) if positionals else (None, 0)
        if action is not None and PLACEHOLDER.fullmatch(word) and not accepts(action, word):
            out[i] = sample(action)
        left = None if left is None else max(0, left - 1)
    return out


def variants(args: list[str]) -> list[list[str]]:
    """a|b|c values -> one argument list per alternative (others at their first)."""
    choice = [i for i, w in enumerate(args) if "|" in w and w != "|" and not w.startswith("-")]
    first = [w.split("|")[0] if i in choice else w for i, w in enumerate(args)]
    out = [first]
    for i in choice:
        out += [first[:i] + [alt] + first[i + 1:] for alt in args[i].split("|")[1:]]
    return out


class ParseError(Exception):
    pass


def _raise(message: str) -> None:
    raise ParseError(message)


def check(command: Command) -> str | None:
    """None when the command's flags parse with its parser, else the error.
    Raises Skipped for a command whose flags hold an ellipsis."""
    if command.target == "?":
        return f"cannot be split into shell words: {command.args[0]}"
    if any(w in ELLIPSIS for w in command.args):
        raise Skipped(command.where)
    if {"-h", "--help"} & set(command.args):
        return None
    try:
        parser = parser_for(command.target)
    except (ImportError, AttributeError, FileNotFoundError) as err:
        return f"no parser for {command.target}: {type(err).__name__}: {err}"
    parser.error = _raise
    for args in variants(unbracket(command.args)):
        try:
            opts = parser.parse_args(fill_placeholders(parser, args))
        except ParseError as err:
            return f"{command.target}: {err} (checked: {shlex.join(args)})"
        extra = getattr(opts, "extra", None) if command.target == "analysis.sweep" else None
        if extra:  # the flags that analysis.sweep passes to every run of the figure's entry script
            from analysis.sweep import FIGURES

            script = FIGURES[opts.figure]["script"]
            error = check(Command(command.where, command.text, script, list(extra)))
            if error:
                return f"analysis.sweep --extra: {error}"
    return None
