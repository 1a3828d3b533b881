"""Scheduled jobs: one module per job, each a plain function `run(context, now) -> result` that
reads no clock of its own (the scheduler, `costbot run JOB --date D` and the tests pass `now`).
A job calls the core (store queries, analytics, renderers) and hands what it builds to
`bot.slack.delivery`; it never talks to Slack or AWS itself (sources do: `sync` calls them).

`JOBS` is the registry `costbot run JOB` and the scheduler read: job name -> its `run`.
"""

from __future__ import annotations

from collections.abc import Callable

from jobs import (
    anomalies,
    champions,
    idle,
    monthly_report,
    quarterly_report,
    sync,
    tag_policy,
    weekly_digest,
)

JOBS: dict[str, Callable[..., object]] = {
    "sync": sync.run,
    "anomalies": anomalies.run,
    "idle": idle.run,
    "tag-policy": tag_policy.run,
    "weekly-digest": weekly_digest.run,
    "champions": champions.run,
    "monthly-report": monthly_report.run,
    "quarterly-report": quarterly_report.run,
}
