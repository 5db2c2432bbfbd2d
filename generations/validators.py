"""Pure validation helpers for user input (no database, no I/O).

Each rule lives here once; GenerationParams.from_raw, the admin's generate form and the
`generate` command all call these, so a bad value gets the same message everywhere.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Sequence

from django.core.exceptions import ValidationError

from . import seedance

# Tabs and newlines are fine in a prompt; every other C0/C1 control character is not
# (they are invisible, break logs and CSV exports, and fal may reject them). A carriage
# return is allowed only as part of a CRLF line break (what browsers send for a textarea).
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]|\r(?!\n)")
# Lone surrogates are not text: they come from undecodable bytes (e.g. a command-line
# argument that is not UTF-8) and no database or JSON encoder can store them.
_SURROGATES = re.compile(r"[\ud800-\udfff]")
_WHITESPACE_RUN = re.compile(r"\s+")
# ASCII digits only: int() would also take "1_000", " ４２ " or Arabic-Indic digits.
_INTEGER = re.compile(r"[+-]?[0-9]+")
_MAX_DIGITS = 20  # more is no seed or duration of ours

TRUE_VALUES = frozenset({"true", "on", "1", "yes"})
FALSE_VALUES = frozenset({"false", "off", "0", "no", ""})


def validate_prompt_text(text: str) -> None:
    # Control characters first: "\x0b" alone is a control character, not an empty prompt.
    match = _CONTROL_CHARS.search(text or "")
    if match:
        raise ValidationError(
            f"The prompt contains a control character (U+{ord(match.group()):04X}) at position "
            f"{match.start() + 1}; remove it.",
            code="control_character",
        )
    match = _SURROGATES.search(text or "")
    if match:
        raise ValidationError(
            f"The prompt contains an invalid character (U+{ord(match.group()):04X}, not valid UTF-8) at position "
            f"{match.start() + 1}; remove it.",
            code="invalid_character",
        )
    if not text or not text.strip():
        raise ValidationError("The prompt is empty: write what should happen in the video.", code="blank")
    if len(text) > seedance.PROMPT_MAX_LENGTH:
        raise ValidationError(
            f"The prompt is {len(text)} characters long; the maximum is {seedance.PROMPT_MAX_LENGTH}.",
            code="max_length",
        )


def normalize_prompt_text(text: str) -> str:
    """The form two prompts share when they are "the same text": NFC, trimmed, whitespace folded."""
    return _WHITESPACE_RUN.sub(" ", unicodedata.normalize("NFC", text)).strip()


def prompt_fingerprint(text: str) -> str:
    return hashlib.sha256(normalize_prompt_text(text).encode("utf-8")).hexdigest()


def clean_label(text: str) -> str:
    """A file name or title fit to store and show: no control characters, no lone surrogates, trimmed.

    Labels are informational (never a storage path), so they are repaired rather than refused.
    """
    text = _CONTROL_CHARS.sub("", text.replace("\r\n", " ").replace("\n", " ").replace("\t", " "))
    return _SURROGATES.sub("\ufffd", text).strip()


def normalize_seed(seed: int | str | None) -> int | None:
    """Return the seed to store: None means random (-1, empty or None)."""
    if seed is None or (isinstance(seed, str) and not seed.strip()):
        return None
    if not _is_integer(seed):
        raise ValidationError(f"The seed must be a whole number, not {_shown(seed)}.", code="invalid")
    value = _to_int(seed)
    if value == seedance.RANDOM_SEED:
        return None
    if value is None or not 0 <= value <= seedance.MAX_SEED:
        raise ValidationError(
            f"The seed must be between 0 and {seedance.MAX_SEED} (or -1 for random), not {_shown(seed, value)}.",
            code="out_of_range",
        )
    return value


def _is_integer(value) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, str) and _INTEGER.fullmatch(value.strip()) is not None)


def _to_int(value: int | str) -> int | None:
    """The integer of a value _is_integer accepted; None when it has too many digits to be one of ours."""
    if isinstance(value, str) and len(value.strip()) > _MAX_DIGITS:
        return None  # also keeps int() off Python's limit on very long digit strings
    return int(value)


def _shown(value, number: int | None = None) -> str:
    """How a bad value is quoted back: a number as a number, a long input shortened."""
    if number is not None:
        return str(number)
    text = value if isinstance(value, str) else repr(value)
    if len(text) > _MAX_DIGITS:
        return repr(text[:_MAX_DIGITS] + "…") + f" ({len(text)} characters)"
    return repr(value)


def parse_choice(value, choices: Sequence[str], *, noun: str) -> str:
    """One of `choices` exactly (the model's enums are case-sensitive strings)."""
    listed = ", ".join(choices)
    if value is None or value == "":
        raise ValidationError(f"No {noun} was given; choose one of {listed}.", code="required")
    if not isinstance(value, str) or value not in choices:
        article = "an" if noun[0] in "aeiou" else "a"
        raise ValidationError(
            f"{_shown(value)} is not {article} {noun}; choose one of {listed}.", code="invalid_choice"
        )
    return value


def parse_aspect_ratio(value) -> str:
    return parse_choice(value, seedance.AspectRatio.values, noun="aspect ratio")


def parse_resolution(value) -> str:
    return parse_choice(value, seedance.Resolution.values, noun="resolution")


def parse_duration(value) -> int:
    """Seconds of video, a whole number from MIN_DURATION to MAX_DURATION (fal's "2".."12")."""
    if not _is_integer(value):
        raise ValidationError(f"The duration must be a whole number of seconds, not {_shown(value)}.", code="invalid")
    duration = _to_int(value)
    if duration is None or not seedance.MIN_DURATION <= duration <= seedance.MAX_DURATION:
        raise ValidationError(
            f"The duration must be {seedance.MIN_DURATION} to {seedance.MAX_DURATION} seconds, "
            f"not {_shown(value, duration)}.",
            code="out_of_range",
        )
    return duration


def parse_bool(value, *, what: str) -> bool:
    """A yes/no input: a bool, 0/1, or a checkbox's or a script's spelling of one ("on", "true", "0", …).

    Anything else is refused rather than read as "true" (Python's bool("no thanks") is True).
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_VALUES:
            return True
        if word in FALSE_VALUES:
            return False
    raise ValidationError(f"{what} must be on or off (true or false), not {_shown(value)}.", code="invalid_bool")


# --- Row ids in URLs ---------------------------------------------------------------
# The tables' ids are BigAutoFields: 1 to 2^63 - 1, at most 19 digits. A longer number
# would overflow the database's integer (SQLite raises OverflowError, PostgreSQL an error).
MAX_ID = 2**63 - 1
MAX_ID_DIGITS = len(str(MAX_ID))


def parse_id(value, *, what: str = "id") -> int:
    """The row id written in `value` (ASCII digits only, 1 to MAX_ID); raises ValidationError
    saying what is wrong with it. The length is checked before anything is converted."""
    text = value if isinstance(value, str) else str(value)
    if not text or len(text) > MAX_ID_DIGITS or not (text.isascii() and text.isdigit()):
        detail = "too long to be one" if text.isascii() and text.isdigit() else "not a whole number"
        raise ValidationError(
            f"{_shown(text)} is not {what}: {detail} (ids are whole numbers from 1 to {MAX_ID}).", code="invalid_id"
        )
    number = int(text)
    if not 1 <= number <= MAX_ID:
        raise ValidationError(
            f"{_shown(text)} is not {what}: out of range (ids are whole numbers from 1 to {MAX_ID}).",
            code="invalid_id",
        )
    return number


def is_id(value) -> bool:
    """Whether parse_id takes `value`: for redisplaying a form whose field reports the rest."""
    try:
        parse_id(value)
    except ValidationError:
        return False
    return True
