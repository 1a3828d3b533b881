"""The idle EC2 message: one per team channel per day, each instance with what it costs and a
Stop button (approvers only) and a Keep running button; and the same message after a press,
the instance's buttons replaced by who did what."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import Any

import sqlite_utils

from bot.analytics.idle import KEEP_DAYS, IdleInstance
from bot.analytics.savings import monthly_run_rate
from bot.analytics.tag_compliance import is_exempt
from bot.analytics.tag_ladder import ResourceFacts, protection_of
from bot.config import Config
from bot.money import format_money
from bot.periods import format_day
from bot.render.blocks import (
    actions,
    button,
    context,
    escape_mrkdwn,
    header,
    message,
    plain_safe,
    section,
    shorten,
)
from bot.render.preview import PreviewMessage

STOP_ACTION_ID = "idle_stop"
KEEP_ACTION_ID = "idle_keep"
IDLE_ACTIONS = (STOP_ACTION_ID, KEEP_ACTION_ID)
# Each instance takes two blocks (its section and its buttons); the header, the intro and the
# "and N more" line take three: 20 instances stay within Slack's 50 blocks with room to spare.
MAX_SHOWN = 20
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,20}$")


def idle_message(
    instances: Sequence[IdleInstance],
    day: date,
    *,
    currency: str,
    cpu_percent: float,
    idle_days: int,
    team: str | None = None,
) -> dict[str, Any]:
    """The message of one channel: the first MAX_SHOWN instances, costliest first, and how many
    more there are (the job reports those on a later day)."""
    ranked = costliest_first(instances)
    shown = ranked[:MAX_SHOWN]
    total = sum(instance.monthly_micros for instance in ranked)
    whose = f" of {shorten(team)}" if team else ""
    count = f"{len(ranked)} idle EC2 instance{'s' if len(ranked) != 1 else ''}"
    fallback = (
        f"{count}{escape_mrkdwn(whose)}: {format_money(total, currency)}/month ({format_day(day)})"
    )
    blocks = [
        header(f"Idle EC2 instances{plain_safe(whose)} ({format_day(day)})"),
        context(
            [
                f"{count}, CPU under {cpu_percent:g}% every day for {idle_days} days or more:"
                f" *{format_money(total, currency)}/month* between them. *Stop* stops the"
                " instance (approvers only; its disks stay); *Keep running* hides it for"
                f" {KEEP_DAYS} days."
            ]
        ),
    ]
    for instance in shown:
        blocks.append(section(instance_text(instance, day, currency)))
        blocks.append(instance_buttons(instance))
    if len(ranked) > len(shown):
        hidden = len(ranked) - len(shown)
        blocks.append(context([f"_…and {hidden:,} more: they follow in the next days' messages_"]))
    return message(fallback, blocks)


def costliest_first(instances: Sequence[IdleInstance]) -> list[IdleInstance]:
    return sorted(instances, key=lambda i: (-i.monthly_micros, i.account, i.resource_id))


def instance_text(instance: IdleInstance, day: date, currency: str) -> str:
    """The instance's lines; every value from the inventory escaped."""
    name = f" {escape_mrkdwn(shorten(instance.name))}" if instance.name else ""
    where = " · ".join(
        escape_mrkdwn(part)
        for part in (
            instance.size,
            f"account {instance.account}",
            instance.region,
            f"team {instance.team}" if instance.team else "no owning team",
        )
        if part
    )
    cpu = (
        f"average CPU {instance.average_cpu:.1f}% over {instance.cpu_days} days"
        if instance.average_cpu is not None
        else "no CPU figures kept"
    )
    days = instance.days_idle(day)
    lines = [
        f"*{escape_mrkdwn(instance.resource_id)}*{name}",
        where,
        f"{cpu} · idle {days} day{'s' if days != 1 else ''} ·"
        f" *{format_money(instance.monthly_micros, currency)}/month*"
        f" ({escape_mrkdwn(instance.basis)})",
    ]
    if instance.reminder_of is not None:
        lines.append(f"_Reminder: first reported on {format_day(instance.reminder_of)}._")
    if instance.blocked_reason:
        lines.append(f"No Stop button: {escape_mrkdwn(instance.blocked_reason)}.")
    return "\n".join(lines)


def instance_buttons(instance: IdleInstance) -> dict[str, Any]:
    """Stop (unless exempt or protected) and Keep running; both carry the ARN."""
    elements = []
    if instance.stoppable:
        elements.append(button("Stop", STOP_ACTION_ID, instance.arn, style="danger"))
    elements.append(button("Keep running", KEEP_ACTION_ID, instance.arn))
    return actions(elements)


def user_mention(user_id: str) -> str:
    """`<@U123>` for a Slack user id; anything else (a forged payload) shown escaped."""
    return f"<@{user_id}>" if _USER_ID.match(user_id or "") else escape_mrkdwn(user_id or "someone")


def stopped_text(
    user_id: str, resource_id: str, monthly_micros: int, basis: str, currency: str
) -> str:
    return (
        f"🛑 {user_mention(user_id)} stopped {escape_mrkdwn(resource_id)}:"
        f" saves {format_money(monthly_micros, currency)}/month ({escape_mrkdwn(basis)})"
    )


def kept_text(user_id: str, resource_id: str, until: date) -> str:
    return (
        f"✋ {user_mention(user_id)} kept {escape_mrkdwn(resource_id)} running:"
        f" not reported again before {format_day(until)}"
    )


def with_status(blocks: Sequence[dict[str, Any]], arn: str, status: str) -> list[dict[str, Any]]:
    """The message's blocks with the buttons of `arn` replaced by `status` (other instances'
    buttons stay). Blocks as Slack sends them back keep their block ids."""
    updated = []
    for block in blocks:
        if block.get("type") == "actions" and any(
            element.get("value") == arn for element in block.get("elements", [])
        ):
            replacement = context([status])
            if block.get("block_id"):
                replacement["block_id"] = block["block_id"]
            updated.append(replacement)
        else:
            updated.append(block)
    return updated


# ---- the demo's preview

EnvironmentOf = Callable[[str | None], str | None]


def preview_idle(
    db: sqlite_utils.Database,
    config: Config,
    day: date,
    *,
    environment_of: EnvironmentOf,
    approver: str = "U0DEMOAPPROVER",
) -> list[PreviewMessage]:
    """The idle notice of one team and the same notice after an approver pressed Stop, for
    `costbot demo`. The demo has resource-level cost but no AWS inventory: the team with the
    most EC2 cost last month has its three costliest instances stand in as idle ones (run-rate
    and tags real, CPU figures illustrative); nothing is stopped or recorded.
    `environment_of(tags_json)` is the environment tag's value (bot.sources.focus.tag_dimensions,
    which render may not import)."""
    month = (day.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    ec2 = "month = ? AND team IS NOT NULL AND resource_id LIKE 'arn:aws:ec2:%:instance/%'"
    team_row = db.execute(
        f"SELECT team FROM resource_cost WHERE {ec2} GROUP BY team"
        " ORDER BY sum(effective_micros) DESC, team LIMIT 1",
        [month],
    ).fetchone()
    if team_row is None:
        return []
    rows = db.query(
        "SELECT resource_id, max(resource_name) AS name, max(account_id) AS account,"
        f" max(region) AS region, max(tags) AS tags FROM resource_cost WHERE {ec2} AND team = ?"
        " GROUP BY resource_id ORDER BY sum(effective_micros) DESC, resource_id LIMIT 3",
        [month, team_row[0]],
    )
    instances = []
    for number, row in enumerate(rows):
        arn = row["resource_id"]
        facts = ResourceFacts(
            arn=arn,
            resource_id=arn.rsplit("/", 1)[1],
            resource_type="ec2:instance",
            account=row["account"] or "",
            region=row["region"] or "",
            state="running",
            exempt=is_exempt(json.loads(row["tags"] or "{}"), config.tag_policy.exempt_tag),
            environment=environment_of(row["tags"]),
        )
        blocked, reason = protection_of(facts, config.tag_policy)
        rate = monthly_run_rate(
            db, config, arn=arn, resource_id=arn, account=facts.account, day=day
        )
        instances.append(
            IdleInstance(
                arn=arn,
                resource_id=facts.resource_id,
                name=row["name"],
                size=None,
                account=facts.account,
                region=facts.region,
                team=team_row[0],
                average_cpu=1.2 + number,
                cpu_days=config.aws.idle_days,
                idle_since=day - timedelta(days=config.aws.idle_days + 2 * number),
                monthly_micros=rate.monthly_micros,
                basis=rate.basis,
                blocked_reason=reason if blocked else None,
            )
        )
    notice = idle_message(
        instances,
        day,
        currency=config.currency,
        cpu_percent=config.aws.idle_cpu_percent,
        idle_days=config.aws.idle_days,
        team=team_row[0],
    )
    team = config.team(team_row[0])
    channel = team.channel if team and team.channel else config.tag_policy.notify_channel
    previews = [
        PreviewMessage(
            f"Idle EC2 notice in {channel}",
            "the daily idle job (`costbot run idle`), notify first: Stop for approvers, Keep"
            " running for the team (the demo's costliest instances stand in; CPU illustrative)",
            notice,
        )
    ]
    stoppable = [i for i in costliest_first(instances) if i.stoppable]
    if stoppable:
        first = stoppable[0]
        status = stopped_text(
            approver, first.resource_id, first.monthly_micros, first.basis, config.currency
        )
        previews.append(
            PreviewMessage(
                "Idle EC2 notice after an approver pressed Stop",
                "the instance stopped, the run-rate saved recorded as a verified saving, the"
                " notice updated in place",
                {**notice, "blocks": with_status(notice["blocks"], first.arn, status)},
            )
        )
    return previews
