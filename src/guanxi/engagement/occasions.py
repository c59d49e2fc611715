"""When the occasions of care plans fall: holidays (Gregorian and lunar) and birthdays.

Lunar dates come from `lunardate` (the Chinese calendar tables for 1900–2099; checked in the
tests against a published calendar for 2024–2030). Two customs decide the lunar birthdays that
the calendar alone does not:

- someone born in a leap month (闰月) celebrates in the ordinary month of the same number, so
  nobody's lunar birthday falls in a leap month;
- someone born on the 30th celebrates on the 29th in a year whose month has only 29 days
  (小月过二十九).

A Gregorian birthday on 29 February is celebrated on 28 February in a common year.

The functions that find "whose birthday is today" return the *birth dates* that qualify, so that
the audience of a birthday greeting is one `birth_date IN (...)` query, whatever the size of the book.
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools

from django.db import models
from django.utils.translation import gettext_lazy as _
from lunardate import LunarDate

FIRST_YEAR = 1900  # the calendar tables start on lunar 1900-01-01 (1900-01-31)
LAST_YEAR = 2099
_FIRST_DAY = dt.date(1900, 1, 31)


class Holiday(models.TextChoices):
    NEW_YEAR = "new_year", _("New Year's Day")
    NEW_YEARS_EVE = "new_years_eve", _("Chinese New Year's Eve")
    SPRING_FESTIVAL = "spring_festival", _("Spring Festival")
    LANTERN = "lantern", _("Lantern Festival")
    DRAGON_BOAT = "dragon_boat", _("Dragon Boat Festival")
    QIXI = "qixi", _("Qixi Festival")
    MID_AUTUMN = "mid_autumn", _("Mid-Autumn Festival")
    DOUBLE_NINTH = "double_ninth", _("Double Ninth Festival")
    NATIONAL_DAY = "national_day", _("National Day")


# (calendar, month, day): every lunar holiday here falls in the Gregorian year of its lunar year.
_HOLIDAY_DATES: dict[str, tuple[str, int, int]] = {
    Holiday.NEW_YEAR: ("solar", 1, 1),
    Holiday.SPRING_FESTIVAL: ("lunar", 1, 1),
    Holiday.LANTERN: ("lunar", 1, 15),
    Holiday.DRAGON_BOAT: ("lunar", 5, 5),
    Holiday.QIXI: ("lunar", 7, 7),
    Holiday.MID_AUTUMN: ("lunar", 8, 15),
    Holiday.DOUBLE_NINTH: ("lunar", 9, 9),
    Holiday.NATIONAL_DAY: ("solar", 10, 1),
}


def _check_year(year: int) -> None:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise ValueError(f"the lunar calendar covers {FIRST_YEAR}–{LAST_YEAR}, not {year}")


def holiday_date(holiday: str, year: int) -> dt.date:
    """The Gregorian date of `holiday` in Gregorian year `year`."""
    if holiday == Holiday.NEW_YEARS_EVE:
        # The last day of the twelfth lunar month: the 29th or the 30th, so the day before the Spring Festival.
        return holiday_date(Holiday.SPRING_FESTIVAL, year) - dt.timedelta(days=1)
    kind, month, day = _HOLIDAY_DATES[holiday]
    if kind == "solar":
        return dt.date(year, month, day)
    _check_year(year)
    return LunarDate(year, month, day).to_solar_date()


def holidays_on(day: dt.date) -> list[str]:
    """The holidays that fall on `day`."""
    return [code for code in Holiday.values if holiday_date(code, day.year) == day]


def to_lunar(day: dt.date) -> LunarDate:
    if day < _FIRST_DAY:
        raise ValueError(f"the lunar calendar starts on {_FIRST_DAY}")
    return LunarDate.from_solar_date(day.year, day.month, day.day)


@functools.cache
def _month_length(year: int, month: int, leap: bool = False) -> int:
    """Days in lunar month `month` (the leap month if `leap`) of lunar year `year`: 29 or 30; 0 if none."""
    for length in (30, 29):
        try:
            LunarDate(year, month, length, leap).to_solar_date()
        except ValueError:
            continue
        return length
    return 0


def lunar_birthday(birth_date: dt.date, year: int) -> dt.date:
    """The Gregorian date of the lunar birthday, in lunar year `year`, of someone born on `birth_date`."""
    born = to_lunar(birth_date)
    _check_year(year)
    day = min(born.day, _month_length(year, born.month))
    return LunarDate(year, born.month, day).to_solar_date()


def solar_birthday(birth_date: dt.date, year: int) -> dt.date:
    """The Gregorian birthday in `year`; 29 February becomes 28 February in a common year."""
    if birth_date.month == 2 and birth_date.day == 29 and not calendar.isleap(year):
        return dt.date(year, 2, 28)
    return birth_date.replace(year=year)


def solar_birth_dates_on(day: dt.date, *, first_year: int = FIRST_YEAR) -> list[dt.date]:
    """Birth dates (from `first_year` to `day`) whose Gregorian birthday is `day`."""
    dates = []
    for year in range(first_year, day.year + 1):
        if day.month == 2 and day.day == 29 and not calendar.isleap(year):
            continue
        dates.append(day.replace(year=year))
    if day.month == 2 and day.day == 28 and not calendar.isleap(day.year):
        dates += [dt.date(year, 2, 29) for year in range(first_year, day.year) if calendar.isleap(year)]
    return sorted(dates)


def lunar_birth_dates_on(day: dt.date, *, first_year: int = FIRST_YEAR) -> list[dt.date]:
    """Birth dates (from lunar year `first_year` to `day`) whose lunar birthday is `day`.

    Empty in a leap month; on the 29th of a 29-day month it includes those born on a 30th.
    """
    today = to_lunar(day)
    if today.is_leap_month:
        return []
    days = [today.day]
    if today.day == 29 and _month_length(today.year, today.month) == 29:
        days.append(30)
    dates = set()
    for year in range(max(first_year, FIRST_YEAR), today.year + 1):
        months = [False, True] if LunarDate.leap_month_for_year(year) == today.month else [False]
        for leap in months:
            for lunar_day in days:
                if lunar_day <= _month_length(year, today.month, leap):
                    born = LunarDate(year, today.month, lunar_day, leap).to_solar_date()
                    if born <= day:
                        dates.add(born)
    return sorted(dates)
