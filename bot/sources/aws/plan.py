"""Which days a sync of an AWS cost source re-reads: the rule Cost Explorer and Athena share.

The first sync back-fills `aws.backfill_months` months (from the 1st of the month
`backfill_months - 1` months ago through yesterday: today is incomplete). Later syncs re-read
only what can still change: the last `restate_days` days (AWS restates recent days), any gap
since the last sync, and the whole previous month until its bill is final (day of month <=
`bill_final_day`). `--days N` reads the N days before today instead.

A source that pays by the month it reads rather than by the day (Athena scans whole
`billing_period` partitions) re-reads the whole current month too: it costs the same.

A source that pays by the page of groups (Cost Explorer) re-reads earlier days only where they
changed: with `check_earlier_days`, the plan names as `check` the days of the current month
before the restated ones, and the whole previous month until its bill is final (one cheap
request of daily totals compares them with what is stored; the days that differ are re-read)
instead of re-reading every group of every day of the previous month. It also catches a
restatement older than `restate_days`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from bot.config import AwsSettings


@dataclass(frozen=True)
class SyncPlan:
    """The days one sync reads, `start` to `end` inclusive, and why."""

    start: date
    end: date
    reasons: tuple[str, ...]
    # Days (first, last) to compare with the source's daily totals and re-read where they
    # differ: the current month before the restated days, and the previous month until its
    # bill is final (`check_earlier_days`).
    check: tuple[date, date] | None = None

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def time_period(self) -> dict[str, str]:
        return time_period(self.start, self.end)

    def months(self) -> list[str]:
        """The months (YYYY-MM) the days fall in, in order."""
        return months_of(self.start, self.end)

    def first_day(self) -> date:
        """The earliest day this plan may re-read (checked days included)."""
        return min(self.start, self.check[0]) if self.check else self.start

    def describe(self) -> str:
        days = "1 day" if self.days == 1 else f"{self.days} days"
        text = f"{self.start} .. {self.end} ({days}): {'; '.join(self.reasons)}"
        if self.check:
            first, last = self.check
            text += f"; and {first} .. {last} where Cost Explorer's daily totals by team changed"
        return text


def time_period(first: date, last: date) -> dict[str, str]:
    """The days `first`..`last` as Cost Explorer takes them: `End` is exclusive."""
    return {"Start": first.isoformat(), "End": (last + timedelta(days=1)).isoformat()}


def months_of(first: date, last: date) -> list[str]:
    """The months (YYYY-MM) the days `first`..`last` fall in, in order."""
    months, cursor = [], first.replace(day=1)
    while cursor <= last:
        months.append(cursor.strftime("%Y-%m"))
        cursor = next_month(cursor)
    return months


def next_month(day: date) -> date:
    """The 1st of the month after `day`'s."""
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def months_back(day: date, months: int) -> date:
    """The 1st of the month `months` months before `day`'s month."""
    index = day.year * 12 + day.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


def plan_sync(
    last_end: date | None,
    today: date,
    settings: AwsSettings,
    days: int | None = None,
    *,
    whole_current_month: bool = False,
    check_earlier_days: bool = False,
    first_start: date | None = None,
) -> SyncPlan:
    """What to read, from the end of the last successful sync (None: never synced), today
    (never read: incomplete), the settings and `--days`. `whole_current_month`: also re-read
    the current month from its 1st (for sources that read by the month anyway)."""
    end = today - timedelta(days=1)
    backfill_start = months_back(today, settings.backfill_months - 1)
    if days is not None:
        if days < 1:
            raise ValueError("--days must be at least 1")
        return SyncPlan(today - timedelta(days=days), end, (f"--days {days}",))
    # `first_start`: the earliest day a successful sync read. Later than the back-fill's
    # start (only `--days` runs so far, or `backfill_months` raised): back-fill now.
    if last_end is None or (first_start is not None and first_start > backfill_start):
        months = settings.backfill_months
        return SyncPlan(backfill_start, end, (f"first sync: back-fill {months} months",))
    start = today - timedelta(days=settings.restate_days)
    reasons = [f"the last {settings.restate_days} days (restated)"]
    if whole_current_month and end.replace(day=1) < start:
        start = end.replace(day=1)
        reasons.append(f"the whole of {start:%Y-%m} (read by the month)")
    # A day read when it was under `restate_days` days old may have changed since: the last
    # sync (made the day after its end) left its last days open. Beyond them: a gap.
    still_open = last_end + timedelta(days=2 - settings.restate_days)
    if still_open < start:
        start = still_open
        reasons.append(f"the days since the last sync (through {last_end})")
    previous_month = months_back(today, 1)
    check = None
    if check_earlier_days:
        still_open_month = previous_month if today.day <= settings.bill_final_day else None
        check_from = max(still_open_month or end.replace(day=1), backfill_start)
        check = (check_from, start - timedelta(days=1))
    elif today.day <= settings.bill_final_day and previous_month < start:
        start = previous_month
        reasons.append(
            f"{previous_month:%Y-%m} until its bill is final (day {settings.bill_final_day})"
        )
    if start < backfill_start:
        start = backfill_start
        reasons.append(f"no further back than {settings.backfill_months} months")
    if check and check[0] > check[1]:
        check = None
    return SyncPlan(min(start, end), end, tuple(reasons), check)
