"""Holidays and birthdays on the right Gregorian dates, lunar ones included (2024–2030).

The table is the published calendar (the State Council's holiday notices give the Spring Festival,
Dragon Boat and Mid-Autumn dates); every date here was also checked against a second, independent
implementation of the Chinese calendar (lunar-python, computed astronomically rather than from tables).
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from guanxi.engagement.occasions import (
    Holiday,
    holiday_date,
    holidays_on,
    lunar_birth_dates_on,
    lunar_birthday,
    solar_birth_dates_on,
    solar_birthday,
    to_lunar,
)

PUBLISHED = {
    Holiday.SPRING_FESTIVAL: ["2024-02-10", "2025-01-29", "2026-02-17", "2027-02-06", "2028-01-26", "2029-02-13",
                              "2030-02-03"],
    Holiday.NEW_YEARS_EVE: ["2024-02-09", "2025-01-28", "2026-02-16", "2027-02-05", "2028-01-25", "2029-02-12",
                            "2030-02-02"],
    Holiday.LANTERN: ["2024-02-24", "2025-02-12", "2026-03-03", "2027-02-20", "2028-02-09", "2029-02-27",
                      "2030-02-17"],
    Holiday.DRAGON_BOAT: ["2024-06-10", "2025-05-31", "2026-06-19", "2027-06-09", "2028-05-28", "2029-06-16",
                          "2030-06-05"],
    Holiday.QIXI: ["2024-08-10", "2025-08-29", "2026-08-19", "2027-08-08", "2028-08-26", "2029-08-16", "2030-08-05"],
    Holiday.MID_AUTUMN: ["2024-09-17", "2025-10-06", "2026-09-25", "2027-09-15", "2028-10-03", "2029-09-22",
                         "2030-09-12"],
    Holiday.DOUBLE_NINTH: ["2024-10-11", "2025-10-29", "2026-10-18", "2027-10-08", "2028-10-26", "2029-10-16",
                           "2030-10-05"],
    Holiday.NATIONAL_DAY: [f"{year}-10-01" for year in range(2024, 2031)],
    Holiday.NEW_YEAR: [f"{year}-01-01" for year in range(2024, 2031)],
}


@pytest.mark.parametrize("holiday", list(PUBLISHED))
def test_holidays_fall_on_the_published_dates_2024_to_2030(holiday):
    assert [holiday_date(holiday, year).isoformat() for year in range(2024, 2031)] == PUBLISHED[holiday]


def test_a_day_knows_its_holidays():
    assert holidays_on(date(2025, 10, 6)) == [Holiday.MID_AUTUMN]
    assert holidays_on(date(2023, 9, 29)) == [Holiday.MID_AUTUMN]  # 2023: Mid-Autumn on the eve of National Day
    assert holidays_on(date(2025, 10, 1)) == [Holiday.NATIONAL_DAY]
    assert holidays_on(date(2025, 10, 2)) == []


# Lunar birthdays: someone born on 1990-05-20 (lunar 1990-04-26) celebrates on lunar 4/26 every year.
LUNAR_BIRTHDAYS_OF_1990_05_20 = ["2024-06-02", "2025-05-23", "2026-06-11", "2027-05-31", "2028-05-20", "2029-06-07",
                                 "2030-05-27"]


def test_a_lunar_birthday_falls_on_the_published_dates():
    born = date(1990, 5, 20)
    assert (to_lunar(born).month, to_lunar(born).day) == (4, 26)
    assert [lunar_birthday(born, year).isoformat() for year in range(2024, 2031)] == LUNAR_BIRTHDAYS_OF_1990_05_20
    for day in LUNAR_BIRTHDAYS_OF_1990_05_20:
        assert born in lunar_birth_dates_on(date.fromisoformat(day))


def test_born_in_a_leap_month_celebrates_in_the_ordinary_month():
    born = date(2023, 4, 10)  # lunar 2023 leap 2nd month, day 20
    lunar = to_lunar(born)
    assert lunar.is_leap_month and (lunar.month, lunar.day) == (2, 20)
    assert lunar_birthday(born, 2024) == date(2024, 3, 29)  # 2024 lunar 2/20 (2024 has no leap month)
    assert born in lunar_birth_dates_on(date(2024, 3, 29))
    # The ordinary 2nd month of 2023 (2023-03-11 is lunar 2/20) greets those born in it, and the leap-born too.
    assert {date(2023, 3, 11), born} <= set(lunar_birth_dates_on(date(2024, 3, 29)))


def test_nobody_celebrates_a_lunar_birthday_in_a_leap_month():
    day = date(2025, 7, 25)  # lunar 2025 leap 6th month, day 1
    assert to_lunar(day).is_leap_month
    assert lunar_birth_dates_on(day) == []


def _born_on_a_30th() -> date:
    day = date(1990, 1, 1)
    while to_lunar(day).day != 30 or to_lunar(day).is_leap_month:
        day += timedelta(days=1)
    return day


def test_born_on_the_30th_celebrates_on_the_29th_of_a_short_month():
    born = _born_on_a_30th()
    month = to_lunar(born).month
    birthdays = {year: lunar_birthday(born, year) for year in range(2024, 2031)}
    short_year = next(year for year, day in birthdays.items() if to_lunar(day).day == 29)
    celebrated = birthdays[short_year]
    assert to_lunar(celebrated).month == month
    assert to_lunar(celebrated + timedelta(days=1)).day == 1  # the 29th is that month's last day
    assert born in lunar_birth_dates_on(celebrated)
    # In a year whose month has a 30th, the birthday is the 30th, not the 29th.
    long_year = next(year for year, day in birthdays.items() if to_lunar(day).day == 30)
    assert born in lunar_birth_dates_on(birthdays[long_year])
    assert born not in lunar_birth_dates_on(birthdays[long_year] - timedelta(days=1))


def test_a_29_february_birthday_is_kept_on_28_february_in_common_years():
    born = date(1996, 2, 29)
    assert solar_birthday(born, 2025) == date(2025, 2, 28)
    assert solar_birthday(born, 2028) == date(2028, 2, 29)
    assert born in solar_birth_dates_on(date(2025, 2, 28))
    assert born not in solar_birth_dates_on(date(2028, 2, 28))
    assert born in solar_birth_dates_on(date(2028, 2, 29))


def test_gregorian_birth_dates_of_a_day_cover_every_year():
    dates = solar_birth_dates_on(date(2025, 6, 1))
    assert dates[0] == date(1900, 6, 1) and dates[-1] == date(2025, 6, 1) and len(dates) == 126
