"""The docs cannot drift from the code: the --help files in docs/help/ are the
commands' current --help, and every command in README.md and docs/*.md that
runs our code parses with that command's own parser."""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import pytest

from analysis import help_docs
from tests.doc_commands import FENCE, ROOT, Command, Skipped, check, extract, snippets

REGENERATE = ".venv/bin/python -m analysis.help_docs"
# a snippet that runs our code, as a plain search sees it (the extractor must find at least these)
RUNS_OURS = re.compile(r"python\S* (-m (analysis|bench|examples|datasets)\.|\S*(PairedMNIST|ImagePairs|Image2Image"
                       r"|AudioSeparation)\.py|\S*examples/)")


def test_help_texts_are_current(tmp_path):
    help_docs.write(tmp_path)
    fresh = {p.name: p.read_text() for p in tmp_path.glob("*.txt")}
    stored = {p.name: p.read_text() for p in help_docs.HELP_DIR.glob("*.txt")}
    problems = [f"docs/help/{name} is missing" for name in sorted(set(fresh) - set(stored))]
    problems += [f"docs/help/{name} belongs to no command" for name in sorted(set(stored) - set(fresh))]
    for name in sorted(set(fresh) & set(stored)):
        if fresh[name] != stored[name]:
            diff = difflib.unified_diff(stored[name].splitlines(), fresh[name].splitlines(), f"docs/help/{name}",
                                        "now", lineterm="", n=1)
            problems.append(f"docs/help/{name} is stale:\n" + "\n".join(list(diff)[:30]))
    assert not problems, "\n".join(problems) + f"\nregenerate them with: {REGENERATE}"


def test_every_command_line_module_has_a_help_file():
    # a module run as `python -m ...` (or an example) that help_docs does not list would have no help file
    listed = {*help_docs.MODULES, *help_docs.EXAMPLES}
    mains = {str(p.relative_to(ROOT).with_suffix("")).replace("/", ".") if p.parent.name != "examples"
             else str(p.relative_to(ROOT))
             for folder in ("analysis", "bench", "datasets", "examples") for p in (ROOT / folder).glob("*.py")
             if '__name__ == "__main__"' in p.read_text()}
    unlisted, gone = sorted(mains - listed), sorted(listed - mains)
    assert not unlisted, f"{unlisted} run as commands: list them in MODULES or EXAMPLES of analysis/help_docs.py " \
                         f"(each with a build_parser() that its main uses), then run {REGENERATE}"
    assert not gone, f"analysis/help_docs.py lists {gone}, which are no commands (any more)"


def doc_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]


def check_all(commands: list[Command]) -> tuple[list[tuple[Command, str]], list[str]]:
    """([(command, its error)] of the commands that do not parse, where each skipped command is)."""
    failures, skipped = [], []
    for command in commands:
        try:
            error = check(command)
        except Skipped:
            skipped.append(command.where)
            continue
        if error:
            failures.append((command, error))
    return failures, skipped


def report(failures: list[tuple[Command, str]]) -> list[str]:
    return [f"{command.where}: {command.text}\n    {error}" for command, error in failures]


# Doc commands known not to parse, as (file, what they run): each is reported to the docs' author; the
# test fails when one of them parses or is gone, so that this list only shrinks.
KNOWN_FAILURES: set[tuple[str, str]] = set()


SYNTHETIC = """# Title

Train with `python PairedMNIST.py --factorGAN 1
--num_joint_samples N` and draw with `python -m analysis.fig1_paired_mnist --out_path RUNS`.

```bash
cd /somewhere && .venv/bin/python ImagePairs.py --factorGAN 1 --dataset edges2shoes|cityscapes \\
    --seed S [--big_disc 1] > log.txt   # a comment with `backticks`
python -m pytest -q tests
python Image2Image.py --factorGAN 1 --num_joint_smaples 25
```

| model | command |
|---|---|
| GAN | `python AudioSeparation.py --factorGAN 0 --musdb_path DIR` |
| later | `python PairedMNIST.py ... --eval` |
"""


def test_extractor_finds_commands_in_blocks_inline_code_and_tables():
    found = [(c.where, c.target, c.args) for c in extract(SYNTHETIC, "X.md")]
    assert found == [
        ("X.md:3", "PairedMNIST.py", ["--factorGAN", "1", "--num_joint_samples", "N"]),
        ("X.md:4", "analysis.fig1_paired_mnist", ["--out_path", "RUNS"]),
        ("X.md:7", "ImagePairs.py", ["--factorGAN", "1", "--dataset", "edges2shoes|cityscapes", "--seed", "S",
                                     "[--big_disc", "1]"]),
        ("X.md:10", "Image2Image.py", ["--factorGAN", "1", "--num_joint_smaples", "25"]),
        ("X.md:15", "AudioSeparation.py", ["--factorGAN", "0", "--musdb_path", "DIR"]),
        ("X.md:16", "PairedMNIST.py", ["...", "--eval"]),
    ]


def test_checker_reports_the_misspelt_flag_with_its_line():
    failures, skipped = check_all(extract(SYNTHETIC, "X.md"))
    assert skipped == ["X.md:16"]  # the ellipsis stands for flags: it cannot be checked
    failures = report(failures)
    assert len(failures) == 1, failures  # placeholders (N, RUNS, S, DIR), [...], a|b all parse
    assert failures[0].startswith("X.md:10: python Image2Image.py --factorGAN 1 --num_joint_smaples 25")
    assert "unrecognized arguments: --num_joint_smaples 25" in failures[0]


@pytest.mark.parametrize(("args", "error"), [
    (["--dataset", "edges2shoes|cityscape"], "invalid choice: 'cityscape'"),  # every alternative is checked
    (["--seed", "s"], "invalid int value: 's'"),  # only an upper-case word is a placeholder
    (["--factorGAN", "2"], "--factorGAN"),
    (["--num_joint_sample", "25"], "unrecognized arguments: --num_joint_sample"),  # no abbreviations
])
def test_checker_refuses_bad_values(args, error):
    assert error in check(Command("X.md:1", "", "ImagePairs.py", args))


def test_checker_follows_sweep_extra_to_the_entry_script():
    ok = Command("X.md:1", "", "analysis.sweep", ["fig1", "--extra", "--pairing", "reference"])
    bad = Command("X.md:1", "", "analysis.sweep", ["fig1", "--extra", "--pairings", "reference"])
    assert check(ok) is None
    assert "analysis.sweep --extra: PairedMNIST.py: unrecognized arguments: --pairings" in check(bad)


def test_unknown_module_is_reported():
    assert "no parser for analysis.nothing_here" in check(Command("X.md:1", "", "analysis.nothing_here", []))


def indented_commands(markdown: str) -> list[int]:
    """Line numbers of commands running our code in indented (not fenced) code
    blocks: the extractor reads fenced blocks and inline code only."""
    lines, fenced = [], False
    for number, line in enumerate(markdown.splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced and line.startswith("    ") and RUNS_OURS.match(line.strip()):
            lines.append(number)
    return lines


def test_an_indented_command_is_found_and_a_fenced_one_is_not():
    text = "Run:\n\n    python PairedMNIST.py --seed 1\n\n```bash\n    python -m analysis.sample --n 2\n```\n"
    assert indented_commands(text) == [3]


def test_no_doc_command_hides_in_an_indented_block():
    hidden = [f"{path.relative_to(ROOT)}:{n}" for path in doc_files() for n in indented_commands(path.read_text())]
    assert not hidden, f"commands in indented code blocks escape the parse test: fence them (```bash): {hidden}"


def test_readme_commands_parse():
    commands = [c for path in doc_files() if path.is_file()
                for c in extract(path.read_text(), str(path.relative_to(ROOT)))]
    # the extractor still finds the README's commands (a change of its markdown could hide them)
    readme = (ROOT / "README.md").read_text()
    written = sum(bool(RUNS_OURS.search(text)) for _, text in snippets(readme))
    assert sum(c.where.startswith("README.md:") for c in commands) >= written > 0
    failures, skipped = check_all(commands)
    known = [(c, e) for c, e in failures if (c.where.split(":")[0], c.target) in KNOWN_FAILURES]
    new = [(c, e) for c, e in failures if (c, e) not in known]
    assert not new, f"{len(new)} of {len(commands)} doc commands do not parse ({len(skipped)} skipped for an " \
                    "ellipsis):\n" + "\n".join(report(new))
    fixed = KNOWN_FAILURES - {(c.where.split(":")[0], c.target) for c, _ in known}
    assert not fixed, f"these doc commands parse now or are gone: remove them from KNOWN_FAILURES: {sorted(fixed)}"
