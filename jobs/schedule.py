"""The schedule: which job runs when (`config.schedule`), and which slots were due in a window.
A slot is the time a run was due, in UTC; a scope is "" or, for `weekly-digest`, the team it
is for (each team gets its digest at its own `digest_cron` in its own time zone). Plain
functions of the config and chosen moments; jobs/scheduler.py runs what they name."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from bot.config import SCHEDULED_JOBS, Config, crontab_for_apscheduler

DAY_ORDER = {job: index for index, job in enumerate(SCHEDULED_JOBS)}


@dataclass(frozen=True)
class ScheduledJob:
    """One entry of the schedule: `job` for `scope` ("" or a team) at `cron` in `timezone`."""

    job: str
    scope: str
    cron: str
    timezone: str

    @property
    def id(self) -> str:
        return f"{self.job}:{self.scope}" if self.scope else self.job

    def trigger(self) -> CronTrigger:
        return cron_trigger(self.cron, self.timezone)


@dataclass(frozen=True, order=True)
class DueRun:
    """A slot that was due: sorted oldest day first, then in the day's job order."""

    day: str  # the slot's UTC date: a day's runs go together, sync first
    order: int
    slot: datetime
    job: str
    scope: str

    @property
    def slot_text(self) -> str:
        return slot_text(self.slot)


def slot_text(slot: datetime) -> str:
    """A slot as `job_runs` keeps it: ISO 8601 in UTC, to the second."""
    return slot.astimezone(UTC).isoformat(timespec="seconds")


def cron_trigger(cron: str, timezone: str) -> CronTrigger:
    """A CronTrigger for a standard five-field crontab line, weekdays read as crontab(5)
    reads them (see bot.config.crontab_for_apscheduler)."""
    return CronTrigger.from_crontab(crontab_for_apscheduler(cron), timezone=ZoneInfo(timezone))


def schedule(
    config: Config, jobs: Mapping[str, Callable[..., Any]] | None = None
) -> list[ScheduledJob]:
    """The runs the config schedules, in the day's job order: each enabled job present in
    `jobs` (default `jobs.JOBS`: a job not built in this version is not scheduled) at its cron
    in its time zone (its own, else `schedule.timezone`); `weekly-digest` once per team with
    a channel, at the team's `digest_cron` (else the job's cron) in the team's time zone
    (unless the job sets one)."""
    if jobs is None:
        from jobs import JOBS as jobs
    entries: list[ScheduledJob] = []
    for name in SCHEDULED_JOBS:
        spec = config.schedule.jobs.get(name)
        if spec is None or not spec.enabled or name not in jobs:
            continue
        if name != "weekly-digest":
            entries.append(
                ScheduledJob(name, "", spec.cron, spec.timezone or config.schedule.timezone)
            )
            continue
        for team in config.teams:
            if team.channel:
                entries.append(
                    ScheduledJob(
                        name,
                        team.name,
                        team.digest_cron or spec.cron,
                        spec.timezone or team.timezone,
                    )
                )
    return entries


def not_scheduled(
    config: Config, jobs: Mapping[str, Callable[..., Any]] | None = None
) -> list[str]:
    """Why jobs of the config are not in the schedule, one line each (for `--list`)."""
    if jobs is None:
        from jobs import JOBS as jobs
    lines = []
    for name in SCHEDULED_JOBS:
        spec = config.schedule.jobs.get(name)
        if spec is not None and not spec.enabled:
            lines.append(f"{name}: disabled (schedule.jobs.{name}.enabled: false)")
        elif name not in jobs:
            lines.append(f"{name}: not available in this version of Costbot")
        elif name == "weekly-digest":
            lines.extend(
                f"weekly-digest [{team.name}]: the team has no channel"
                for team in config.teams
                if not team.channel
            )
    return lines


def due_runs(
    config: Config,
    since: datetime,
    now: datetime,
    *,
    entries: Iterable[ScheduledJob] | None = None,
) -> list[DueRun]:
    """The slots due after `since` and at or before `now`, oldest day first and in the day's
    job order (sync before tag-policy before the digests)."""
    runs = []
    # Teams sharing a cron and time zone share their fire times: computed once.
    slots: dict[tuple[str, str], list[datetime]] = {}
    for entry in schedule(config) if entries is None else entries:
        key = (entry.cron, entry.timezone)
        if key not in slots:
            slots[key] = _fire_times(entry.trigger(), since, now)
        order = DAY_ORDER.get(entry.job, 99)
        runs.extend(
            DueRun(slot.date().isoformat(), order, slot, entry.job, entry.scope)
            for slot in slots[key]
        )
    return sorted(runs)


def _fire_times(trigger: CronTrigger, since: datetime, now: datetime) -> list[datetime]:
    """When `trigger` fires after `since` and at or before `now`, in UTC."""
    times = []
    fire = trigger.get_next_fire_time(None, since)
    while fire is not None and fire <= now:
        if fire > since:
            times.append(fire.astimezone(UTC))
        fire = trigger.get_next_fire_time(fire, fire)
    return times


def schedule_lines(config: Config, now: datetime) -> list[str]:
    """`costbot scheduler --list`: each scheduled run with its next time, local and UTC."""
    rows = [("JOB", "SCOPE", "CRON", "TIME ZONE", "NEXT RUN (LOCAL)", "NEXT RUN (UTC)")]
    for entry in schedule(config):
        fire = entry.trigger().get_next_fire_time(None, now)
        rows.append(
            (
                entry.job,
                entry.scope or "-",
                entry.cron,
                entry.timezone,
                fire.strftime("%a %Y-%m-%d %H:%M %Z") if fire else "never",
                fire.astimezone(UTC).strftime("%a %Y-%m-%d %H:%M UTC") if fire else "never",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    notes = not_scheduled(config)
    if notes:
        lines += ["", "Not scheduled:", *(f"  {note}" for note in notes)]
    lines += [
        "",
        "sync runs the anomaly alerts after itself (anomalies has no cron of its own).",
        f"Missed runs are caught up at start within {config.schedule.grace_hours:g} hour(s);"
        f" a failed run is tried again after {config.schedule.retry_minutes:g} minute(s),"
        f" {config.schedule.max_attempts} attempt(s) in all.",
    ]
    return lines
