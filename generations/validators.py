"""Pure validation helpers for user input (no database, no I/O)."""

from __future__ import annotations

import hashlib
import re
import unicodedata

from django.core.exceptions import ValidationError

from . import seedance

# Tabs and newlines are fine in a prompt; every other control character is not
# (they are invisible, break logs and CSV exports, and fal may reject them).
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_WHITESPACE_RUN = re.compile(r"\s+")


def validate_prompt_text(text: str) -> None:
    if not text or not text.strip():
        raise ValidationError("The prompt is empty: write what should happen in the video.", code="blank")
    if len(text) > seedance.PROMPT_MAX_LENGTH:
        raise ValidationError(
            f"The prompt is {len(text)} characters long; the maximum is {seedance.PROMPT_MAX_LENGTH}.",
            code="max_length",
        )
    match = _CONTROL_CHARS.search(text)
    if match:
        raise ValidationError(
            f"The prompt contains a control character (U+{ord(match.group()):04X}) at position "
            f"{match.start() + 1}; remove it.",
            code="control_character",
        )


def normalize_prompt_text(text: str) -> str:
    """The form two prompts share when they are "the same text": NFC, trimmed, whitespace folded."""
    return _WHITESPACE_RUN.sub(" ", unicodedata.normalize("NFC", text)).strip()


def prompt_fingerprint(text: str) -> str:
    return hashlib.sha256(normalize_prompt_text(text).encode("utf-8")).hexdigest()


def normalize_seed(seed: int | str | None) -> int | None:
    """Return the seed to store: None means random (-1, empty or None)."""
    if seed is None or (isinstance(seed, str) and not seed.strip()):
        return None
    try:
        value = int(seed)
    except (TypeError, ValueError):
        raise ValidationError(f"The seed must be a whole number, not {seed!r}.", code="invalid") from None
    if value == seedance.RANDOM_SEED:
        return None
    if not 0 <= value <= seedance.MAX_SEED:
        raise ValidationError(
            f"The seed must be between 0 and {seedance.MAX_SEED} (or -1 for random), not {value}.",
            code="out_of_range",
        )
    return value
