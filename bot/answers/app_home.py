"""The App Home tab: a plain function of (store, config, viewer, today) returning the `home`
view that handlers/events/app_home.py publishes on every `app_home_opened`.

A viewer sees the teams whose `members` or `leads` name them (`config.teams_of_user`), each
with the figures the rest of Costbot already computes, so the tab never disagrees with them:
- spend month to date, budget burn and the month-end forecast: `/cost team`'s summary
  (bot.analytics.cost_report.summarise), one figure per billing currency;
- open anomalies: the `anomaly_episodes` the anomaly job left open, largest increase first;
- resources missing required tags: `/untagged`'s compliance of the team for the month
  (bot.analytics.tag_compliance);
- the latest weekly digest: the newest `weekly-digest` delivery to the team's channel.
A viewer in no team sees the organisation's top teams and how to be added.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import sqlite_utils

from bot.analytics.champions import month_name, team_record
from bot.analytics.cost_report import rank, summarise
from bot.analytics.tag_compliance import ComplianceReport, compliance
from bot.config import Config, Team
from bot.money import format_money
from bot.periods import Period, parse_period
from bot.render import app_home as render
from bot.render import blocks
from bot.render.app_home import HomeFigures, LatestDigest, OpenAnomaly, TeamGlance
from bot.render.preview import PreviewMessage
from bot.store import queries
from bot.store.queries import Scope

DIGEST_JOB = "weekly-digest"


def home_view(
    db: sqlite_utils.Database, config: Config, user_id: str, today: date
) -> dict[str, Any]:
    """The Home tab of `user_id` (a Slack `home` view, at most 100 blocks)."""
    return render.home_view(home_figures(db, config, user_id, today))


def home_figures(
    db: sqlite_utils.Database, config: Config, user_id: str, today: date
) -> HomeFigures:
    coverage = queries.data_range(db)
    teams = config.teams_of_user(user_id)
    if coverage is None:
        return HomeFigures(
            user_id, today, None, None, config.cost_metric, None, in_no_team=not teams
        )
    period, note = month_shown(today, coverage)
    if not teams:
        return HomeFigures(
            user_id,
            today,
            *coverage,
            config.cost_metric,
            period,
            note,
            overview=rank(db, period, "team", config.cost_metric),
            in_no_team=True,
        )
    episodes = queries.open_anomaly_episodes(db)
    # One pass over the inventory for every team: /untagged's figures for the month shown.
    tagging = compliance(db, config, period.end)
    glances = tuple(_glance(db, config, team, period, episodes, tagging, today) for team in teams)
    return HomeFigures(user_id, today, *coverage, config.cost_metric, period, note, teams=glances)


def month_shown(today: date, coverage: tuple[date, date]) -> tuple[Period, str]:
    """This month to date, clipped to the stored days; when the store holds nothing of it
    yet (data late across a month's end), the last month with data, saying why."""
    first, last = coverage
    period = parse_period("mtd", today).clipped(first, last)
    if period.start <= period.end:
        return period, ""
    start = last.replace(day=1)
    following = (start + timedelta(days=32)).replace(day=1)
    month = Period(start, following - timedelta(days=1), "month", start.strftime("%Y-%m"))
    note = f"no cost data for {(today - timedelta(days=1)):%B %Y} yet"
    return month.clipped(first, last), note


def _glance(
    db: sqlite_utils.Database,
    config: Config,
    team: Team,
    period: Period,
    episodes: list[dict],
    tagging: ComplianceReport,
    today: date,
) -> TeamGlance:
    summary = summarise(
        db,
        subject_kind="team",
        subject=team.name,
        scope=Scope(team=team.name),
        period=period,
        breakdown_by="service",
        metric=config.cost_metric,
        monthly_budget_micros=team.monthly_budget_micros,
        budget_currency=config.currency,
    )
    return TeamGlance(
        name=team.name,
        channel=team.channel,
        summary=summary,
        anomalies=tuple(_open_anomaly(e) for e in episodes if e.get("team") == team.name),
        untagged=tagging.scope("team", team.name),
        untagged_month=period.start.strftime("%B %Y"),
        untagged_currency=config.currency,
        latest_digest=latest_digest(db, team.channel),
        champion_blocks=tuple(champion_blocks(db, config, team, today)),
    )


def _open_anomaly(episode: dict) -> OpenAnomaly:
    if episode.get("service"):
        what = episode["service"]
        if episode.get("account_id"):
            what += f" · account {episode['account_id']}"
    else:
        what = "all services"
    return OpenAnomaly(
        what=what,
        kind=episode.get("kind") or "anomaly",
        since=date.fromisoformat(episode["start"]),
        expected_micros=episode.get("expected_micros") or 0,
        actual_micros=episode.get("actual_micros") or 0,
        currency=episode.get("currency") or "USD",
    )


def latest_digest(db: sqlite_utils.Database, channel: str | None) -> LatestDigest | None:
    """The newest weekly digest sent to `channel` (as configured, or by the id Slack answered
    for it), with its fallback text from the recorded payload."""
    if not channel:
        return None
    row = queries.latest_delivery(db, DIGEST_JOB, channel)
    if row is None and channel.startswith("#"):
        known_id = queries.channel_id(db, channel)
        row = queries.latest_delivery(db, DIGEST_JOB, known_id) if known_id else None
    if row is None:
        return None
    try:
        text = str((json.loads(row.get("payload") or "{}") or {}).get("text") or "")
    except (ValueError, AttributeError):
        text = ""
    return LatestDigest(
        channel=channel,
        period=row.get("period"),
        sent_at=row.get("updated_at") or row.get("created_at"),
        text=text,
        channel_id=row.get("channel_id"),
        ts=row.get("ts"),
    )


# ---- cost champions: a team's record of wins --------------------------------------------------
# The place for the team's record of cost-champion wins (issue 12, `bot.analytics.champions`):
# blocks shown under the team's figures. Empty until that module exists; the lead wires it in.
# Each team may add a few blocks: keep it to at most 2 (home_view cuts teams to fit 100 blocks).


# The months of cost-champion record a team's Home section shows (newest first).
CHAMPION_MONTHS = 3


def champion_blocks(
    db: sqlite_utils.Database, config: Config, team: Team, today: date
) -> list[dict[str, Any]]:
    """The team's record of cost-champion wins, the last CHAMPION_MONTHS months in one
    context block (the full record: `/champions team <team>`)."""
    records = team_record(db, config, team.name, months=CHAMPION_MONTHS, today=today)
    if not any(record.wins for record in records):
        return [
            blocks.context(
                [
                    f"🏆 No cost-champion wins since {month_name(records[-1].month)}"
                    " yet: `/kudos` a colleague, or stop an idle instance."
                ]
            )
        ]
    parts = []
    for record in records:
        place = f"#{record.rank}" if record.rank else "not on the board"
        count = len(record.wins)
        saved = (
            f", {format_money(record.monthly_micros, config.currency)}/month saved"
            if record.monthly_micros
            else ""
        )
        parts.append(
            f"{month_name(record.month)}: {place}, {count} win{'s' if count != 1 else ''}{saved}"
        )
    return [blocks.context(["🏆 " + " · ".join(parts)])]


# ---- the demo's preview (bot/demo.py)


def preview_app_home(
    db: sqlite_utils.Database, config: Config, today: date
) -> list[PreviewMessage]:
    """The App Home of a member of payments (the demo config's first member), and of someone
    in no team, as `costbot demo` shows them."""
    payments = config.team("payments")
    people = [*(payments.members if payments else ()), *(payments.leads if payments else ())]
    previews = []
    if people:
        view = home_view(db, config, people[0], today)
        previews.append(
            PreviewMessage(
                title="App Home of a payments engineer",
                description=(
                    f"the Home tab of {people[0]} (a member of payments in costbot.yml), "
                    "published on every app_home_opened"
                ),
                payload={"text": "Costbot App Home", "blocks": view["blocks"]},
            )
        )
    outsider = "U0NOTEAM"
    view = home_view(db, config, outsider, today)
    previews.append(
        PreviewMessage(
            title="App Home of someone in no team",
            description="the organisation's top teams, and how to be added to a team",
            payload={"text": "Costbot App Home", "blocks": view["blocks"]},
        )
    )
    return previews


def unavailable_reason(problem: Exception) -> str:
    """What to do, for the view published when the Home tab cannot be built (mrkdwn)."""
    name = blocks.escape_mrkdwn(type(problem).__name__)
    return (
        f"Costbot could not read its cost store or compute the figures ({name}). Whoever "
        "runs Costbot can find the details in its log; `costbot migrate` brings the store "
        "up to date, and `costbot ingest focus PATH` loads cost data."
    )
