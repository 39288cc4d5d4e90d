"""Heroku list ranges: `Range: <field> [start]..[end][; max=N, order=desc]`, answered with
Content-Range, and Next-Range (with 206) when the page is cut short.

A start written `]v` excludes v and an end written `v[` excludes v. Start and end follow the order: with
`order=desc` the start is the highest value. Parameters may be separated by commas or semicolons.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

DEFAULT_MAX = 200
MAX_MAX = 1000
_COUNT = re.compile(r"^[0-9]{1,9}$")  # ASCII digits only: int() also reads other scripts' digits

T = TypeVar("T")


class RangeInvalid(Exception):
    """The Range header cannot be used; the message says why."""


@dataclass(frozen=True)
class ListRange:
    field: str
    start: Any = None
    start_exclusive: bool = False
    end: Any = None
    end_exclusive: bool = False
    max: int = DEFAULT_MAX
    descending: bool = False

    def params(self) -> str:
        return f"max={self.max}" + (", order=desc" if self.descending else "")

    def admits(self, value: Any) -> bool:
        """True if `value` lies inside the range, reading start and end in the range's order."""
        before = (lambda a, b: a > b) if self.descending else (lambda a, b: a < b)
        if self.start is not None and (before(value, self.start) or
                                       (self.start_exclusive and value == self.start)):
            return False
        return self.end is None or not (before(self.end, value) or (self.end_exclusive and value == self.end))


@dataclass(frozen=True)
class Page:
    items: list
    content_range: str
    next_range: str | None


def _params(text: str) -> dict[str, str]:
    pairs = (part.strip() for part in text.replace(";", ",").split(","))
    return dict(part.partition("=")[::2] for part in pairs if part)


def _bound(text: str, field: str, parse: Callable[[str], Any]) -> Any:
    try:
        return parse(text) if text else None
    except ValueError:
        raise RangeInvalid(f"{text!r} is not a valid {field}") from None


def parse(header: str | None, fields: Mapping[str, Callable[[str], Any]], default_field: str) -> ListRange:
    """The range a list request asks for; `fields` maps each accepted field to its value parser."""
    if not header or not header.strip():
        return ListRange(default_field)
    head, _, tail = header.partition(";")
    field, _, bounds = head.strip().partition(" ")
    if field not in fields:
        raise RangeInvalid(f"Range field {field!r} is not one of {', '.join(fields)}")
    bounds = bounds.strip()
    if bounds and ".." not in bounds:
        raise RangeInvalid(f"Range bounds {bounds!r} are not [start]..[end]")
    start, _, end = bounds.partition("..")
    params = _params(tail)
    raw_max = params.get("max", str(DEFAULT_MAX))
    if not _COUNT.match(raw_max) or int(raw_max) < 1:
        raise RangeInvalid(f"Range max={raw_max} is not a whole number from 1 to {MAX_MAX}")
    order = params.get("order", "asc")
    if order not in ("asc", "desc"):
        raise RangeInvalid(f"Range order={order} is not asc or desc")
    return ListRange(field, _bound(start.removeprefix("]"), field, fields[field]), start.startswith("]"),
                     _bound(end.removesuffix("["), field, fields[field]), end.endswith("["),
                     min(int(raw_max), MAX_MAX), order == "desc")


def page(items: Sequence[T], wanted: ListRange, value: Callable[[T, str], Any]) -> Page:
    """The items inside the range, sorted by its field, at most `max` of them."""
    field = wanted.field
    chosen = sorted((item for item in items if wanted.admits(value(item, field))),
                    key=lambda item: value(item, field), reverse=wanted.descending)
    shown = chosen[:wanted.max]
    if not shown:
        return Page([], f"{field} ..; {wanted.params()}", None)
    first, last = value(shown[0], field), value(shown[-1], field)
    content_range = f"{field} {first}..{last}; {wanted.params()}"
    if len(chosen) <= wanted.max:
        return Page(shown, content_range, None)
    end = "" if wanted.end is None else f"{wanted.end}{'[' if wanted.end_exclusive else ''}"
    return Page(shown, content_range, f"{field} ]{last}..{end}; {wanted.params()}")
