"""The clock of a job run: `costbot run JOB --date D` runs the job as at RUN_HOUR_UTC on D,
so that the intervals a job measures (the ladder's 48 hours, the idle reminders) are walked
over days the same way in tests, backtests and the scheduler."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

RUN_HOUR_UTC = 9


def run_moment(now: datetime | date) -> datetime:
    """A datetime as given (in UTC; a naive one is taken as UTC), a date at RUN_HOUR_UTC."""
    if isinstance(now, datetime):
        return now.astimezone(UTC) if now.tzinfo else now.replace(tzinfo=UTC)
    return datetime.combine(now, time(RUN_HOUR_UTC), UTC)
