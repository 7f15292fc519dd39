"""Regular expressions that the OpenAPI document publishes for what the server checks in code.

Each is written in the common ground of ECMA-262 (what JSON Schema and generated clients use) and Python's
`re`, which the server matches with: no `\\s`, `\\d` or `\\w` (their meaning differs between the two),
only explicit `\\uXXXX` classes and anchors.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

# Exactly the characters that Python's str.isspace() and str.strip() take for white space. ECMA's `\s` is
# another set (it lacks U+001C..U+001F and U+0085, and has U+FEFF), so it is spelled out.
WHITE_SPACE = r"\u0009-\u000d\u001c-\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# PostgreSQL cannot store NUL in text.
NO_NUL = r"^[^\u0000]*$"
# At least one character that is neither white space nor NUL, and no NUL anywhere.
NOT_BLANK_NO_NUL = rf"^[^\u0000]*[^\u0000{WHITE_SPACE}][^\u0000]*$"


def decimal_at_most(limit: int) -> str:
    """An unanchored pattern for the integers 0..limit in plain ASCII digits, without leading zeros."""
    digits = str(limit)
    alternatives = ["0"]
    if len(digits) > 1:
        alternatives.append(f"[1-9][0-9]{{0,{len(digits) - 2}}}")
    # Numbers with as many digits as `limit`: equal to it up to some position, then a smaller digit there.
    for position, digit in enumerate(digits):
        lowest = 1 if position == 0 else 0
        if int(digit) > lowest:
            rest = len(digits) - position - 1
            smaller = f"[{lowest}-{int(digit) - 1}]"
            alternatives.append(digits[:position] + smaller + (f"[0-9]{{{rest}}}" if rest else ""))
    if limit > 0:
        alternatives.append(digits)
    return "(?:" + "|".join(alternatives) + ")"


@dataclass(frozen=True)
class Published:
    """Annotation that publishes `pattern` in the JSON schema of a string the server checks in code.

    Only published: pydantic's own `pattern` would match with Rust's regex engine and answer its own message
    instead of the validators' clearer ones. The validators must accept exactly what `pattern` matches;
    tests/test_patterns.py holds them to it.
    """

    pattern: str

    def __post_init__(self) -> None:
        re.compile(self.pattern)

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema: dict[str, Any] = handler(core_schema)
        schema["pattern"] = self.pattern
        return schema


def _any_case(word: str) -> str:
    # ECMA has no inline flag for ignoring case.
    return "".join(
        f"[{letter.lower()}{letter.upper()}]" if letter.isalpha() else re.escape(letter) for letter in word
    )


def not_under_domains(domains: Iterable[str]) -> str:
    """An email address whose domain is none of `domains` (in any letter case), nor a subdomain of one.

    `[\\s\\S]` is any character in both languages (their `.` differ on line separators)."""
    names = "|".join(_any_case(domain) for domain in domains)
    return rf"^(?![\s\S]*[.@](?:{names})$)"
