"""The Chinese working-day calendar, and the deadlines counted on it.

Deadlines are in working days: weekends and statutory holidays do not count, make-up working
weekends (调休) do. ``chinese_calendar`` knows the years it ships data for and raises for the
rest, so the platform carries its own :class:`HolidayTable` per year (handed to clients by
sync). Resolution order for a day: a supplied table for its year, then ``chinese_calendar``,
then an estimate (weekends plus the fixed-date holidays) that marks the result provisional.
Nothing here ever raises for an unknown year.

A deadline is a calendar day: the work is due by the end of that day, Beijing time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import chinese_calendar
from pydantic import BaseModel, Field, model_validator

from schemas.enums import Complexity

#: Working days allowed to sign for a ticket after it is assigned.
SIGN_FOR_WORKING_DAYS = 1
#: Working days allowed to handle a ticket, by complexity.
HANDLING_WORKING_DAYS: dict[Complexity, int] = {
    Complexity.URGENT: 2,
    Complexity.GENERAL: 5,
    Complexity.COMPLEX: 15,
}

#: Fixed-date statutory holidays, used only to estimate a year nobody has a table for.
#: The lunar holidays (Spring Festival, Qingming, Dragon Boat, Mid-autumn) cannot be guessed.
_ESTIMATED_HOLIDAYS: tuple[tuple[int, int], ...] = (
    (1, 1),
    (5, 1), (5, 2), (5, 3),
    (10, 1), (10, 2), (10, 3), (10, 4), (10, 5), (10, 6), (10, 7),
)  # fmt: skip

BEIJING = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")


class HolidayTable(BaseModel):
    """One year's official arrangement, as the platform publishes it to every client."""

    year: int = Field(ge=2000, le=2100)
    holidays: list[dt.date] = Field(
        default_factory=list, description="Days off that would otherwise be working days, or are holidays."
    )
    workdays: list[dt.date] = Field(
        default_factory=list, description="Make-up working days (调休) that fall on a weekend."
    )

    @model_validator(mode="after")
    def _days_in_year(self) -> HolidayTable:
        for day in (*self.holidays, *self.workdays):
            if day.year != self.year:
                raise ValueError(f"{day} is not in {self.year}")
        if set(self.holidays) & set(self.workdays):
            raise ValueError("a day cannot be both a holiday and a make-up working day")
        return self


@dataclass(frozen=True, slots=True)
class Deadline:
    due: dt.date
    #: True when some day counted was estimated: no table and no ``chinese_calendar`` data.
    provisional: bool


class WorkCalendar:
    """Answers "is this a working day" for any date, saying whether the answer is exact."""

    def __init__(self, tables: Iterable[HolidayTable] = ()) -> None:
        self._tables: dict[int, tuple[frozenset[dt.date], frozenset[dt.date]]] = {}
        for table in tables:
            self.add_table(table)
        self._cache: dict[dt.date, tuple[bool, bool]] = {}

    def add_table(self, table: HolidayTable) -> None:
        self._tables[table.year] = (frozenset(table.holidays), frozenset(table.workdays))
        self._cache = {}

    @property
    def table_years(self) -> list[int]:
        return sorted(self._tables)

    def knows_year(self, year: int) -> bool:
        """True when days of ``year`` are known exactly (a table or ``chinese_calendar`` data)."""
        return not self.day(dt.date(year, 6, 1))[1]

    def day(self, day: dt.date) -> tuple[bool, bool]:
        """``(is_working_day, provisional)`` for ``day``."""
        cached = self._cache.get(day)
        if cached is None:
            cached = self._cache[day] = self._resolve(day)
        return cached

    def _resolve(self, day: dt.date) -> tuple[bool, bool]:
        table = self._tables.get(day.year)
        if table is not None:
            holidays, workdays = table
            if day in workdays:
                return True, False
            if day in holidays:
                return False, False
            return day.weekday() < 5, False
        try:
            return bool(chinese_calendar.is_workday(day)), False
        except NotImplementedError:
            # chinese_calendar has no data for this year and the platform sent no table.
            estimated_off = (day.month, day.day) in _ESTIMATED_HOLIDAYS or day.weekday() >= 5
            return not estimated_off, True

    def is_working_day(self, day: dt.date) -> bool:
        return self.day(day)[0]

    def add_working_days(self, start: dt.date, days: int) -> Deadline:
        """The ``days``-th working day after ``start`` (``start`` itself never counts)."""
        if days < 0:
            raise ValueError("days must be >= 0")
        provisional = False
        current = start
        remaining = days
        while remaining > 0:
            current += dt.timedelta(days=1)
            working, estimated = self.day(current)
            provisional = provisional or estimated
            if working:
                remaining -= 1
        return Deadline(current, provisional)

    def working_days_left(self, today: dt.date, due: dt.date) -> int:
        """Working days from ``today`` until ``due``: 0 means due today, negative means overdue.

        Counted as the working days in ``(today, due]``; when overdue, minus the working days in
        ``(due, today]``, and at least -1. So a ticket due tomorrow (a working day) has 1 left, and
        one due last Friday is 1 working day overdue on Saturday, Sunday and Monday alike.
        """
        if due == today:
            return 0
        low, high = (today, due) if due > today else (due, today)
        count = 0
        current = low
        while current < high:
            current += dt.timedelta(days=1)
            if self.day(current)[0]:
                count += 1
        if due > today:
            return count
        # Past the end of the due day it is overdue even when no working day has passed since
        # (seen on the weekend): never 0, which would read as "due today".
        return -max(count, 1)

    def sign_for_deadline(self, assigned_on: dt.date) -> Deadline:
        return self.add_working_days(assigned_on, SIGN_FOR_WORKING_DAYS)

    def handling_deadline(self, start: dt.date, complexity: Complexity) -> Deadline:
        return self.add_working_days(start, HANDLING_WORKING_DAYS[complexity])


def beijing_date(moment: dt.datetime) -> dt.date:
    """The calendar day of ``moment`` in Beijing, where the working-day calendar applies."""
    if moment.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return moment.astimezone(BEIJING).date()
