"""The scheduler: runs each job of `config.schedule` at its cron in its time zone, catches up
what was due while no scheduler ran, and retries what failed. `costbot serve` runs it in the
background (unless `--no-scheduler`); `costbot scheduler` runs it alone.

How a run happens. Every run has a slot: the time it was due (UTC), and a scope: "" or, for
`weekly-digest`, the team it is for (each team gets its digest at its own `digest_cron` in its
own time zone). A run is claimed in `job_runs` (job, slot, scope) before it starts, so a second
scheduler on the same database, or a catch-up racing a trigger, finds the row and does nothing;
exactly once in Slack is the delivery ledger's job (keys per job, period and channel), so two
schedulers post nothing twice even when a run is repeated after a crash.

The job's `now` is its slot, not the time it ran: a Monday digest caught up on Monday
afternoon reports the same week. The cron triggers only wake the scheduler; what runs is
always "the slots due and not yet done" (`due_runs`), so a trigger, the start-up catch-up and
the periodic sweep all agree on which slot a run is for.

Everything here is a plain function of (context, now) except `build_scheduler`, which wires
them to APScheduler; the tests call them with chosen times and never sleep.
"""

from __future__ import annotations

import logging
import time as monotonic_clock
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot.config import Config
from bot.context import AppContext
from bot.store import queries, writers
from jobs.schedule import DueRun, ScheduledJob, due_runs, schedule, slot_text

log = logging.getLogger(__name__)

# How often the sweep looks for runs to retry and slots a trigger missed.
SWEEP_MINUTES = 5
# How far back a start-up looks for slots missed while no scheduler ran: a quarter and a bit,
# so that a missed quarterly report is at least reported as skipped.
LOOKBACK = timedelta(days=100)


@dataclass(frozen=True)
class RunOutcome:
    job: str
    scope: str
    slot: str
    status: str  # done | failed
    attempt: int
    summary: str

    def line(self) -> str:
        scope = f" [{self.scope}]" if self.scope else ""
        return f"{self.job}{scope} due {self.slot}: {self.status} ({self.summary})"


def run_slot(
    context: AppContext,
    job: str,
    slot: datetime,
    scope: str,
    now: datetime,
    *,
    aws: bool | None = None,
    delivery: Any = None,
) -> RunOutcome | None:
    """Run `job` for `slot` and `scope` once, with `now = slot`, if this process claims it
    (None otherwise: done, running elsewhere, or not due for another attempt). Records done
    with a one-line summary, or failed with the error and, while attempts remain, when to try
    again. Never raises for the job's sake: one job's failure never stops the others.
    `aws`: whether the sync may call AWS (None: when AWS credentials are found)."""
    outcomes = run_slots(context, job, slot, [scope], now, aws=aws, delivery=delivery)
    return outcomes[0] if outcomes else None


def run_slots(
    context: AppContext,
    job: str,
    slot: datetime,
    scopes: Sequence[str],
    now: datetime,
    *,
    aws: bool | None = None,
    delivery: Any = None,
) -> list[RunOutcome]:
    """`run_slot` for several scopes due at the same slot, in one call of the job: the weekly
    digests of the teams that share a time zone and cron go out in one run (one fan-out, its
    charts rendered in parallel, and teams sharing a channel merged into one message, as the
    digest job does), each team's run still claimed and recorded on its own."""
    settings = context.config.schedule
    key = slot_text(slot)
    db = context.open_writer()
    try:
        claimed = {}
        for scope in scopes:
            attempt = writers.claim_job_run(
                db, job, key, scope, now=now, max_attempts=settings.max_attempts
            )
            if attempt is not None:
                claimed[scope] = attempt
        if not claimed:
            return []
        started = monotonic_clock.monotonic()
        try:
            result, prefix = _call(context, job, slot, list(claimed), aws=aws, delivery=delivery)
            figures = {
                scope: (_summary(mine, prefix), _failure(mine))
                for scope, mine in _per_scope(result, list(claimed)).items()
            }
        except Exception as error:  # the job's own failure: recorded, retried, logged
            log.debug("%s %s due %s raised", job, list(claimed), key, exc_info=True)
            figures = {scope: (None, f"{type(error).__name__}: {error}") for scope in claimed}
        finished = now + timedelta(seconds=monotonic_clock.monotonic() - started)
        outcomes = []
        for scope, attempt in claimed.items():
            summary, failure = figures[scope]
            retry = (
                now + timedelta(minutes=settings.retry_minutes)
                if failure is not None and attempt < settings.max_attempts
                else None
            )
            writers.finish_job_run(
                db,
                job,
                key,
                scope,
                at=finished,
                summary=summary,
                error=failure,
                next_attempt_at=retry,
            )
            outcomes.append(_outcome(job, scope, key, attempt, summary, failure, retry, settings))
    finally:
        db.close()
    return outcomes


def _outcome(
    job: str,
    scope: str,
    key: str,
    attempt: int,
    summary: str | None,
    failure: str | None,
    retry: datetime | None,
    settings: Any,
) -> RunOutcome:
    """The run's outcome, logged: one line, an error when it failed."""
    if failure is None:
        outcome = RunOutcome(job, scope, key, "done", attempt, summary or "")
        log.info("scheduled run: %s", outcome.line())
        return outcome
    again = (
        f"; attempt {attempt} of {settings.max_attempts}, next at {slot_text(retry)}"
        if retry
        else f"; attempt {attempt} of {settings.max_attempts}, not tried again"
    )
    outcome = RunOutcome(job, scope, key, "failed", attempt, failure + again)
    log.error("scheduled run: %s", outcome.line())
    return outcome


def _call(
    context: AppContext,
    job: str,
    slot: datetime,
    scopes: list[str],
    *,
    aws: bool | None,
    delivery: Any,
) -> tuple[Any, str]:
    """Call the job as its module expects; its result, and what to say before its summary."""
    from jobs import JOBS

    def say(line: str) -> None:  # what a job says is detail; the run's one line is ours
        log.debug("%s: %s", job, line)

    extra = {"delivery": delivery} if delivery is not None else {}
    if job == "sync":
        from jobs import sync

        if aws is None and context.config.aws.athena is None and not _aws_credentials_found():
            return sync.run_without_aws(context, slot, say=say, **extra), (
                "no AWS credentials: AWS not read; "
            )
        if aws is False:  # the demo: its store is synthetic
            return sync.run_without_aws(context, slot, say=say, **extra), "AWS not read; "
        return JOBS[job](context, slot, say=say, anomalies=True, **extra), ""
    if job == "weekly-digest":
        extra["teams"] = scopes
    return JOBS[job](context, slot, say=say, **extra), ""


def _per_scope(result: Any, scopes: list[str]) -> dict[str, Any]:
    """Each scope's share of a result: its deliveries (a fan-out names each delivery's
    `team`); a result that names no team, or a single scope, is every scope's."""
    if len(scopes) == 1:
        return {scopes[0]: result}
    deliveries = _deliveries(result)
    if not any(d.get("team") in scopes for d in deliveries):
        return dict.fromkeys(scopes, result)
    return {
        scope: _Deliveries([d for d in deliveries if d.get("team") == scope]) for scope in scopes
    }


@dataclass(frozen=True)
class _Deliveries:
    deliveries: list[dict[str, Any]]


def _aws_credentials_found() -> bool:
    """Whether the standard credential chain finds credentials (environment, files, SSO, an
    instance role): without them the daily sync has no AWS account to read, which is a
    deployment fed by FOCUS exports, not an error."""
    from bot.sources.aws.session import base_session

    try:
        return base_session().get_credentials() is not None
    except Exception:  # a broken profile is the sync's error to report, with its one line
        return True


def _deliveries(result: Any) -> list[dict[str, Any]]:
    deliveries = getattr(result, "deliveries", None)
    if deliveries is None and hasattr(result, "as_json"):
        deliveries = result.as_json().get("deliveries")
    return [d for d in deliveries or [] if isinstance(d, dict)]


def _summary(result: Any, prefix: str = "") -> str:
    counts: dict[str, int] = defaultdict(int)
    for delivery in _deliveries(result):
        counts[delivery.get("status", "?")] += 1
    if not counts:
        return prefix + "nothing to deliver"
    return prefix + ", ".join(f"{count} {status}" for status, count in sorted(counts.items()))


def _failure(result: Any) -> str | None:
    """A result that says it failed (a delivery Slack did not take, a cloud step refused)."""
    failed = [d for d in _deliveries(result) if d.get("status") == "failed"]
    if failed:
        channels = ", ".join(sorted({str(d.get("channel")) for d in failed}))
        return f"{len(failed)} delivery(ies) failed: {channels}"
    if getattr(result, "failed", False):
        return "the job reported a failure"
    return None


def catch_up(
    context: AppContext,
    now: datetime,
    *,
    only: Iterable[tuple[str, str]] | None = None,
    lookback: timedelta = LOOKBACK,
    aws: bool | None = None,
    delivery: Any = None,
) -> list[RunOutcome]:
    """Run every slot due within `schedule.grace_hours` before `now` that is not done (oldest
    first, in the day's job order); record as skipped, and log once, the slots missed since a
    scheduler last ran that are older than that. `only`: (job, scope) pairs, the entries of the
    schedule a cron trigger that fires is for; `lookback`: how far back to look
    for missed slots (at start: LOOKBACK; once running, the grace window and a day)."""
    config = context.config
    grace_start = now - timedelta(hours=config.schedule.grace_hours)
    wanted = None if only is None else set(only)
    entries = [e for e in schedule(config) if wanted is None or (e.job, e.scope) in wanted]
    db = context.open_writer()
    try:
        last = queries.last_job_slots(db)
        anything_last = max(last.values(), default="~")  # "~" sorts after every ISO time
        recorded = {
            (row["job"], row["slot"], row["scope"]): row["status"]
            for row in queries.job_runs_since(db, slot_text(now - lookback))
        }
    finally:
        db.close()
    missed: dict[tuple[str, str], list[DueRun]] = defaultdict(list)
    to_run = []
    for run in due_runs(config, now - lookback, now, entries=entries):
        status = recorded.get((run.job, run.slot_text, run.scope))
        if status in ("done", "skipped"):
            continue
        if run.slot >= grace_start:
            to_run.append(run)
        elif status is None and run.slot_text > last.get((run.job, run.scope), anything_last):
            # Due after the last run a scheduler recorded (of this job and scope; for one never
            # run, of any job), and too old: missed while down. A new install missed nothing.
            missed[(run.job, run.scope)].append(run)
    if missed:
        _record_missed(context, missed, now, config.schedule.grace_hours)
    return _run_together(
        context, [(r.job, r.slot, r.scope) for r in to_run], now, aws=aws, delivery=delivery
    )


def _run_together(
    context: AppContext,
    runs: list[tuple[str, datetime, str]],
    now: datetime,
    *,
    aws: bool | None,
    delivery: Any,
) -> list[RunOutcome]:
    """Run (job, slot, scope) in the order given, the scopes of one job due at one slot in
    one call (`run_slots`): at their first place in the order."""
    groups: dict[tuple[str, datetime], list[str]] = {}
    for job, slot, scope in runs:
        groups.setdefault((job, slot), []).append(scope)
    outcomes = []
    for (job, slot), scopes in groups.items():
        outcomes += run_slots(context, job, slot, scopes, now, aws=aws, delivery=delivery)
    return outcomes


def _record_missed(
    context: AppContext,
    missed: Mapping[tuple[str, str], list[DueRun]],
    now: datetime,
    grace_hours: float,
) -> None:
    reason = (
        f"missed: due more than {grace_hours:g} hour(s) (the grace window) before a scheduler ran"
    )
    db = context.open_writer()
    try:
        for (job, scope), runs in sorted(missed.items()):
            recorded = writers.record_skipped_job_runs(
                db, [(r.job, r.slot_text, r.scope) for r in runs], at=now, reason=reason
            )
            if recorded:  # another scheduler may have recorded (and logged) them first
                where = f" [{scope}]" if scope else ""
                span = (
                    runs[0].slot_text
                    if len(runs) == 1
                    else f"{runs[0].slot_text} .. {runs[-1].slot_text}"
                )
                log.warning(
                    "skipped %d run(s) of %s%s due %s: older than the %g-hour grace window",
                    recorded,
                    job,
                    where,
                    span,
                    grace_hours,
                )
    finally:
        db.close()


def retry_failed(
    context: AppContext, now: datetime, *, aws: bool | None = None, delivery: Any = None
) -> list[RunOutcome]:
    """Run again the failed runs whose next attempt is due, and the runs left `running` by a
    process that died (the claim decides), if their job is still scheduled."""
    config = context.config
    scheduled = {(e.job, e.scope) for e in schedule(config)}
    db = context.open_writer()
    try:
        rows = queries.job_runs_to_retry(db, slot_text(now), config.schedule.max_attempts)
    finally:
        db.close()
    runs = [
        (row["job"], datetime.fromisoformat(row["slot"]), row["scope"])
        for row in rows
        if (row["job"], row["scope"]) in scheduled
    ]
    return _run_together(context, runs, now, aws=aws, delivery=delivery)


def sweep(
    context: AppContext, now: datetime, *, aws: bool | None = None, at_start: bool = False
) -> list[RunOutcome]:
    """What the scheduler does at start and every SWEEP_MINUTES: the retries that are due,
    then the catch-up (which also runs a slot whose trigger was missed, say while the host
    slept). At start it looks back LOOKBACK for missed runs, then only over the grace window."""
    lookback = LOOKBACK if at_start else _recent(context.config)
    return retry_failed(context, now, aws=aws) + catch_up(context, now, lookback=lookback, aws=aws)


def _recent(config: Config) -> timedelta:
    return timedelta(hours=config.schedule.grace_hours, days=1)


def _guarded(what: str, action: Callable[[], object]) -> None:
    """Run `action` in APScheduler's thread: nothing escapes (one line, traceback at debug)."""
    try:
        action()
    except Exception as error:
        log.error("scheduler: %s failed: %s: %s", what, type(error).__name__, error)
        log.debug("scheduler: %s failed", what, exc_info=True)


def _wake(context: AppContext, job: str, scopes: list[str], aws: bool | None) -> None:
    """A cron trigger fired: run its entries' due slots (the one just due among them)."""
    _guarded(
        job,
        lambda: catch_up(
            context,
            datetime.now(UTC),
            only=[(job, scope) for scope in scopes],
            lookback=_recent(context.config),
            aws=aws,
        ),
    )


def _sweep_now(
    context: AppContext, aws: bool | None, label: str, at: datetime | None = None
) -> None:
    def action() -> None:
        outcomes = sweep(context, at or datetime.now(UTC), aws=aws, at_start=bool(label))
        if label:
            log.info("scheduler: %s done: %d run(s)", label, len(outcomes))

    _guarded(label or "sweep", action)


def build_scheduler(
    context: AppContext,
    scheduler_class: type[BaseScheduler],
    *,
    aws: bool | None = None,
    catch_up_at: datetime | None = None,
) -> BaseScheduler:
    """An APScheduler scheduler (BackgroundScheduler in `costbot serve`, BlockingScheduler
    in `costbot scheduler`) with a cron trigger per entry of the schedule, the periodic sweep,
    and, once at start, the catch-up (as at `catch_up_at`, default the moment it runs: tests
    pin it). `aws=False`: the sync reads no AWS (the demo)."""
    config = context.config
    scheduler = scheduler_class(
        timezone=UTC,
        job_defaults={
            # A run missed by APScheduler (a busy pool, a suspended host) is the sweep's to
            # catch up, with its own slot; a trigger never fires twice for it.
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": 60,
        },
    )
    # One trigger per job, cron and time zone: the digests of the teams that share them wake
    # once and go out in one run.
    triggers: dict[tuple[str, str, str], list[ScheduledJob]] = {}
    for entry in schedule(config):
        triggers.setdefault((entry.job, entry.cron, entry.timezone), []).append(entry)
    for (job, _cron, zone), entries in triggers.items():
        scopes = [entry.scope for entry in entries]
        name = job if scopes == [""] else f"{job} ({len(scopes)} team(s) in {zone})"
        scheduler.add_job(
            _wake,
            entries[0].trigger(),
            args=[context, job, scopes, aws],
            id=entries[0].id,
            name=name,
        )
    now = datetime.now(UTC)
    scheduler.add_job(
        _sweep_now,
        IntervalTrigger(minutes=SWEEP_MINUTES, start_date=now + timedelta(minutes=SWEEP_MINUTES)),
        args=[context, aws, ""],
        id="sweep",
        name="sweep",
    )
    scheduler.add_job(
        _sweep_now,
        "date",
        run_date=now,
        args=[context, aws, "catch-up", catch_up_at],
        id="catch-up",
        name="catch-up",
    )
    return scheduler
