"""The README and docs/ stay true: every job command they give parses, and every link they make resolves.

Running the commands as written (they train, ingest and decloud) is ``tests/walk_docs.py``'s job.
"""

import importlib
import re

import pytest

from equicr.commands import COMMANDS
from tests.fixtures.doc_commands import (
    PAGES,
    Block,
    documented_job_calls,
    job_call,
    parse_problem,
    shell_lines,
    simple_commands,
)
from tests.fixtures.paths import REPO_ROOT

CALLS = documented_job_calls()
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_the_pages_give_commands_for_every_job():
    documented = {target for _, target, _ in CALLS}
    missing = {module for module, _ in COMMANDS.values()} - documented
    assert not missing, f"no page shows a command of {sorted(missing)}"


@pytest.mark.parametrize(("where", "target", "argv"), CALLS, ids=[f"{w} {t.split('.')[-1]}" for w, t, _ in CALLS])
def test_every_documented_command_parses_with_its_jobs_own_parser(where, target, argv):
    assert parse_problem(target, argv) is None, f"{where}: {target} {' '.join(argv)}: {parse_problem(target, argv)}"


def test_every_example_in_a_commands_help_parses():
    checked = 0
    for name, (module, _) in COMMANDS.items():
        examples = [line for line in (importlib.import_module(module).__doc__ or "").splitlines() if line[:4] == "    "]
        help_text = Block(module, 1, "bash", "\n".join(examples))  # the indented example lines
        for line in shell_lines(help_text):
            for words in simple_commands(line):
                call = job_call(words)
                if call is not None:
                    assert parse_problem(*call) is None, f"equicr {name} --help example: {line}: {parse_problem(*call)}"
                    checked += 1
    assert checked >= len(COMMANDS)


def test_a_broken_command_is_caught():  # the check above can fail
    broken = parse_problem("equicr.commands.decloud", ["--collection", "data/scenes.zarr", "--no-such-option"])
    assert "unrecognized arguments: --no-such-option" in broken
    assert "required" in parse_problem("docs/run_onnx_standalone.py", ["model.onnx"])


@pytest.mark.parametrize("page", PAGES)
def test_every_relative_link_resolves(page):
    path = REPO_ROOT / page
    for target in LINK.findall(path.read_text()):
        if "://" not in target:
            assert (path.parent / target).exists(), f"{page} links to {target}, which does not exist"
