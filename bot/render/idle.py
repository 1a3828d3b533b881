"""The idle EC2 message: one per team channel per day, each instance with what it costs and a
Stop button (approvers only) and a Keep running button; and the same message after a press,
the instance's buttons replaced by who did what."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from typing import Any

from bot.analytics.idle import KEEP_DAYS, IdleInstance
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
            instance.size or "unknown type",
            f"account {instance.account}",
            instance.region,
            f"team {instance.team}" if instance.team else "no owning team",
        )
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
