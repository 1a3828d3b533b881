"""Delivering a scheduled job's messages to many channels: the weekly digests, the monthly and
quarterly reports, the champions' celebration.

A job builds its `Outgoing` messages (plain data: channel, key, message, and the chart as a
`ChartSpec` to render) and hands them to `fan_out`, which
  - skips the keys already delivered (a re-run, a restart, a second scheduler: nothing twice),
    before rendering anything;
  - renders the charts in parallel, in worker processes when there are many (matplotlib holds
    the GIL, so threads would render one at a time);
  - posts through `bot.slack.delivery` (which records each key before posting and looks in the
    channel's history before posting an unfinished one again), several channels at once, and
    at most one message a second to any one channel (Slack's limit for chat.postMessage;
    a 429's Retry-After is honoured by the client);
  - finishes the other channels when one fails (bot not in the channel, archived, not found),
    and reports the failures once, in one message to the admin channel.

Keys are `<job>:<period>:<channel>` ("weekly-digest:2026-10-19:#team-payments"): the issue's
(job, period, channel), so that one period is delivered once to each channel.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from bot.render import blocks
from bot.render.cost import Chart
from bot.slack.delivery import with_chart_note
from bot.store import queries

log = logging.getLogger(__name__)

Say = Callable[[str], None]
Message = dict[str, Any]

# Slack's chat.postMessage limit: about one message a second per channel.
SECONDS_BETWEEN_POSTS_TO_A_CHANNEL = 1.0
# Channels posted to at once. Slack allows bursts across channels; the chart uploads are what
# takes the time, so a handful of connections keeps the fan-out bound by Slack, not by us.
POSTING_THREADS = 8
# Below this many charts, rendering them here is quicker than starting worker processes:
# starting the pool (a forkserver importing matplotlib, then the workers) costs about 3.5 s of
# CPU, some 25 charts' worth at ~0.13 s each (bench/fanout_bench.py --quick --channels 12).
CHARTS_FOR_A_PROCESS_POOL = 32
# Chart worker processes: one per core (os.cpu_count()) unless this environment variable names
# how many. 1 renders every chart in the posting process (the benchmark's baseline, or a host
# short of memory); in a container limited to fewer CPUs than the host has, set it to that
# limit, since os.cpu_count() counts the host's cores. Read at each run.
CHART_PROCESSES_VARIABLE = "COSTBOT_CHART_PROCESSES"
# Errors that mean "this channel cannot be posted to" (an admin must act), not "try again".
CHANNEL_PROBLEMS = {
    "not_in_channel": "Costbot is not in the channel: `/invite @Costbot` there",
    "channel_not_found": "the channel does not exist, or is private without Costbot in it",
    "is_archived": "the channel is archived",
    "restricted_action": "posting there is restricted by the workspace",
    "restricted_action_read_only_channel": "the channel is read-only",
}
# Where a message's chart would have been, when it could not be drawn.
CHART_NOT_DRAWN_NOTE = "📉 No chart this time: it could not be drawn (the figures above stand)."
# Statuses of a delivery in a job's JSON: sent (now), duplicate (delivered before; with
# `recovered: true` when an earlier run died before recording it and its message was found in
# the channel's history), failed, dry-run (what a run would send).
DRY_RUN = "dry-run"


@dataclass(frozen=True)
class ChartSpec:
    """A chart to render: `render(*args)` returns a Chart. Module-level function and plain data,
    so that it can be rendered in a worker process."""

    render: Callable[..., Chart]
    args: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Outgoing:
    """One message a job wants delivered."""

    channel: str
    key: str
    message: Message  # {"text", "blocks"}; the chart goes where the renderer put the placeholder
    chart: ChartSpec | None = None
    period: str = ""  # what the message is for: 2026-10-19 (week), 2026-10 (month), 2026-Q3
    scope: str | None = None  # a team, or None for the organisation


def delivery_key(job: str, period: str, channel: str) -> str:
    return f"{job}:{period}:{channel}"


@dataclass
class JobResult:
    """What a delivering job did: `costbot run JOB --json` prints `as_json()`."""

    job: str
    date: date
    dry_run: bool = False
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the job says about its run

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [d for d in self.deliveries if d["status"] == "failed"]

    def as_json(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "date": self.date.isoformat(),
            "dry_run": self.dry_run,
            "deliveries": self.deliveries,
            "notes": self.notes,
        }

    def lines(self) -> list[str]:
        counts: dict[str, int] = defaultdict(int)
        for delivery in self.deliveries:
            counts[delivery["status"]] += 1
        summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "nothing"
        lines = [f"{self.job} for {self.date.isoformat()}: {summary}", *self.notes]
        for delivery in self.deliveries:
            error = f" ({delivery['error']})" if delivery.get("error") else ""
            lines.append(f"  {delivery['status']}: {delivery['channel']} {delivery['key']}{error}")
        return lines


def fan_out(
    outgoing: Sequence[Outgoing],
    result: JobResult,
    *,
    delivery: Any = None,
    open_reader: Callable[[], Any] | None = None,
    admin_channel: str | None = None,
    posting_threads: int = POSTING_THREADS,
    chart_processes: int | None = None,
) -> JobResult:
    """Deliver `outgoing` (see the module docstring); each delivery's outcome is appended to
    `result.deliveries` in `outgoing`'s order. A dry run (`result.dry_run`) renders no chart
    and posts nothing. `open_reader` opens the store, to skip keys already delivered before
    rendering their charts."""
    if result.dry_run:
        result.deliveries.extend(_entry(item, DRY_RUN) for item in outgoing)
        return result
    if delivery is None:
        raise ValueError("fan_out needs a Delivery unless it is a dry run")
    done = _already_delivered(outgoing, open_reader)
    todo = [item for item in outgoing if item.key not in done]
    outcomes: dict[str, dict[str, Any]] = {key: {"status": "duplicate"} for key in done}
    pacer = _ChannelPacer()
    with _ChartRenderer(todo, chart_processes) as charts:
        by_channel: dict[str, list[Outgoing]] = defaultdict(list)
        for item in todo:
            by_channel[item.channel].append(item)

        def post_channel(items: list[Outgoing]) -> None:
            for item in items:
                try:
                    outcomes[item.key] = post_one(item)
                except Exception as error:
                    # Not Slack's answer (that is in Delivered) but a bug or the store: this
                    # delivery fails, the channel's other messages and the other channels go on.
                    log.exception("Delivering %s to %s failed", item.key, item.channel)
                    outcomes[item.key] = {"status": "failed", "error": type(error).__name__}

        def post_one(item: Outgoing) -> dict[str, Any]:
            chart = charts.get(item.key)
            message = item.message
            if item.chart is not None and chart is None:
                message = with_chart_note(message, CHART_NOT_DRAWN_NOTE)
            pacer.wait_turn(item.channel)
            try:
                posted = delivery.post(
                    item.channel,
                    message,
                    chart,
                    key=item.key,
                    kind=result.job,
                    job=result.job,
                    period=item.period,
                )
            finally:
                pacer.done(item.channel)
            outcome: dict[str, Any] = {"status": posted.status, "error": posted.error}
            if posted.ok and posted.recovered:
                # An earlier run's message, found in the channel: this run posted nothing.
                outcome.update(status="duplicate", recovered=True)
            return outcome

        with ThreadPoolExecutor(max_workers=max(1, posting_threads)) as posters:
            for future in [posters.submit(post_channel, items) for items in by_channel.values()]:
                future.result()
    for item in outgoing:
        outcome = outcomes[item.key]
        entry = _entry(item, outcome["status"])
        if outcome.get("error"):
            entry["error"] = outcome["error"]
        if outcome.get("recovered"):
            entry["recovered"] = True
        result.deliveries.append(entry)
    problems = [d for d in result.deliveries if d["status"] == "failed"]
    if problems and admin_channel:
        pacer.wait_turn(admin_channel)  # it may have had a message of this run just now
        _report_problems(delivery, result, problems, admin_channel)
    return result


def deliver(
    context: Any,
    outgoing: Sequence[Outgoing],
    result: JobResult,
    *,
    delivery: Any = None,
    say: Say | None = None,
) -> JobResult:
    """A delivering job's last step: fan `outgoing` out (with the environment's bot token when
    `delivery` is None and it is not a dry run), failures reported to the admin channel, then
    say what was done. `context`: the job's AppContext."""
    if outgoing:
        if delivery is None and not result.dry_run:
            from bot.slack.client import build_web_client
            from bot.slack.delivery import Delivery

            delivery = Delivery(build_web_client(), context.open_writer)
        fan_out(
            outgoing,
            result,
            delivery=delivery,
            open_reader=context.open_db,
            admin_channel=context.config.slack.admin_channel,
        )
    for line in result.lines() if say else ():
        say(line)
    return result


def _entry(item: Outgoing, status: str) -> dict[str, Any]:
    return {
        "channel": item.channel,
        "key": item.key,
        "text": item.message.get("text", ""),
        "status": status,
        "period": item.period,
        "team": item.scope,
    }


def _already_delivered(
    outgoing: Sequence[Outgoing], open_reader: Callable[[], Any] | None
) -> set[str]:
    if open_reader is None:
        return set()
    db = open_reader()
    try:
        return {
            item.key
            for item in outgoing
            if (row := queries.delivery(db, item.key)) and row["status"] == "sent"
        }
    finally:
        db.close()


def _report_problems(
    delivery: Any, result: JobResult, problems: list[dict[str, Any]], admin_channel: str
) -> None:
    """One message to the admin channel for this run's failed channels, once per job and
    period (a re-run that fails again does not repeat it)."""
    periods = sorted({p["period"] for p in problems if p.get("period")})
    key = f"delivery-problems:{result.job}:{','.join(periods) or result.date.isoformat()}"
    lines = []
    for problem in problems:
        why = CHANNEL_PROBLEMS.get(problem.get("error") or "")
        reason = why or f"Slack answered `{blocks.escape_mrkdwn(problem.get('error') or '?')}`"
        lines.append(f"{blocks.escape_mrkdwn(problem['channel'])}: {reason}")
    title = (
        f"⚠️ Costbot could not deliver the {result.job} to {len(problems)} channel"
        f"{'s' if len(problems) != 1 else ''} ({result.date.isoformat()})"
    )
    again = f"costbot run {result.job} --date {result.date.isoformat()}"
    message = blocks.message(
        title,
        [
            blocks.section(f"*{blocks.escape_mrkdwn(title)}*"),
            blocks.section(blocks.bulleted_list(lines, escape=False)),
            blocks.context([f"The other channels got theirs. Fix these, then run `{again}`."]),
        ],
    )
    posted = delivery.post(admin_channel, message, key=key, kind="problems", job=result.job)
    if not posted.ok and posted.status != "duplicate":
        log.error("Could not report delivery problems to %s: %s", admin_channel, posted.error)
    result.notes.append(f"delivery problems reported to {admin_channel}: {posted.status}")


class _ChannelPacer:
    """At most one post a second per channel, across the posting threads. The second is
    counted from the end of the previous post (its answer), not its start: a delivery uploads
    its chart before posting, so two posts started a second apart could reach Slack closer
    than that, and draw a 429. One channel's messages are posted by one thread, in order."""

    def __init__(self, interval: float = SECONDS_BETWEEN_POSTS_TO_A_CHANNEL) -> None:
        self._interval = interval
        self._done_at: dict[str, float] = {}
        self._lock = threading.Lock()

    def wait_turn(self, channel: str) -> None:
        with self._lock:
            last = self._done_at.get(channel)
        if last is not None:
            wait = last + self._interval - time.monotonic()
            if wait > 0:
                time.sleep(wait)

    def done(self, channel: str) -> None:
        with self._lock:
            self._done_at[channel] = time.monotonic()


def render_chart(spec: ChartSpec) -> Chart | None:
    """Render one chart; a chart that fails is left out (the message says so), not the
    message."""
    try:
        return spec.render(*spec.args)
    except Exception:
        log.exception("A chart could not be rendered; its message goes without it")
        return None


def default_chart_processes() -> int:
    """How many chart worker processes a fan-out starts when its caller does not say:
    $COSTBOT_CHART_PROCESSES if it is a whole number of at least 1, else one per core."""
    raw = os.environ.get(CHART_PROCESSES_VARIABLE, "").strip()
    if raw:
        try:
            value = int(raw)
        except ValueError:
            value = 0
        if value >= 1:
            return value
        log.warning(
            "%s=%r is not a number of processes (1 or more): ignored", CHART_PROCESSES_VARIABLE, raw
        )
    return os.cpu_count() or 1


class _ChartRenderer:
    """The charts of the messages to post, rendered ahead of the posts: in worker processes
    when there are many, else here when asked for."""

    def __init__(self, todo: Sequence[Outgoing], processes: int | None) -> None:
        self._specs = {item.key: item.chart for item in todo if item.chart is not None}
        workers = processes if processes is not None else default_chart_processes()
        self._pool: ProcessPoolExecutor | None = None
        self._futures: dict[str, Future] = {}
        if len(self._specs) >= CHARTS_FOR_A_PROCESS_POOL and workers > 1:
            # forkserver: a clean process (no copy of the caller's threads and sockets).
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["bot.render.charts", "matplotlib.pyplot"])
            self._pool = ProcessPoolExecutor(max_workers=workers, mp_context=context)
            self._futures = {
                key: self._pool.submit(render_chart, spec) for key, spec in self._specs.items()
            }

    def get(self, key: str) -> Chart | None:
        if key in self._futures:
            try:
                return self._futures.pop(key).result()
            except Exception:
                # The worker died, or the chart could not be sent back: the message goes
                # without it, like a chart that failed to render.
                log.exception("A chart's worker process failed; its message goes without it")
                return None
        spec = self._specs.get(key)
        return render_chart(spec) if spec is not None else None

    def __enter__(self) -> _ChartRenderer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
