"""The tag enforcement ladder's daily message to a channel (jobs/tag_policy.py), and the update
an approval makes to it (handlers/actions/tag_policy.py).

One message per channel per run day lists what the ladder did (or, with enforcement off, says
it would do) to the resources missing required tags: reported, stopped, terminated, awaiting
approval (each with an "Approve termination" button whose value is the ARN), and the steps
that failed. Every list is cut with "and N more" to fit Slack's limits, whatever the count;
everything that comes from data is escaped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from bot.config import TagPolicySettings
from bot.periods import format_day
from bot.render import blocks

APPROVE_ACTION_ID = "tag_policy_approve"
APPROVE_BUTTON_TEXT = "Approve termination"
APPROVE_BLOCK_PREFIX = "tag_approve_"
# Blocks kept for the header, the intro, the lists, the "more awaiting" line and how to fix.
_FIXED_BLOCKS = 9


@dataclass(frozen=True)
class Notice:
    """One recorded ladder step to tell (an enforcement_audit row, with what the job knows)."""

    audit_id: int
    arn: str
    resource_id: str
    resource_type: str
    account: str
    region: str
    step: str  # notify | stop | terminate | await-approval
    dry: bool
    outcome: str  # done | failed
    reason: str
    owner_note: str | None = None  # why this channel, when the owner was guessed


# (title, label in the fallback text) when done, and when dry; the order they are shown in.
_GROUPS = (
    ("failed", (("⚠️ Could not act on", "failed"), ("⚠️ Could not act on", "failed"))),
    (
        "terminate",
        (
            ("💥 Terminated", "terminated"),
            ("💥 Would terminate (enforcement is off)", "would terminate"),
        ),
    ),
    ("stop", (("🛑 Stopped", "stopped"), ("🛑 Would stop (enforcement is off)", "would stop"))),
    ("notify", (("📣 Reported", "reported"), ("📣 Reported", "reported"))),
)


def approve_block_id(arn: str) -> str:
    """The block of a resource awaiting approval: found again when its approval comes."""
    return APPROVE_BLOCK_PREFIX + hashlib.sha256(arn.encode("utf-8")).hexdigest()[:24]


def notice_line(notice: Notice) -> str:
    """One resource, as mrkdwn: id, type, account and region, then what happened and why."""
    where = blocks.escape_mrkdwn(
        f"{notice.resource_type}, account {notice.account}, {notice.region}"
    )
    line = f"{blocks.code(notice.resource_id)} ({where}): {blocks.escape_mrkdwn(notice.reason)}"
    if notice.owner_note:
        line += f" _{blocks.escape_mrkdwn(notice.owner_note)}_"
    return " ".join(line.split())


def ladder_message(
    notices: Sequence[Notice], day: date, policy: TagPolicySettings
) -> tuple[dict[str, Any], list[int]]:
    """The channel's message for the run of `day`, and the audit ids it tells (every notice
    but the requests for approval that found no room for their button: the next run tells
    them)."""
    groups: dict[str, list[Notice]] = {key: [] for key, _ in _GROUPS}
    awaiting: list[Notice] = []
    for notice in notices:
        if notice.outcome == "failed":
            groups["failed"].append(notice)
        elif notice.step == "await-approval":
            awaiting.append(notice)
        elif notice.step in groups:
            groups[notice.step].append(notice)
    resources = len({notice.arn for notice in notices})
    title = f"🏷️ Tagging policy: {resources:,} resource{'s' if resources != 1 else ''} missing tags"
    required = ", ".join(blocks.code(tag) for tag in policy.required_tags)
    mode = (
        "Enforcement is *on*: resources are stopped and terminated as the policy says."
        if policy.enforce
        else "Enforcement is *off*: nothing is stopped or terminated; each step says what "
        "would happen."
    )
    built: list[dict[str, Any]] = [
        blocks.header(title),
        blocks.section(f"Run of {format_day(day)}. Required tags: {required}. {mode}"),
    ]
    told: list[int] = []
    counts = []
    for key, titles in _GROUPS:
        members = groups[key]
        if not members:
            continue
        told.extend(n.audit_id for n in members)
        for dry in (False, True):
            part = [n for n in members if n.dry == dry]
            if not part:
                continue
            group_title, label = titles[dry]
            heading = f"*{group_title}* ({len(part):,})"
            counts.append(f"{len(part):,} {label}")
            text = blocks.bulleted_list(
                [notice_line(n) for n in part],
                max_chars=blocks.SECTION_TEXT_MAX - len(heading) - 1,
                escape=False,
            )
            built.append(blocks.section(f"{heading}\n{text}"))
    if awaiting:
        heading = (
            f"*✋ Awaiting approval* ({len(awaiting):,}): terminating these needs an approver's "
            "click (`tag_policy.approvers`)."
        )
        built.append(blocks.section(heading))
        counts.append(f"{len(awaiting):,} awaiting approval")
        room = blocks.MESSAGE_BLOCKS_MAX - len(built) - 2
        shown = awaiting[: max(room, 0)]
        for notice in shown:
            built.append(
                blocks.section(
                    notice_line(notice),
                    accessory=_approve_button(notice),
                    block_id=approve_block_id(notice.arn),
                )
            )
            told.append(notice.audit_id)
        if len(shown) < len(awaiting):
            built.append(
                blocks.context(
                    [
                        f"_{blocks.ELLIPSIS}and {len(awaiting) - len(shown):,} more awaiting "
                        "approval: their buttons come in the next run's message._"
                    ]
                )
            )
    protected = ", ".join(policy.protected_environments) or "none"
    built.append(
        blocks.context(
            [
                "*How to fix:* add the missing tags (console, infrastructure code, or the Claim "
                "button of `/untagged`); a tagged resource leaves the ladder at the next run. "
                f"Never stopped or terminated: resources tagged {blocks.code(policy.exempt_tag)}"
                f" or in a protected environment ({blocks.escape_mrkdwn(protected)})."
            ]
        )
    )
    fallback = f"Tagging policy, {format_day(day)}: " + ", ".join(counts)
    return blocks.message(fallback, built), told


def _approve_button(notice: Notice) -> dict[str, Any]:
    """The button, with Slack's confirmation dialog: a termination is never one stray click."""
    button = blocks.button(APPROVE_BUTTON_TEXT, APPROVE_ACTION_ID, notice.arn, style="danger")
    snapshot = " An RDS final snapshot is taken first." if notice.resource_type == "rds:db" else ""
    button["confirm"] = {
        "title": {"type": "plain_text", "text": "Terminate it?"},
        "text": {
            "type": "mrkdwn",
            "text": blocks.truncate(
                f"Terminate {blocks.code(notice.resource_id)} "
                f"({blocks.escape_mrkdwn(notice.resource_type)}, account "
                f"{blocks.escape_mrkdwn(notice.account)}) now?{snapshot}",
                300,
            ),
        },
        "confirm": {"type": "plain_text", "text": "Terminate"},
        "deny": {"type": "plain_text", "text": "Cancel"},
        "style": "danger",
    }
    return button


def with_approval(
    message_blocks: Sequence[dict[str, Any]], arn: str, text: str
) -> list[dict[str, Any]]:
    """The message's blocks with the approved resource's button replaced by `text` (mrkdwn,
    already escaped): who approved and what happened."""
    wanted = approve_block_id(arn)
    updated = []
    for block in message_blocks:
        accessory = block.get("accessory") or {}
        if block.get("block_id") == wanted or (
            accessory.get("action_id") == APPROVE_ACTION_ID and accessory.get("value") == arn
        ):
            updated.append(blocks.section(text, block_id=wanted))
        else:
            updated.append(dict(block))
    return updated


def approval_line(
    resource_id: str,
    user_id: str,
    at: datetime,
    *,
    terminated: bool,
    dry: bool = False,
    snapshot_id: str | None = None,
    reason: str = "",
) -> str:
    """What replaces the button: who approved, when, and what came of it (mrkdwn, escaped)."""
    who = (
        f"Approved by <@{blocks.escape_mrkdwn(user_id)}> on {format_day(at.date())} {at:%H:%M} UTC"
    )
    name = blocks.code(resource_id)
    if terminated:
        snapshot = f" (final snapshot {blocks.code(snapshot_id)})" if snapshot_id else ""
        return f"💥 {name}: {who}; terminated{snapshot}."
    if dry:
        return f"{name}: {who}; would be terminated, but enforcement is off: nothing changed."
    return f"{name}: {who}; not terminated: {blocks.escape_mrkdwn(reason)}"
