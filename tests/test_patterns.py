"""The patterns that OpenAPI publishes accept exactly what the server accepts, in Python and in ECMA-262."""

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from postboard.app import create_app
from postboard.orm import MAX_ID
from postboard.patterns import NO_NUL, NOT_BLANK_NO_NUL, WHITE_SPACE, decimal_at_most
from postboard.posts.cursors import CURSOR_PATTERN, PageCursor, parse_cursor
from postboard.posts.schemas import Title
from postboard.users.emails import normalize_email
from postboard.users.schemas import NormalizedEmail
from tests.helpers import make_settings

EVERY_CHARACTER = [chr(code) for code in range(0x110000) if not 0xD800 <= code <= 0xDFFF]
TITLE = TypeAdapter(Title)
EMAIL = TypeAdapter(NormalizedEmail)
LAST_CURSOR = "253402300799999999_2147483647"  # 9999-12-31T23:59:59.999999, the largest id
# Python's \d takes Arabic-Indic digits, and int() reads them; ECMA's \d does not.
ARABIC_INDIC_CURSOR = "\u0661_1"
# Characters on which Python's and ECMA's ideas of white space differ, and other edges.
EDGES = ["\x1c", "\x1f", "\x85", "\ufeff", "\u200b", "\x00", "\n", "\u3000", "\U0001f600", "a"]


def published_patterns() -> Iterator[str]:
    def walk(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            if isinstance(node.get("pattern"), str):
                yield node["pattern"]
            for value in node.values():
                yield from walk(value)
        elif isinstance(node, list):
            for value in node:
                yield from walk(value)

    yield from dict.fromkeys(walk(create_app(make_settings("sqlite+aiosqlite://")).openapi()))


def accepts(adapter: TypeAdapter[Any], value: str) -> bool:
    try:
        adapter.validate_python(value)
    except ValidationError:
        return False
    return True


def test_white_space_is_what_str_strip_removes() -> None:
    in_class = re.compile(f"[{WHITE_SPACE}]")
    assert list(filter(in_class.fullmatch, EVERY_CHARACTER)) == [c for c in EVERY_CHARACTER if c.isspace()]


@pytest.mark.parametrize("character", EDGES)
def test_title_of_one_character_is_accepted_as_the_pattern_says(character: str) -> None:
    for title in (character, f" {character} ", f"{character}x"):
        assert accepts(TITLE, title) == (re.search(NOT_BLANK_NO_NUL, title) is not None), repr(title)


@settings(max_examples=300, deadline=None)
@given(st.text(st.sampled_from([*EDGES, " ", "\t", "\u2028", "\xa0"]), min_size=1, max_size=12))
def test_title_is_accepted_exactly_when_the_pattern_matches(title: str) -> None:
    assert accepts(TITLE, title) == (re.search(NOT_BLANK_NO_NUL, title) is not None)


def test_blank_title_is_refused_with_its_own_message() -> None:
    with pytest.raises(ValidationError, match="must contain a character that is not white space"):
        TITLE.validate_python("\x1c\u3000\x85")


@settings(max_examples=300, deadline=None)
@given(st.emails())
def test_generated_emails_are_accepted_exactly_when_the_pattern_matches(email: str) -> None:
    # The pattern states what `format: email` leaves out; an address a generator makes for that format must
    # then be one the server registers.
    pattern = EMAIL.json_schema()["pattern"]
    assert accepts(EMAIL, email) == (re.search(pattern, email) is not None), email


@pytest.mark.parametrize("domain", ["example.test", "x.LOCALHOST", "a.b.Onion", "in-addr.arpa", "no.invalid"])
def test_special_use_domains_are_refused_by_server_and_pattern(domain: str) -> None:
    email = f"someone@{domain}"
    with pytest.raises(ValueError, match="special-use"):
        normalize_email(email)
    assert re.search(EMAIL.json_schema()["pattern"], email) is None


@settings(max_examples=500, deadline=None)
@given(st.integers(0, 10**20), st.integers(0, 10**21))
def test_decimal_at_most_matches_plain_numbers_up_to_the_limit(limit: int, number: int) -> None:
    pattern = re.compile(decimal_at_most(limit))
    assert (pattern.fullmatch(str(number)) is not None) == (number <= limit)
    assert pattern.fullmatch(f"0{number}") is None


@pytest.mark.parametrize(
    "text",
    [
        "0_0",
        "1_1",
        LAST_CURSOR,
        "253402300800000000_1",  # past the last microsecond that a datetime holds
        "1_2147483648",  # past the largest id
        "01_1",
        "1_01",
        ARABIC_INDIC_CURSOR,
        "1_1\n",
        "1-1",
        "",
    ],
)
def test_cursor_is_parsed_exactly_when_the_pattern_matches(text: str) -> None:
    try:
        parse_cursor(text)
        parsed = True
    except ValueError:
        parsed = False
    assert parsed == (re.fullmatch(CURSOR_PATTERN, text) is not None)


def test_the_cursors_the_server_writes_match_the_pattern() -> None:
    last = parse_cursor(LAST_CURSOR)
    assert str(last) == LAST_CURSOR
    assert re.fullmatch(CURSOR_PATTERN, str(PageCursor(last.created_at, MAX_ID))) is not None


def test_every_published_pattern_is_python_and_ecma_alike() -> None:
    """Each pattern in the document gives the same verdicts in Python's `re` and in ECMA-262 (node, with and
    without the `u` flag) on strings at the edges of what the patterns tell apart."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: no ECMA-262 engine to compare with")
    patterns = list(published_patterns())
    assert {NO_NUL, NOT_BLANK_NO_NUL, CURSOR_PATTERN} <= set(patterns)
    samples = [*EDGES, *(f"{c}x{c}" for c in EDGES), *[c for c in EVERY_CHARACTER[:0x3001] if c.isspace()]]
    samples += [
        "0_0",
        LAST_CURSOR,
        "253402300800000000_1",
        "01_1",
        ARABIC_INDIC_CURSOR,
        "a@b.test",
        "a@b.TEST",
        "a@test.com",
    ]
    script = """
const [patterns, samples] = JSON.parse(require("fs").readFileSync(0, "utf8"));
console.log(JSON.stringify(patterns.map(p => [new RegExp(p), new RegExp(p, "u")].map(
    re => samples.map(s => re.test(s))))));
"""
    command = [node, "-e", script]
    answer = subprocess.run(  # noqa: S603 (our own script)
        command, input=json.dumps([patterns, samples]), capture_output=True, text=True, check=True
    )
    ecma = json.loads(answer.stdout)
    for pattern, (plain, unicode) in zip(patterns, ecma, strict=True):
        python = [re.search(pattern, sample) is not None for sample in samples]
        assert plain == python, pattern
        assert unicode == python, pattern
