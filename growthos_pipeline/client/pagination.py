"""Iterating over the API's cursor-paginated lists.

A list answers ``{"data": [...], "has_more", "next_cursor"}``; :class:`Pager` asks for the
next page with ``cursor=next_cursor`` until ``has_more`` is false, lazily: nothing is fetched
before the iteration starts, and each page only when the items before it are used up. Pages
are stable while items are added (the server orders by a time-ordered id).

Examples
--------
>>> pages = {None: Page[int](data=[1, 2], has_more=True, next_cursor="c2"),
...          "c2": Page[int](data=[3], has_more=False, next_cursor=None)}
>>> pager = Pager(lambda cursor, limit: pages[cursor], page_size=2)
>>> list(pager), [page.data for page in pager.pages()]
([1, 2, 3], [[1, 2], [3]])
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from pydantic import BaseModel

T = TypeVar("T")

MAX_PAGE_SIZE = 100


class Page(BaseModel, Generic[T]):
    """One page of a list."""

    data: list[T]
    has_more: bool
    next_cursor: str | None = None


class Pager(Generic[T]):
    """Every item of a list, fetched a page at a time as the iteration goes."""

    def __init__(
        self,
        fetch: Callable[[str | None, int], Page[T]],
        *,
        page_size: int = MAX_PAGE_SIZE,
        cursor: str | None = None,
    ) -> None:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}, found {page_size}")
        self._fetch = fetch
        self.page_size = page_size
        self.cursor = cursor

    def pages(self) -> Iterator[Page[T]]:
        """The pages, the first one from ``cursor`` (the list's start by default)."""
        cursor = self.cursor
        while True:
            page = self._fetch(cursor, self.page_size)
            yield page
            if not page.has_more or not page.next_cursor:
                return
            cursor = page.next_cursor

    def first_page(self) -> Page[T]:
        """Only the first page (one request), with its ``next_cursor``."""
        return self._fetch(self.cursor, self.page_size)

    def __iter__(self) -> Iterator[T]:
        for page in self.pages():
            yield from page.data

    def to_list(self) -> list[T]:
        """Every item (fetching every page)."""
        return list(self)
