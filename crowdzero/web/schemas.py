"""The JSON bodies the web API accepts, validated by pydantic before any handler runs.

Every body forbids unknown keys and bounds every string, so a malformed or oversized
request is refused with 422 and a reason before it reaches the game logic.

Nicknames are shown to other people (history list, ratings, SGF files), so they are
normalised (NFC, surrounding spaces dropped) and limited to 1..32 characters that are
letters, digits, marks, punctuation, symbols or plain spaces: no control characters, no
invisible formatting characters (bidi overrides, zero-width joiners) that could disguise
one name as another. Characters such as ``<`` are allowed and shown literally: the page
only ever puts names into the document as text, never as HTML.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

NICKNAME_MAX = 32
#: Unicode general categories a nickname may use (L*, M*, N*, P*, S* and the space).
_ALLOWED_CATEGORIES = ("L", "M", "N", "P", "S")
#: Letters and symbols that draw nothing (Hangul fillers, the blank Braille pattern): a
#: name made of them looks empty, and mixed into a name they disguise it as another.
_BLANK_LOOKING = frozenset("\u115f\u1160\u3164\uffa0\u2800")

#: Game ids and tokens are server-made `secrets.token_urlsafe` strings.
UrlSafeId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class NicknameError(ValueError):
    """A nickname that cannot be used; the message says why."""


def is_unicode_text(text: str) -> bool:
    """Whether `text` encodes as UTF-8 (no lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def clean_nickname(raw: str) -> str:
    """The nickname as stored (``human:<nickname>``), or NicknameError saying what is wrong."""
    name = unicodedata.normalize("NFC", raw).strip()
    if not name:
        raise NicknameError("the nickname is empty")
    if len(name) > NICKNAME_MAX:
        raise NicknameError(f"the nickname is longer than {NICKNAME_MAX} characters")
    for char in name:
        if char == " ":
            continue
        if char in _BLANK_LOOKING:
            raise NicknameError(
                f"the nickname contains {unicodedata.name(char)} (U+{ord(char):04X}), which "
                "looks blank; use letters, digits, punctuation, symbols and spaces"
            )
        if not unicodedata.category(char).startswith(_ALLOWED_CATEGORIES):
            raise NicknameError(
                f"the nickname contains {unicodedata.name(char, repr(char))!s} (U+{ord(char):04X}); "
                "use letters, digits, punctuation, symbols and spaces"
            )
    if "  " in name:
        raise NicknameError("the nickname has two spaces in a row")
    return name


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=256)

    @field_validator("*", mode="before")
    @classmethod
    def _unicode_text(cls, value: object) -> object:
        """JSON may carry lone surrogates ("\\ud800"), which are not text: refuse them
        before they reach a name, a move, a log line or an error message."""
        if isinstance(value, str) and not is_unicode_text(value):
            raise ValueError("the text holds a lone surrogate (\\ud800-\\udfff), not Unicode")
        return value


class NewGameBody(_Body):
    """POST /api/games: who plays, on which board, with which colour."""

    nickname: str = Field(max_length=4 * NICKNAME_MAX)
    size: int = Field(ge=5, le=19, strict=True)  # a JSON integer: not 5.0, "5" or true
    colour: Literal["black", "white", "random"] = "black"

    @field_validator("nickname")
    @classmethod
    def _nickname(cls, value: str) -> str:
        return clean_nickname(value)


class MoveBody(_Body):
    """POST /api/games/{id}/move: the game's secret token and a GTP move ("D4" or "pass")."""

    token: UrlSafeId
    move: str = Field(min_length=1, max_length=8)


class AdviceBody(_Body):
    """POST /api/games/{id}/advice: the game's secret token and a suggestion for the agent's
    next move, in GTP form ("D4" or "pass"); "" withdraws the suggestion."""

    token: UrlSafeId
    advice: str = Field(max_length=8)


class ResignBody(_Body):
    """POST /api/games/{id}/resign: the game's secret token."""

    token: UrlSafeId
