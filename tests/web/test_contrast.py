"""The stylesheet's colours meet WCAG 2 AA contrast (4.5:1 for text) in every pairing the pages use."""

import re
from pathlib import Path

import pytest

import postboard.web

STYLESHEET = Path(postboard.web.__file__).parent / "static" / "web.css"
AA_TEXT_CONTRAST = 4.5
# (text, background) as the stylesheet pairs them: body text, muted hints and meta lines, links and link
# buttons, error text, on the page and on the tinted header and notices; button labels on their fills.
PAIRINGS = [
    ("--ink", "--paper"),
    ("--ink", "--tint"),
    ("--muted", "--paper"),
    ("--muted", "--tint"),
    ("--accent", "--paper"),
    ("--accent", "--tint"),
    ("--danger", "--paper"),
    ("--paper", "--accent"),
    ("--paper", "--danger"),
]


def _colours() -> dict[str, str]:
    return dict(re.findall(r"(--[a-z]+):\s*(#[0-9a-fA-F]{3,6});", STYLESHEET.read_text()))


def _relative_luminance(colour: str) -> float:
    digits = colour.lstrip("#")
    if len(digits) == 3:
        digits = "".join(digit * 2 for digit in digits)
    channels = [int(digits[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(first: str, second: str) -> float:
    lighter, darker = sorted((_relative_luminance(first), _relative_luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def test_the_contrast_formula() -> None:
    assert contrast("#000", "#fff") == pytest.approx(21)
    assert contrast("#777", "#fff") == pytest.approx(4.48, abs=0.01)  # the classic grey just under AA


@pytest.mark.parametrize(("text", "background"), PAIRINGS)
def test_each_pairing_meets_aa(text: str, background: str) -> None:
    colours = _colours()
    assert contrast(colours[text], colours[background]) >= AA_TEXT_CONTRAST
