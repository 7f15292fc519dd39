"""Other spellings of an id that int() or pydantic would read as the same number, as a path segment."""

from collections.abc import Callable
from urllib.parse import quote

import httpx

# U+FF10 to U+FF19, which int() reads as 0 to 9.
FULLWIDTH_DIGITS = str.maketrans("0123456789", "".join(chr(0xFF10 + digit) for digit in range(10)))
PLAIN_DIGITS_ONLY = (
    "Input should be an id in plain digits 0-9, without sign, spaces, separators or leading zeros"
)


def _underscored(digits: str) -> str:
    """`1_0` for 10; `0_2` for 2, which int() also reads."""
    return f"{digits[0]}_{digits[1:]}" if len(digits) > 1 else f"0_{digits}"


# Percent-encoded as a client sends them; the server decodes the path before routing.
LOOSE_SPELLINGS: dict[str, Callable[[str], str]] = {
    "underscore": _underscored,
    "decimal point": lambda digits: f"{digits}.0",
    "plus sign": lambda digits: f"+{digits}",
    "leading newline": lambda digits: f"%0A{digits}",
    "trailing newline": lambda digits: f"{digits}%0A",
    "leading space": lambda digits: f"%20{digits}",
    "tab": lambda digits: f"{digits}%09",
    "leading zero": lambda digits: f"0{digits}",
    "fullwidth digits": lambda digits: quote(digits.translate(FULLWIDTH_DIGITS)),
}


def assert_refused_as_loose_id(response: httpx.Response) -> None:
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["path", "id"]
    assert error["msg"] == PLAIN_DIGITS_ONLY
