"""The `anomalies` job (`costbot run anomalies [--date D] [--dry-run] [--json]`, and after every
`costbot run sync`): find what is unusual in the cost data up to D, alert each event once, and
post at most one message per channel per day.

The run on day D sees only cost rows dated D or earlier, and the state earlier runs left in
`anomaly_episodes` (what was alerted, marked expected, muted). So a backtest that replays days
in order posts exactly what live runs would have posted, and a re-run of a day posts nothing
new: its events are already episodes.

Episodes. A finding continues an episode of the same series when it starts on the episode's
start, or while the episode was still anomalous the day before it (a spike that dips for a day
is one event). A continued episode is alerted again only when its excess per day has grown by
`follow_up_growth` since its last alert. An episode someone marked Expected is never alerted
again: its new level is normal. An episode whose series is no longer anomalous is closed.

Order of writes. The episodes of a message are recorded before it is posted (its buttons carry
their ids); if Slack does not take the message, they are taken back, so the next run alerts
them again instead of losing them.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np
import sqlite_utils

from bot.analytics.anomalies import (
    Alert,
    Finding,
    SeriesSet,
    detect,
    dollar_floors,
    expected_band,
)
from bot.analytics.anomaly_series import MicroSeries, load_series_micros
from bot.analytics.root_cause import root_cause
from bot.config import AnomalySettings, Config
from bot.context import AppContext
from bot.money import to_micros
from bot.render.anomalies import anomaly_message, anomaly_status_text, largest_first
from bot.render.charts import anomaly_chart
from bot.store import open_store, queries, writers

log = logging.getLogger(__name__)

Say = Callable[[str], None]

# The days of cost the detector reads: its baseline, the month-start charges of the months
# before, and the weeks a drift is measured against.
HISTORY_DAYS = 400
# The chart of an alert: the last 60 days.
CHART_DAYS = 60
# A finding that starts within this many days after an episode's last anomalous day continues
# that episode (a spike that dips for a day is one event).
CONTINUES_WITHIN_DAYS = 2


@dataclass
class AnomalyRun:
    """What a run found and did."""

    date: date
    dry_run: bool = False
    data_through: date | None = None  # the last day with cost data, D or earlier
    alerts: list[Alert] = field(default_factory=list)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    continued: int = 0  # findings that continue an episode already alerted
    muted: int = 0  # findings of muted series
    closed: int = 0  # episodes that ended

    def as_json(self) -> dict[str, Any]:
        return {
            "job": "anomalies",
            "date": self.date.isoformat(),
            "data_through": self.data_through.isoformat() if self.data_through else None,
            "dry_run": self.dry_run,
            "alerts": [alert.as_json() for alert in self.alerts],
            "deliveries": self.deliveries,
            "continued": self.continued,
            "muted": self.muted,
            "closed": self.closed,
        }

    def lines(self) -> list[str]:
        if self.data_through is None:
            return [f"Anomalies: no cost data up to {self.date.isoformat()}"]
        verb = "would alert" if self.dry_run else "alerted"
        lines = [
            f"Anomalies on data through {self.data_through.isoformat()}: {verb} "
            f"{len(self.alerts)}, {self.continued} continuing, {self.muted} muted, "
            f"{self.closed} ended"
        ]
        for alert in self.alerts:
            shown = alert.as_json()
            where = " / ".join(
                part
                for part in (alert.key.team or "untagged", alert.key.service, alert.key.account)
                if part
            )
            lines.append(
                f"  {alert.kind} {where}: expected {shown['expected_per_day']}/day,"
                f" got {shown['actual_per_day']}/day since {alert.start.isoformat()}"
                f" -> {alert.channel}"
            )
        for delivery in self.deliveries:
            lines.append(f"  {delivery['status']}: {delivery['channel']} ({delivery['key']})")
        return lines


def channel_for(config: Config, team: str | None) -> str:
    """The team's channel; untagged spend and teams without one: the anomalies channel."""
    return config.team_channel(team) or config.anomalies.channel


def run(
    context: AppContext,
    now: datetime | date,
    *,
    dry_run: bool = False,
    delivery: Any = None,
    say: Say | None = None,
) -> AnomalyRun:
    """Detect, alert and post for the job's day `now`. `delivery` (a bot.slack.delivery
    Delivery) posts the messages; a dry run needs none and writes nothing."""
    day = now.date() if isinstance(now, datetime) else now
    report = AnomalyRun(day, dry_run=dry_run)
    db = open_store(context.db_path)
    try:
        plan = _plan(db, context.config, day, report)
        if plan and not dry_run:
            _deliver(db, context, plan, report, delivery)
        elif plan:
            report.alerts = [alert for alerts in plan.values() for alert in alerts]
    finally:
        db.close()
    for line in report.lines() if say else ():
        say(line)
    return report


# ---- what to alert


def _plan(
    db: sqlite_utils.Database, config: Config, day: date, report: AnomalyRun
) -> dict[str, list[Alert]]:
    """The alerts of the run, by channel; records the episodes that continue or end (not in a
    dry run). Alerts of new episodes carry no episode id yet."""
    settings = config.anomalies
    exact = load_series_micros(db, config, day, HISTORY_DAYS)
    end = _last_day_with_cost(exact)
    if end is None:
        return {}
    if end < exact.last_day:  # cost lands late: judge the last day that has any
        exact = _cut(exact, end)
    series = exact.series_set()
    report.data_through = end
    # Episodes of a later day (a run of an earlier --date after it) are left as they are.
    episodes = [
        e
        for e in queries.anomaly_episodes_since(db, end - timedelta(days=CONTINUES_WITHIN_DAYS))
        if date.fromisoformat(e["start"]) <= end
    ]
    by_series: dict[str, list[dict]] = defaultdict(list)
    for episode in episodes:
        by_series[episode["series"]].append(episode)
    findings = detect(series, settings, adopted_from=_adopted(series, episodes, end, settings))
    mutes = queries.anomaly_mutes(db, day)
    alerts: dict[str, list[Alert]] = defaultdict(list)
    still_anomalous: set[int] = set()
    for finding in findings:
        key = series.keys[finding.row]
        episode = _continued_episode(by_series.get(key.text, []), finding, end)
        if episode is None:
            # An event the detector still dates from an episode that ended a while ago (a
            # drift, a ramp climbing in steps): the same event, not a new one.
            episode = queries.anomaly_episode_starting(db, key.text, finding.start)
        if episode is not None:
            still_anomalous.add(episode["id"])
        if key.text in mutes:
            report.muted += 1
            if episode is not None and not report.dry_run:
                _continue(db, episode, end, episode["kind"])
            continue
        alert = _alert(exact, config, finding, end)
        if episode is None:
            alerts[alert.channel].append(alert)
            continue
        if _never_posted(db, episode):
            # Recorded, but the process stopped before Slack took the message: alert it now.
            again = replace(alert, start=date.fromisoformat(episode["start"]))
            alerts[alert.channel].append(replace(again, episode_id=episode["id"]))
            continue
        report.continued += 1
        grown = alert.increase_micros >= settings.follow_up_growth * max(
            episode["alerted_excess_micros"] or 0, 1
        )
        if episode["status"] != "expected" and grown:
            alerts[alert.channel].append(_as_follow_up(alert, episode))
        elif not report.dry_run:
            _continue(db, episode, end, alert.kind)
    report.closed = _close_ended(db, episodes, still_anomalous, end, report.dry_run)
    floors = dollar_floors(series, settings) if alerts else None
    return {
        channel: [
            _with_detail(db, config, series, a, floors)
            for a in largest_first(channel_alerts, config.currency)
        ]
        for channel, channel_alerts in alerts.items()
    }


def _adopted(
    series: SeriesSet, episodes: list[dict], end: date, settings: AnomalySettings
) -> dict[int, date]:
    """Rows whose level someone marked Expected, from the episode's start: while that start
    is within the baseline the detector learns from (later, the level is in it anyway)."""
    row_of = {key.text: row for row, key in enumerate(series.keys)}
    since = end - timedelta(days=settings.baseline_days)
    adopted: dict[int, date] = {}
    for episode in episodes:
        start = date.fromisoformat(episode["start"])
        row = row_of.get(episode["series"])
        if episode["status"] == "expected" and row is not None and start >= since:
            adopted[row] = max(start, adopted.get(row, start))
    return adopted


def _continue(db: sqlite_utils.Database, episode: dict, end: date, kind: str) -> None:
    """The episode is still going on through `end` (never moved back by an earlier --date)."""
    last = max(end.isoformat(), episode["last_day"] or episode["start"])
    status = "open" if episode["status"] == "closed" else episode["status"]
    writers.update_episode(db, episode["id"], last_day=last, kind=kind, status=status)


def _never_posted(db: sqlite_utils.Database, episode: dict) -> bool:
    key = episode["delivery_key"]
    recorded = queries.delivery(db, key) if key else None
    return recorded is None or recorded["status"] == "failed"


def _last_day_with_cost(exact: MicroSeries) -> date | None:
    spent = np.flatnonzero((exact.micros != 0).any(axis=0))
    return exact.first_day + timedelta(days=int(spent[-1])) if spent.size else None


def _cut(exact: MicroSeries, end: date) -> MicroSeries:
    columns = (end - exact.first_day).days + 1
    return MicroSeries(exact.keys, exact.first_day, exact.micros[:, :columns], exact.team_row)


def _continued_episode(episodes: list[dict], finding: Finding, end: date) -> dict | None:
    """The episode a finding continues: the same start, or an event that began while the
    episode was anomalous or within CONTINUES_WITHIN_DAYS after. An episode marked expected is
    continued only by its own start: a later rise is a new event. Episodes that start after
    the run's day (a run of an earlier --date) are not this run's."""
    for episode in reversed(episodes):
        if date.fromisoformat(episode["start"]) > end:
            continue
        if episode["start"] == finding.start.isoformat():
            return episode
        if episode["status"] == "expected":
            continue
        last = date.fromisoformat(episode["last_day"] or episode["start"])
        if 0 <= (finding.start - last).days <= CONTINUES_WITHIN_DAYS or (
            date.fromisoformat(episode["start"]) <= finding.start <= last
        ):
            return episode
    return None


def _alert(exact: MicroSeries, config: Config, finding: Finding, end: date) -> Alert:
    """The finding as an alert: got per day is the store's exact cost over the days the
    detector measured, expected per day its baseline to the cent."""
    key = exact.keys[finding.row]
    days = finding.days or tuple(
        finding.start + timedelta(days=n) for n in range((end - finding.start).days + 1)
    )
    total = exact.total_on(finding.row, days)
    actual = int((Decimal(total) / len(days)).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    expected = to_micros(
        Decimal(repr(finding.expected_per_day)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    )
    return Alert(
        key=key,
        kind=finding.kind,
        start=finding.start,
        day=end,
        expected_micros=max(expected, 0),
        actual_micros=actual,
        channel=channel_for(config, key.team),
    )


def _as_follow_up(alert: Alert, episode: dict) -> Alert:
    return replace(
        alert,
        start=date.fromisoformat(episode["start"]),
        follow_up=True,
        episode_id=episode["id"],
    )


def _with_detail(
    db: sqlite_utils.Database,
    config: Config,
    series: SeriesSet,
    alert: Alert,
    floors: np.ndarray,
) -> Alert:
    """The alert with its root cause, its account's name and the chart's series."""
    row = series.keys.index(alert.key)
    causes = root_cause(db, config, alert.key, alert.start, alert.day)
    band = expected_band(
        series.cost[row], series.first_day, config.anomalies, CHART_DAYS, float(floors[row])
    )
    name = queries.account_name(db, alert.key.account) if alert.key.account else None
    return replace(alert, root_cause=causes, band=band, account_name=name)


def _close_ended(
    db: sqlite_utils.Database,
    episodes: list[dict],
    still_anomalous: set[int],
    end: date,
    dry_run: bool,
) -> int:
    """Close the open episodes no longer anomalous on `end`. An episode marked expected stays
    so: that is what keeps its level normal (see `_adopted`)."""
    ended = [
        e
        for e in episodes
        if e["status"] == "open"
        and e["id"] not in still_anomalous
        and date.fromisoformat(e["last_day"] or e["start"]) < end
    ]
    if not dry_run:
        for episode in ended:
            writers.update_episode(db, episode["id"], status="closed")
    return len(ended)


# ---- posting


def delivery_key(channel: str, day: date) -> str:
    """One message per channel per day."""
    return f"anomalies:{channel}:{day.isoformat()}"


def _deliver(
    db: sqlite_utils.Database,
    context: AppContext,
    plan: dict[str, list[Alert]],
    report: AnomalyRun,
    delivery: Any,
) -> None:
    if delivery is None:  # the bot token of the environment
        from bot.slack.client import build_web_client
        from bot.slack.delivery import Delivery

        delivery = Delivery(build_web_client(), context.open_writer)
    for channel, alerts in sorted(plan.items()):
        key = delivery_key(channel, report.date)
        # Episodes alerted again (follow-ups, messages never posted), as they were.
        before = {
            a.episode_id: queries.anomaly_episode(db, a.episode_id)
            for a in alerts
            if a.episode_id is not None
        }
        recorded = [_record(db, alert, key) for alert in alerts]
        message, chart = _render(db, context.config, recorded, report.data_through or report.date)
        posted = delivery.post(channel, message, chart, key=key, kind="alert")
        if posted.status == "duplicate":
            # Today's message for the channel is out (an earlier run): the rest go in its thread.
            posted = _post_in_thread(delivery, channel, message, chart, key)
        report.deliveries.append(
            {
                "channel": channel,
                "key": posted.key,
                "text": message["text"],
                "status": posted.status,
            }
        )
        if posted.ok:
            report.alerts.extend(recorded)
        else:
            _take_back(db, recorded, before)


def _render(
    db: sqlite_utils.Database | None, config: Config, alerts: list[Alert], day: date
) -> tuple[dict, Any]:
    """The channel's message, and the chart of its largest alert (none without a band)."""
    ranked = largest_first(alerts, config.currency)
    teams = {alert.key.team for alert in ranked}
    team_label = next(iter(teams)) if len(teams) == 1 and None not in teams else None
    statuses = {}
    for alert in ranked:
        if db is not None and alert.follow_up and alert.episode_id is not None:
            episode = queries.anomaly_episode(db, alert.episode_id)
            actions = queries.anomaly_actions(db, alert.episode_id)
            if episode and (actions or episode.get("acknowledged_by")):
                statuses[alert.episode_id] = anomaly_status_text(episode, actions)
    message = anomaly_message(
        ranked,
        day,
        team_label=team_label,
        mute_days=config.anomalies.mute_days,
        statuses=statuses,
        currency=config.currency,
    )
    chart = anomaly_chart(ranked[0]) if ranked[0].band is not None else None
    return message, chart


def _post_in_thread(delivery: Any, channel: str, message: dict, chart: Any, key: str) -> Any:
    """A later run's alerts of the same day: in the thread of the day's message, keyed
    `<key>:2`, `<key>:3`, ... (one per run that found more). While the day's message is still
    being posted (another run), nothing: the next run alerts them."""
    from bot.slack.delivery import Delivered

    first = delivery.recorded(key)
    if first is None or first["status"] != "sent" or not first["ts"]:
        return Delivered(key, "pending")
    number = 2
    while (earlier := delivery.recorded(f"{key}:{number}")) and earlier["status"] == "sent":
        number += 1
    return delivery.post(
        channel, message, chart, key=f"{key}:{number}", kind="alert", thread_ts=first["ts"]
    )


def _record(db: sqlite_utils.Database, alert: Alert, key: str) -> Alert:
    """Record the alert about to be posted: a new episode (its id goes in the buttons), or the
    episode it alerts again (a follow-up, or a message that never reached Slack)."""
    fields = {
        "kind": alert.kind,
        "last_day": alert.day.isoformat(),
        "expected_micros": alert.expected_micros,
        "actual_micros": alert.actual_micros,
        "alerted_excess_micros": alert.increase_micros,
        "root_cause": _causes_json(alert),
        "channel": alert.channel,
        "delivery_key": key,
    }
    if alert.episode_id is not None:
        episode = queries.anomaly_episode(db, alert.episode_id) or {}
        alerts = (episode.get("alerts") or 1) + (1 if alert.follow_up else 0)
        status = "open" if episode.get("status") == "closed" else episode.get("status", "open")
        writers.update_episode(db, alert.episode_id, alerts=alerts, status=status, **fields)
        return alert
    episode_id = writers.open_episode(
        db,
        series=alert.key.text,
        team=alert.key.team,
        service=alert.key.service,
        account_id=alert.key.account,
        currency=alert.key.currency,
        start=alert.start.isoformat(),
        detected_on=alert.day.isoformat(),
        **fields,
    )
    return replace(alert, episode_id=episode_id)


def _take_back(
    db: sqlite_utils.Database, recorded: list[Alert], before: dict[int | None, dict | None]
) -> None:
    """Slack did not take the message: forget its new episodes (the next run alerts them
    again), and put the episodes it alerted again back as they were."""
    for alert in recorded:
        previous = before.get(alert.episode_id)
        if previous is not None:
            restored = {k: v for k, v in previous.items() if k not in ("id", "updated_at")}
            writers.update_episode(db, alert.episode_id, **restored)
        elif alert.episode_id is not None:
            with db.atomic():
                db.execute("DELETE FROM anomaly_episodes WHERE id = ?", [alert.episode_id])


def _causes_json(alert: Alert) -> str:
    return json.dumps([cause.as_json() for cause in alert.root_cause])


# ---- the demo's preview


def preview(context: AppContext, day: date) -> list[tuple[str, dict, Any]]:
    """(channel, message, chart) of what a run on `day` would post, without recording
    anything: the demo's preview. The alerts are numbered in place of episode ids, so their
    buttons show as they would in Slack."""
    report = AnomalyRun(day, dry_run=True)
    db = open_store(context.db_path)
    try:
        plan = _plan(db, context.config, day, report)
    finally:
        db.close()
    messages = []
    number = 0
    for channel, alerts in sorted(plan.items()):
        shown = []
        for alert in alerts:
            number += 1
            shown.append(replace(alert, episode_id=alert.episode_id or number))
        message, chart = _render(None, context.config, shown, report.data_through or day)
        messages.append((channel, message, chart))
    return messages
