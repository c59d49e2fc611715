"""Pagination that never counts: fetch one row more than a page to know whether there is a next one.

A million-row table cannot be counted on every keystroke; a relationship manager only needs
"this page, and is there more".
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Page:
    object_list: list
    number: int
    per_page: int
    has_next: bool

    def __iter__(self):
        return iter(self.object_list)

    def __len__(self) -> int:
        return len(self.object_list)

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_other_pages(self) -> bool:
        return self.has_next or self.has_previous

    @property
    def next_page_number(self) -> int:
        return self.number + 1

    @property
    def previous_page_number(self) -> int:
        return self.number - 1

    @property
    def start_index(self) -> int:
        return (self.number - 1) * self.per_page + 1 if self.object_list else 0

    @property
    def end_index(self) -> int:
        return (self.number - 1) * self.per_page + len(self.object_list)


def page_of(queryset, number: str | int | None, per_page: int = 25) -> Page:
    try:
        page = max(1, int(number or 1))
    except (TypeError, ValueError):
        page = 1
    offset = (page - 1) * per_page
    rows = list(queryset[offset : offset + per_page + 1])
    return Page(object_list=rows[:per_page], number=page, per_page=per_page, has_next=len(rows) > per_page)
