"""The README's walkthrough, run as written against a live `postboard serve`: its answers are the server's."""

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.live_server import serving

README = Path(__file__).parent.parent / "README.md"
# Each step's output ends with this line, so that the outputs can be told apart.
STEP_END = "--- end of step ---"


@dataclass(frozen=True)
class Step:
    commands: str
    shown_answer: str  # "" when the README shows none


def code_block(markdown: str, heading: str) -> str:
    """The first ```sh block after `heading`."""
    section = markdown[markdown.index(f"\n{heading}\n") :]
    match = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert match is not None, f"no sh block under {heading}"
    return match.group(1)


def _is_answer(line: str) -> bool:
    """`# {…}`, `# […]` or `# 204`, and the `#  …` lines that go on with an answer."""
    return re.match(r"# [\[{0-9]|#  ", line) is not None


def steps(block: str) -> list[Step]:
    """The commands up to each answer shown, each with that answer (its lines joined)."""
    found: list[Step] = []
    commands: list[str] = []
    answer: list[str] = []
    for line in [*block.splitlines(), ""]:
        if _is_answer(line):
            answer.append(line.removeprefix("#").strip())
        elif answer:
            found.append(Step("\n".join(commands), "".join(answer)))
            commands, answer = [line], []
        else:
            commands.append(line)
    found.append(Step("\n".join(commands), ""))
    return found


def matches(shown: str, served: str) -> bool:
    """`…` in the shown answer stands for anything; the rest must be what was served."""
    pattern = ".*?".join(re.escape(part) for part in shown.split("…"))
    return re.fullmatch(pattern, served) is not None


def run_walkthrough(block: str, port: int, cwd: Path) -> list[str]:
    """Each step's output, from one bash that runs them all in turn, as a reader's shell would."""
    script = "set -eu\n" + "".join(f"{step.commands}\necho '{STEP_END}'\n" for step in steps(block))
    script = script.replace("localhost:8000", f"127.0.0.1:{port}")
    result = subprocess.run(  # noqa: S603 (our own script)
        ["/bin/bash", "-c", script], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    return [output.strip() for output in result.stdout.split(f"{STEP_END}\n")[:-1]]


def test_the_parser_finds_every_answer_and_the_wildcard_is_all_it_allows() -> None:
    block = 'curl a \\\n  b\n# {"x":1,\n#  "y":"…"}\nX=$(c)\necho $X\n# 204\ncurl d\n'

    assert steps(block) == [
        Step("curl a \\\n  b", '{"x":1,"y":"…"}'),
        Step("X=$(c)\necho $X", "204"),
        Step("curl d\n", ""),
    ]
    assert matches('{"x":1,"y":"…"}', '{"x":1,"y":"2026-12-03"}')
    assert not matches('{"x":1,"y":"…"}', '{"x":2,"y":"2026-12-03"}')


def test_the_walkthrough_answers_as_the_readme_shows(tmp_path: Path) -> None:
    block = code_block(README.read_text(), "## Walkthrough with curl")
    shown = [step.shown_answer for step in steps(block)]
    assert len([answer for answer in shown if answer]) >= 8, "the walkthrough lost its answers"

    with serving(tmp_path, DATABASE_URL=f"sqlite:///{tmp_path / 'walk.db'}") as (client, _log):
        port = client.base_url.port
        assert port is not None
        served = run_walkthrough(block, port, tmp_path)

    assert len(served) == len(shown)
    for answer, output in zip(shown, served, strict=True):
        if answer:
            assert matches(answer, output), f"README shows {answer}\nserve answered {output}"
    assert list(tmp_path.glob("*.json")) == [], "the walkthrough keeps its tokens in shell variables"


@pytest.mark.parametrize("line", ["> login.json", 'open("login.json")'])
def test_the_walkthrough_writes_no_token_file(line: str) -> None:
    assert line not in code_block(README.read_text(), "## Walkthrough with curl")
