"""Report periods: parsing what users type (`mtd`, `last-month`, `2026-10`, `7d`, ...) into
dates, the previous period of equal length to compare with, and labels with the dates
spelled out. "To date" periods run through yesterday; answers then clip every period to the
days the store holds (`Period.clipped`), so late or short data is never counted as $0."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, replace
from datetime import date, timedelta

PERIOD_HELP = "mtd (default), last-month, YYYY-MM, 7d, 30d, 90d, qtd, ytd"
_ROLLING = re.compile(r"^(\d{1,3})d$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


# Calendar months before this are not cloud bills (and year 0 is not a date at all).
FIRST_YEAR = 1970
_ECHO_MAX = 40


class PeriodError(ValueError):
    """A period that cannot be used; the message is plain text (escape it for mrkdwn)."""


def _echo(text: str | None) -> str:
    """What the user typed, quoted, on one line and short: never a long argument echoed."""
    shown = " ".join((text or "").split())
    if len(shown) > _ECHO_MAX:
        shown = shown[: _ECHO_MAX - 1] + "…"
    return f"'{shown}'"


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # inclusive
    kind: str  # mtd | month | rolling | qtd | ytd
    name: str  # what the user asked for, normalised

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def dates(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range(self.days)]

    @property
    def label(self) -> str:
        """`Nov 1 – Nov 26, 2026` or `Dec 28, 2025 – Jan 3, 2026`."""
        return format_range(self.start, self.end)

    @property
    def title(self) -> str:
        titles = {
            "mtd": "Month to date",
            "qtd": "Quarter to date",
            "ytd": "Year to date",
            "month": self.start.strftime("%B %Y"),
            "rolling": f"Last {self._rolling_days()} days",
        }
        return titles[self.kind]

    def _rolling_days(self) -> int:
        # The window asked for (`400d`), even when clipped to the days the store holds.
        match = _ROLLING.match(self.name)
        return int(match.group(1)) if match else self.days

    def clipped(self, first: date, last: date) -> Period:
        """The same period limited to the days with data (`first` to `last`): a day the
        store does not hold yet is unknown, not $0. A rolling window ("last 7 days") moves
        back to end on the last day with data instead of shrinking; calendar periods keep
        their start. The name and kind stay, so the title still says what was asked for."""
        period = self
        if self.kind == "rolling" and self.end > last:
            lag = self.end - last
            period = replace(self, start=self.start - lag, end=last)
        return replace(period, start=max(period.start, first), end=min(period.end, last))

    @property
    def is_whole_month(self) -> bool:
        return self.start.day == 1 and self.end == _month_end(self.start)

    def previous(self) -> Period:
        """The period to compare with: the same days one month/quarter/year earlier for
        calendar periods (Nov 1-28 -> Oct 1-28; a whole month -> the whole previous month),
        the preceding days for rolling windows."""
        if self.kind in ("mtd", "month"):
            months = 1
        elif self.kind == "qtd":
            months = 3
        elif self.kind == "ytd":
            months = 12
        else:
            return Period(
                self.start - timedelta(days=self.days),
                self.start - timedelta(days=1),
                self.kind,
                self.name,
            )
        start = _shift_months(self.start, -months)
        end = _month_end(start) if self.is_whole_month else _shift_months(self.end, -months)
        return Period(start, end, self.kind, self.name)


def format_day(day: date, with_year: bool = True) -> str:
    text = f"{day.strftime('%b')} {day.day}"
    return f"{text}, {day.year}" if with_year else text


def format_range(start: date, end: date) -> str:
    if start == end:
        return format_day(start)
    if start.year == end.year:
        return f"{format_day(start, with_year=False)} – {format_day(end)}"
    return f"{format_day(start)} – {format_day(end)}"


def _month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def _shift_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def parse_period(text: str | None, today: date) -> Period:
    """Parse a period argument; `today` is the current date, and data is complete through
    the day before."""
    name = (text or "mtd").strip().lower()
    as_of = today - timedelta(days=1)
    if name == "mtd":
        return Period(as_of.replace(day=1), as_of, "mtd", name)
    if name in ("last-month", "lastmonth", "last_month"):
        end = today.replace(day=1) - timedelta(days=1)
        return Period(end.replace(day=1), end, "month", name)
    if name == "qtd":
        quarter_start = date(as_of.year, 3 * ((as_of.month - 1) // 3) + 1, 1)
        return Period(quarter_start, as_of, "qtd", name)
    if name == "ytd":
        return Period(date(as_of.year, 1, 1), as_of, "ytd", name)
    if match := _ROLLING.match(name):
        days = int(match.group(1))
        if not 1 <= days <= 400:
            raise PeriodError(f"{_echo(text)}: rolling periods are 1d to 400d")
        return Period(as_of - timedelta(days=days - 1), as_of, "rolling", name)
    if match := _MONTH.match(name):
        year, month = int(match.group(1)), int(match.group(2))
        if not 1 <= month <= 12:
            raise PeriodError(f"{_echo(text)} is not a month (use YYYY-MM, e.g. 2026-10)")
        if year < FIRST_YEAR:
            raise PeriodError(f"{_echo(text)}: there is no cost data before {FIRST_YEAR}")
        start = date(year, month, 1)
        if start > as_of:
            raise PeriodError(
                f"{_echo(text)} is in the future; data runs through {format_day(as_of)}"
            )
        return Period(start, _month_end(start), "month", name)
    raise PeriodError(f"{_echo(text)} is not a period. Periods: {PERIOD_HELP}")


def looks_like_period(text: str) -> bool:
    name = text.strip().lower()
    return (
        name in ("mtd", "qtd", "ytd", "last-month", "lastmonth", "last_month")
        or bool(_ROLLING.match(name))
        or bool(_MONTH.match(name))
    )
