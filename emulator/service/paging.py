"""Opaque page tokens: where the last page stopped, for which filter, issued when.

A token carries the key of the last item returned (not an offset), so pages stay
correct while items are added or removed between calls.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from emulator.core import errors, limits

Key = str | int
T = TypeVar("T")


@dataclass(frozen=True)
class PageToken:
    after: str | int
    filter: str
    issued: float

    def encode(self) -> str:
        raw = json.dumps({"a": self.after, "f": self.filter, "t": self.issued}).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(
    token: str, *, filter_: str, now: datetime, key_type: type[str] | type[int] = str
) -> PageToken | None:
    """The token's position, or None for the first page; INVALID_ARGUMENT if unusable."""
    if not token:
        return None
    try:
        raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        parsed = PageToken(after=raw["a"], filter=raw["f"], issued=float(raw["t"]))
        if type(parsed.after) is not key_type or not isinstance(parsed.filter, str):
            raise TypeError("a token of another listing")
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise errors.InvalidArgument("The page_token is invalid.") from None
    if parsed.filter != filter_:
        raise errors.InvalidArgument(
            "The filter must not change between pages: it differs from the one the "
            "page_token was issued for."
        )
    if now.timestamp() - parsed.issued > limits.PAGE_TOKEN_TTL.total_seconds():
        raise errors.InvalidArgument("The page_token has expired (tokens are valid for 2 hours).")
    return parsed


def page_size(requested: int, maximum: int) -> int:
    if requested < 0:
        raise errors.InvalidArgument(f"page_size must not be negative, got {requested}.")
    return min(requested or maximum, maximum)


def paginate(
    items: Sequence[T],
    key: Callable[[T], Key],
    *,
    token: str,
    filter_: str,
    size: int,
    now: datetime,
    key_type: type[str] | type[int] = str,
) -> tuple[Sequence[T], str]:
    """One page of `items` (sorted by `key`, already filtered) and the next page's token."""
    position = decode(token, filter_=filter_, now=now, key_type=key_type)
    if position is not None:
        after = position.after
        items = [item for item in items if key(item) > after]  # type: ignore[operator]
    if len(items) <= size:
        return items, ""
    return items[:size], token_after(key(items[size - 1]), filter_=filter_, now=now)


def token_after(last: Key, *, filter_: str, now: datetime) -> str:
    """The token of the page that starts after the item with key `last`."""
    return PageToken(after=last, filter=filter_, issued=now.timestamp()).encode()
