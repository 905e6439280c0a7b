"""`emulator.service.paging`: opaque page tokens (a key, a filter, an issue time) and sizes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from emulator.core import errors
from emulator.service.paging import decode, page_size, paginate

NOW = datetime(2030, 1, 1, tzinfo=UTC)
NAMES = ["a", "b", "c", "d", "e"]


def pages(items: list[str], size: int, filter_: str = "") -> list[list[str]]:
    """Every page, following the tokens from the first."""
    result, token = [], ""
    while True:
        page, token = paginate(items, str, token=token, filter_=filter_, size=size, now=NOW)
        result.append(list(page))
        if not token:
            return result


@pytest.mark.parametrize(
    ("items", "size", "expected"),
    [
        (NAMES, 2, [["a", "b"], ["c", "d"], ["e"]]),
        (NAMES, 5, [NAMES]),  # exactly one page: no token
        (NAMES, 9, [NAMES]),
        (NAMES, 1, [[n] for n in NAMES]),
        ([], 3, [[]]),
    ],
)
def test_pages_follow_the_tokens(items: list[str], size: int, expected: list[list[str]]) -> None:
    assert pages(items, size) == expected


def test_a_token_is_a_position_not_an_offset() -> None:
    first, token = paginate(NAMES, str, token="", filter_="", size=2, now=NOW)
    assert list(first) == ["a", "b"]
    # Items added before the cursor or removed after it do not shift the next page.
    changed = ["0", "a", "aa", "c", "e"]
    second, _ = paginate(changed, str, token=token, filter_="", size=2, now=NOW)
    assert list(second) == ["c", "e"]


def test_integer_keys() -> None:
    seqs = [1, 2, 10, 11]
    page, token = paginate(seqs, int, token="", filter_="", size=3, now=NOW, key_type=int)
    assert list(page) == [1, 2, 10]
    rest, _ = paginate(seqs, int, token=token, filter_="", size=3, now=NOW, key_type=int)
    assert list(rest) == [11]
    with pytest.raises(errors.InvalidArgument):  # an int key where a str one is expected
        decode(token, filter_="", now=NOW, key_type=str)


def _token(filter_: str = "", issued: datetime = NOW) -> str:
    return paginate(NAMES, str, token="", filter_=filter_, size=1, now=issued)[1]


@pytest.mark.parametrize(
    ("token", "filter_", "now", "message"),
    [
        ("not-a-token", "", NOW, "The page_token is invalid."),
        ("###", "", NOW, "The page_token is invalid."),
        ("e30", "", NOW, "The page_token is invalid."),  # {} : no fields
        (_token("state:PAUSED"), "", NOW, "The filter must not change between pages"),
        (_token(), "state:PAUSED", NOW, "The filter must not change between pages"),
        (_token(), "", NOW + timedelta(hours=2, seconds=1), "The page_token has expired"),
    ],
)
def test_unusable_tokens_are_invalid_argument(
    token: str, filter_: str, now: datetime, message: str
) -> None:
    with pytest.raises(errors.InvalidArgument) as e:
        decode(token, filter_=filter_, now=now)
    assert e.value.message.startswith(message)


@pytest.mark.parametrize("age", [timedelta(0), timedelta(hours=2)])
def test_tokens_last_two_hours(age: timedelta) -> None:
    position = decode(_token("f"), filter_="f", now=NOW + age)
    assert position is not None
    assert position.after == "a"
    assert decode("", filter_="f", now=NOW) is None  # no token: the first page


@pytest.mark.parametrize(
    ("requested", "maximum", "size"),
    [(0, 1000, 1000), (1, 1000, 1), (999, 1000, 999), (1000, 1000, 1000), (5000, 1000, 1000)],
)
def test_page_size(requested: int, maximum: int, size: int) -> None:
    assert page_size(requested, maximum) == size


def test_negative_page_size_is_invalid_argument() -> None:
    with pytest.raises(errors.InvalidArgument) as e:
        page_size(-1, 1000)
    assert e.value.message == "page_size must not be negative, got -1."
