"""The working-day calendar: deadlines around real Chinese holidays, unknown years, supplied tables.

Dates for 2026 are the official arrangement as shipped by ``chinese_calendar`` 1.11.0; the
first test checks that the days these tests lean on really are what they assume.
"""

from __future__ import annotations

import datetime as dt

import chinese_calendar
import pytest
from pydantic import ValidationError

from schemas.calendar import (
    BEIJING,
    HANDLING_WORKING_DAYS,
    SIGN_FOR_WORKING_DAYS,
    Deadline,
    HolidayTable,
    WorkCalendar,
    beijing_date,
)
from schemas.enums import Complexity

D = dt.date
URGENT, GENERAL, COMPLEX = Complexity.URGENT, Complexity.GENERAL, Complexity.COMPLEX


@pytest.fixture
def cal() -> WorkCalendar:
    return WorkCalendar()


#: A made-up 2027 arrangement (no official one is shipped): New Year's Day off, a Spring
#: Festival week 8-12 February with make-up Saturdays on 6 and 20 February.
TABLE_2027 = HolidayTable(
    year=2027,
    holidays=[D(2027, 1, 1), *(D(2027, 2, day) for day in range(8, 13))],
    workdays=[D(2027, 2, 6), D(2027, 2, 20)],
)


def test_the_2026_days_these_tests_assume() -> None:
    workday = chinese_calendar.is_workday
    assert not any(workday(D(2026, 10, day)) for day in range(1, 8))  # National Day
    assert workday(D(2026, 9, 20)) and D(2026, 9, 20).weekday() == 6  # make-up Sunday
    assert workday(D(2026, 10, 10)) and D(2026, 10, 10).weekday() == 5  # make-up Saturday
    assert not any(workday(D(2026, 2, day)) for day in range(15, 24))  # Spring Festival
    assert workday(D(2026, 2, 14)) and workday(D(2026, 2, 28))  # its make-up Saturdays
    with pytest.raises(NotImplementedError):
        workday(D(2027, 3, 1))  # the pinned package knows nothing of 2027


def test_the_deadline_rules() -> None:
    assert SIGN_FOR_WORKING_DAYS == 1
    assert HANDLING_WORKING_DAYS == {URGENT: 2, GENERAL: 5, COMPLEX: 15}


# --- around real 2026 holidays -----------------------------------------------------------------


def test_general_ticket_assigned_before_national_day_is_due_after_it(cal: WorkCalendar) -> None:
    # 8 Oct (Thu), 9 Oct (Fri), 10 Oct (make-up Saturday), 12 Oct (Mon), 13 Oct (Tue).
    assert cal.handling_deadline(D(2026, 9, 30), GENERAL) == Deadline(D(2026, 10, 13), False)
    assert cal.sign_for_deadline(D(2026, 9, 30)) == Deadline(D(2026, 10, 8), False)


def test_the_make_up_saturday_after_national_day_counts(cal: WorkCalendar) -> None:
    assert cal.is_working_day(D(2026, 10, 10))
    assert not cal.is_working_day(D(2026, 10, 11))
    assert cal.handling_deadline(D(2026, 10, 8), URGENT) == Deadline(D(2026, 10, 10), False)
    assert cal.sign_for_deadline(D(2026, 10, 9)) == Deadline(D(2026, 10, 10), False)


def test_a_make_up_sunday_counts_as_a_working_day(cal: WorkCalendar) -> None:
    assert cal.is_working_day(D(2026, 9, 20))
    assert not cal.is_working_day(D(2026, 9, 19))  # the Saturday before is an ordinary weekend
    # Assigned on Friday 18 September: sign for by the make-up Sunday.
    assert cal.sign_for_deadline(D(2026, 9, 18)) == Deadline(D(2026, 9, 20), False)
    assert cal.handling_deadline(D(2026, 9, 18), URGENT).due == D(2026, 9, 21)


def test_urgent_ticket_before_spring_festival(cal: WorkCalendar) -> None:
    # Friday 13 Feb: the make-up Saturday 14 Feb, then nothing until Tuesday 24 Feb.
    assert cal.handling_deadline(D(2026, 2, 13), URGENT) == Deadline(D(2026, 2, 24), False)
    assert cal.sign_for_deadline(D(2026, 2, 13)).due == D(2026, 2, 14)
    assert cal.sign_for_deadline(D(2026, 2, 14)).due == D(2026, 2, 24)


def test_complex_ticket_across_spring_festival(cal: WorkCalendar) -> None:
    # 13, 14 (Sat, make-up), 24-27, 28 (Sat, make-up), 2-6 March, 9-11 March: 15 working days.
    assert cal.handling_deadline(D(2026, 2, 12), COMPLEX) == Deadline(D(2026, 3, 11), False)


def test_ticket_assigned_during_spring_festival(cal: WorkCalendar) -> None:
    # The count starts after the assignment day, whatever that day is: 24-27 Feb, 28 (make-up).
    assert cal.handling_deadline(D(2026, 2, 17), GENERAL) == Deadline(D(2026, 2, 28), False)


# --- years without data ------------------------------------------------------------------------


def test_a_2027_date_without_a_table_gives_a_provisional_deadline(cal: WorkCalendar) -> None:
    assert not cal.knows_year(2027) and cal.knows_year(2026)
    # Estimated: weekends only in March, so Monday 1 March + 5 = Monday 8 March.
    assert cal.handling_deadline(D(2027, 3, 1), GENERAL) == Deadline(D(2027, 3, 8), True)
    assert cal.sign_for_deadline(D(2027, 3, 1)) == Deadline(D(2027, 3, 2), True)
    # The fixed-date holidays are still estimated: the National Day week is skipped.
    assert cal.handling_deadline(D(2027, 9, 30), GENERAL) == Deadline(D(2027, 10, 14), True)


def test_a_deadline_crossing_into_an_unknown_year_is_provisional(cal: WorkCalendar) -> None:
    assert cal.handling_deadline(D(2026, 12, 28), COMPLEX).provisional
    assert not cal.handling_deadline(D(2026, 12, 21), URGENT).provisional  # stays in 2026


def test_far_years_never_raise(cal: WorkCalendar) -> None:
    for year in (1999, 2003, 2031, 2099):
        deadline = cal.handling_deadline(D(year, 6, 15), COMPLEX)
        assert deadline.due > D(year, 6, 15)
        assert cal.working_days_left(D(year, 6, 15), deadline.due) == 15


# --- a supplied table --------------------------------------------------------------------------


def test_a_supplied_2027_table_gives_exact_deadlines_that_honour_it() -> None:
    cal = WorkCalendar([TABLE_2027])
    assert cal.knows_year(2027) and cal.table_years == [2027]
    # Friday 5 Feb: make-up Saturday 6 Feb, the week off, then 15-18 Feb.
    assert cal.handling_deadline(D(2027, 2, 5), GENERAL) == Deadline(D(2027, 2, 18), False)
    # Without the table the same ticket could only be estimated, and wrongly.
    assert WorkCalendar().handling_deadline(D(2027, 2, 5), GENERAL) == Deadline(D(2027, 2, 12), True)
    # Across the year end: New Year's Day off, the weekend, then Monday 4 January.
    assert cal.sign_for_deadline(D(2026, 12, 31)) == Deadline(D(2027, 1, 4), False)
    assert cal.is_working_day(D(2027, 2, 20)) and not cal.is_working_day(D(2027, 2, 21))


def test_adding_a_table_later_replaces_the_estimate() -> None:
    cal = WorkCalendar()
    assert cal.day(D(2027, 2, 8)) == (True, True)
    cal.add_table(TABLE_2027)
    assert cal.day(D(2027, 2, 8)) == (False, False)
    assert cal.day(D(2027, 2, 6)) == (True, False)


def test_a_table_wins_over_chinese_calendar() -> None:
    # The platform's word is final, even for a year the package knows (a late change, say).
    table = HolidayTable(year=2026, holidays=[D(2026, 3, 3)], workdays=[D(2026, 3, 7)])
    cal = WorkCalendar([table])
    assert not cal.is_working_day(D(2026, 3, 3)) and cal.is_working_day(D(2026, 3, 7))
    # Chinese calendar's own days are no longer consulted for 2026: 14 Feb is a plain Saturday.
    assert not cal.is_working_day(D(2026, 2, 14))
    assert cal.handling_deadline(D(2026, 3, 2), URGENT) == Deadline(D(2026, 3, 5), False)


@pytest.mark.parametrize(
    "fields",
    [
        {"year": 2027, "holidays": [D(2026, 12, 31)]},
        {"year": 2027, "workdays": [D(2028, 1, 1)]},
        {"year": 2027, "holidays": [D(2027, 2, 6)], "workdays": [D(2027, 2, 6)]},
        {"year": 1999},
    ],
    ids=["holiday_outside_year", "workday_outside_year", "both", "year_out_of_range"],
)
def test_a_table_is_validated(fields: dict) -> None:
    with pytest.raises(ValidationError):
        HolidayTable(**fields)


def test_a_table_round_trips_as_json() -> None:
    assert HolidayTable.model_validate_json(TABLE_2027.model_dump_json()) == TABLE_2027


# --- time left, for display --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("today", "due", "left"),
    [
        (D(2026, 3, 4), D(2026, 3, 4), 0),  # due today
        (D(2026, 3, 4), D(2026, 3, 5), 1),  # due tomorrow
        (D(2026, 3, 2), D(2026, 3, 9), 5),  # a week: five working days
        (D(2026, 3, 6), D(2026, 3, 9), 1),  # Friday → Monday: the weekend does not count
        (D(2026, 3, 7), D(2026, 3, 9), 1),  # seen on Saturday
        (D(2026, 3, 5), D(2026, 3, 4), -1),  # overdue by a day
        (D(2026, 3, 9), D(2026, 3, 6), -1),  # due Friday, seen Monday
        (D(2026, 3, 10), D(2026, 3, 6), -2),
        (D(2026, 3, 7), D(2026, 3, 6), -1),  # due Friday, seen Saturday: overdue, not "due today"
        (D(2026, 3, 8), D(2026, 3, 6), -1),  # ... and Sunday
        (D(2026, 9, 30), D(2026, 10, 8), 1),  # across National Day
        (D(2026, 10, 8), D(2026, 10, 12), 3),  # the make-up Saturday counts
    ],
)
def test_working_days_left(cal: WorkCalendar, today: dt.date, due: dt.date, left: int) -> None:
    assert cal.working_days_left(today, due) == left


def test_working_days_left_matches_the_deadline_it_counts_to(cal: WorkCalendar) -> None:
    start = D(2026, 1, 1)
    for offset in range(0, 365, 7):
        day = start + dt.timedelta(days=offset)
        for complexity, days in HANDLING_WORKING_DAYS.items():
            assert cal.working_days_left(day, cal.handling_deadline(day, complexity).due) == days


def test_zero_days_is_the_start_and_negative_is_refused(cal: WorkCalendar) -> None:
    assert cal.add_working_days(D(2026, 10, 3), 0) == Deadline(D(2026, 10, 3), False)
    with pytest.raises(ValueError):
        cal.add_working_days(D(2026, 3, 2), -1)


def test_the_day_is_the_beijing_day() -> None:
    assert beijing_date(dt.datetime(2026, 9, 30, 15, 59, tzinfo=dt.UTC)) == D(2026, 9, 30)
    assert beijing_date(dt.datetime(2026, 9, 30, 16, 0, tzinfo=dt.UTC)) == D(2026, 10, 1)
    assert beijing_date(dt.datetime(2026, 10, 1, 0, 0, tzinfo=BEIJING)) == D(2026, 10, 1)
    with pytest.raises(ValueError, match="timezone"):
        beijing_date(dt.datetime(2026, 9, 30, 12, 0))
