"""Block Kit for `/untagged`: tagging compliance of a scope against the target, the
non-compliant cost to the cent, the keys missing most, and the costliest non-compliant
resources with a Claim button each; then the same message once a resource is claimed.

Every amount is in the config currency (`report.currency`): resource-level cost billed in
another currency is never added to it, and is said on its own line, per currency, as what
these figures leave out; a resource billed in it shows its own amount in its own currency.

The payload also carries the figures as Slack message metadata (`metadata.event_payload`):
`costbot ask --json` prints them, so a script can check the figures without reading prose.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any

from bot.analytics.tag_compliance import Compliance, NoncompliantResources, PeriodCost
from bot.money import format_money
from bot.periods import Period, format_day
from bot.render import blocks
from bot.store.queries import UNTAGGED

CLAIM_ACTION_ID = "untagged_claim"
# Sections with a Claim button: `untagged_claim:<n>`, then `:<answer key>` once the handler
# knows under which delivery key the message was recorded (the claim updates that record).
CLAIM_BLOCK_PREFIX = "untagged_claim"
METADATA_EVENT = "costbot_untagged"
LISTED_MAX = 10  # resources listed one by one; the rest are "and N more"
BILLED_ONLY_NOTE = (
    "_Billed only_: in the bill, but not in the inventory (a type the inventory does not "
    "read, or gone since), so it cannot be tagged from here: tag it where it lives."
)


@dataclass(frozen=True)
class UntaggedReport:
    """Everything `/untagged` shows, as plain values."""

    subject: str  # plain text: "the organisation", "team payments", "account 1111 (acme)"
    kind: str  # org | team | account
    value: str  # "all", the team (UNTAGGED for none) or the account id
    period: Period
    counted: PeriodCost
    compliance: Compliance
    noncompliant: NoncompliantResources
    target: float
    required_tags: tuple[str, ...]
    exempt_tag: str
    trend: tuple[tuple[date, Decimal], ...]  # (day, share of cost compliant), oldest first
    today: date
    currency: str = "USD"


def percent(share: Decimal | None) -> str:
    """`97.9%`, rounded down: a share just under the target never shows as the target."""
    if share is None:
        return "n/a"
    shown = (share * 100).quantize(Decimal("0.1"), rounding=ROUND_DOWN)
    return f"{shown}%"


def target_met(report: UntaggedReport) -> bool | None:
    """Whether the share of cost compliant reaches the target (the share of resources when
    there is no cost); None when there is nothing to measure."""
    share = report.compliance.cost_share
    if share is None:
        share = report.compliance.resource_share
    if share is None:
        return None
    return share >= Decimal(str(report.target))


def _months_text(months: tuple[str, ...]) -> str:
    names = [datetime.strptime(month, "%Y-%m").strftime("%B %Y") for month in months]
    if len(names) <= 2:
        return " and ".join(names)
    return f"{names[0]} – {names[-1]} ({len(names)} months)"


def counted_text(report: UntaggedReport) -> str:
    """The period, and which months were counted when that is not exactly the period."""
    line = f"{report.period.title}: {report.period.label}"
    if not report.counted.whole_months:
        line += (
            f". Resource-level cost is kept per month, so this counts the whole of "
            f"{_months_text(report.counted.months)}"
        )
    return line


def _count(number: int, what: str) -> str:
    return f"{number:,} {what}" if number == 1 else f"{number:,} {what}s"


def _money(report: UntaggedReport, micros: int) -> str:
    return format_money(micros, report.currency)


def resource_money(report: UntaggedReport, resource) -> str:
    """A resource's cost in each currency it is billed in, never added: `$12.00`,
    `EUR 1,159.35`, `$1.00 and EUR 2.00`."""
    parts = [format_money(micros, code) for code, micros in resource.other_costs]
    if resource.cost_micros or not parts:
        parts.insert(0, _money(report, resource.cost_micros))
    return " and ".join(parts)


def other_currencies_text(report: UntaggedReport) -> str | None:
    """What the figures leave out: the cost billed in other currencies, per currency."""
    others = report.compliance.other_costs
    if not others:
        return None
    lines = [
        f"{format_money(o.cost_micros, o.currency)} of resource cost billed in {o.currency} is"
        f" not in these figures ({format_money(o.noncompliant_cost_micros, o.currency)} of it"
        " lacks a required tag)"
        for o in others
    ]
    return (
        "💱 " + "; ".join(lines) + f". Currencies are never added: the figures above are"
        f" the cost billed in {report.currency}; resources billed in other currencies count"
        " in the resource figures."
    )


def _headline(report: UntaggedReport) -> str:
    c = report.compliance
    target = percent(Decimal(str(report.target)))
    met = target_met(report)
    if met is None:
        verdict = "nothing to measure yet"
    elif met:
        verdict = f"✅ target {target} met"
    else:
        verdict = f"❌ target {target} not met"
    measured = "cost" if c.cost_share is not None else "resources"
    return (
        f"*{percent(c.cost_share)}* of cost and *{percent(c.resource_share)}* of resources "
        f"carry every required tag: {verdict} (measured on {measured})."
    )


def _figures(report: UntaggedReport) -> list[str]:
    c = report.compliance
    fields = [
        f"*Non-compliant cost*\n{_money(report, c.noncompliant_cost_micros)} "
        f"of {_money(report, c.cost_micros)}",
        f"*Non-compliant resources*\n{c.noncompliant_resources:,} of {c.resources:,}",
    ]
    if c.exempt_resources or c.exempt_cost_micros:
        fields.append(
            f"*Exempt* ({blocks.code(report.exempt_tag)}, still counted non-compliant)\n"
            f"{_count(c.exempt_resources, 'resource')}, {_money(report, c.exempt_cost_micros)}"
        )
    if c.unlisted_cost_micros:
        fields.append(
            f"*Billed only* (not in the inventory)\n{_money(report, c.unlisted_cost_micros)}"
        )
    return fields


def _missing_text(report: UntaggedReport) -> str:
    gaps = report.compliance.missing
    if not gaps:
        return "*Missing most:* nothing, every required tag is there."
    parts = [
        f"{blocks.code(gap.key)} ({_count(gap.resources, 'resource')}, "
        f"{_money(report, gap.cost_micros)})"
        for gap in gaps
    ]
    required = ", ".join(blocks.code(key) for key in report.required_tags)
    return blocks.truncate(
        f"*Missing most:* {', '.join(parts)}\nRequired: {required}", blocks.SECTION_TEXT_MAX
    )


def _trend_text(report: UntaggedReport) -> str | None:
    if len(report.trend) < 2:
        return None
    (first_day, first), (last_day, last) = report.trend[0], report.trend[-1]
    points = ((last - first) * 100).quantize(Decimal("0.1"))
    sign = "+" if points > 0 else ""
    return (
        f"📈 Trend, share of cost compliant: {format_day(first_day, False)} {percent(first)} → "
        f"{format_day(last_day, False)} {percent(last)} ({sign}{points} points, "
        f"{len(report.trend)} days stored)"
    )


def _age_text(days: int | None) -> str:
    if days is None:
        return "age unknown"
    return "1 day old" if days == 1 else f"{days:,} days old"


def resource_text(report: UntaggedReport, resource) -> str:
    """One resource's mrkdwn: id, type, account, region, age, cost, missing keys."""
    kind = blocks.escape_mrkdwn(blocks.shorten(resource.resource_type or "unknown type", 40))
    account = blocks.escape_mrkdwn(blocks.shorten(resource.account_id or "no account", 40))
    region = blocks.escape_mrkdwn(blocks.shorten(resource.region or "no region", 30))
    missing = ", ".join(blocks.code(key, 40) for key in resource.missing)
    marks = []
    if resource.exempt:
        marks.append("_exempt_")
    if not resource.in_inventory:
        marks.append("_billed only_")
    team = "" if resource.team == UNTAGGED else f" · team {blocks.code(resource.team, 40)}"
    return blocks.truncate(
        f"{blocks.code(resource.resource_id, 80)} *{resource_money(report, resource)}*"
        f"{' ' + ' '.join(marks) if marks else ''}\n"
        f"{kind} · {account} · {region} · {_age_text(resource.age_days(report.today))}{team}\n"
        f"Missing: {missing}",
        blocks.SECTION_TEXT_MAX,
    )


def _resource_block(report: UntaggedReport, resource, index: int) -> blocks.Block:
    text = resource_text(report, resource)
    arn = resource.arn
    if resource.in_inventory and arn and len(arn) <= blocks.BUTTON_VALUE_MAX:
        return blocks.section(
            text,
            accessory=blocks.button("Claim", CLAIM_ACTION_ID, arn, style="primary"),
            block_id=f"{CLAIM_BLOCK_PREFIX}:{index}",
        )
    return blocks.section(text)


def _fallback(report: UntaggedReport) -> str:
    c = report.compliance
    met = target_met(report)
    verdict = "no data" if met is None else ("target met" if met else "target not met")
    others = "".join(
        f" (and {format_money(o.noncompliant_cost_micros, o.currency)} billed in {o.currency})"
        for o in c.other_costs
        if o.noncompliant_cost_micros
    )
    return (
        f"Tagging, {blocks.escape_mrkdwn(report.subject)}: {percent(c.cost_share)} of cost "
        f"compliant ({verdict}, target {percent(Decimal(str(report.target)))}); "
        f"{_money(report, c.noncompliant_cost_micros)} non-compliant{others},"
        f" {report.period.label}"
    )


def render_untagged(report: UntaggedReport) -> dict[str, Any]:
    """The /untagged answer: within Slack's limits whatever the number of resources."""
    c = report.compliance
    content = [
        blocks.header(f"🏷️ Tagging: {blocks.plain_safe(report.subject)}"),
        blocks.context([blocks.escape_mrkdwn(counted_text(report))]),
        blocks.section(_headline(report), fields=_figures(report)),
    ]
    others = other_currencies_text(report)
    if others:
        content.append(blocks.context([others]))
    content.append(blocks.section(_missing_text(report)))
    trend = _trend_text(report)
    if trend:
        content.append(blocks.context([trend]))
    listed = report.noncompliant.resources[:LISTED_MAX]
    if listed:
        content.append(blocks.divider())
        other_amounts = "".join(
            f"; {format_money(micros, code)} billed in {code}"
            for code, micros in report.noncompliant.other_costs
        )
        content.append(
            blocks.section(
                f"*Costliest non-compliant resources* ({report.noncompliant.total:,}, "
                f"{_money(report, report.noncompliant.cost_micros)}{other_amounts})"
            )
        )
        content.extend(_resource_block(report, r, i) for i, r in enumerate(listed))
        more = report.noncompliant.total - len(listed)
        notes = []
        if more > 0:
            notes.append(f"_…and {more:,} more_")
        if any(not r.in_inventory for r in listed):
            notes.append(BILLED_ONLY_NOTE)
        if notes:
            content.append(blocks.context(notes))
    elif c.resources or c.cost_micros or c.other_costs:
        content.append(blocks.section("Every resource in scope carries every required tag. 🎉"))
    else:
        content.append(
            blocks.section(
                "No inventory and no resource-level cost in scope: run `costbot sync aws` "
                "(the inventory) and load FOCUS files with resource ids."
            )
        )
    payload = blocks.message(_fallback(report), content)
    payload["metadata"] = {"event_type": METADATA_EVENT, "event_payload": figures(report)}
    return payload


def _dollars(micros: int) -> str:
    """Exact decimal text of an amount (`1234.567891`), for machines."""
    return str(Decimal(micros) / Decimal(1_000_000))


def _share_text(share: Decimal | None) -> str | None:
    return None if share is None else str(share.quantize(Decimal("0.000001")))


def figures(report: UntaggedReport) -> dict[str, Any]:
    """The answer's figures as plain JSON values (amounts as exact decimal strings and as
    integer micros)."""
    c = report.compliance
    noncompliant = report.noncompliant
    return {
        "scope": {"kind": c.kind, "value": c.value},
        # Every amount below but `other_currencies` and a resource's `other_costs`.
        "currency": report.currency,
        "period": {
            "start": report.period.start.isoformat(),
            "end": report.period.end.isoformat(),
            "months_counted": list(report.counted.months),
            "whole_months": report.counted.whole_months,
        },
        "target": str(report.target),
        "target_met": target_met(report),
        "cost_share": _share_text(c.cost_share),
        "resource_share": _share_text(c.resource_share),
        "cost": _dollars(c.cost_micros),
        "compliant_cost": _dollars(c.compliant_cost_micros),
        "noncompliant_cost": _dollars(c.noncompliant_cost_micros),
        "exempt_cost": _dollars(c.exempt_cost_micros),
        "billed_only_cost": _dollars(c.unlisted_cost_micros),
        "noncompliant_cost_micros": c.noncompliant_cost_micros,
        "cost_micros": c.cost_micros,
        "resources": c.resources,
        "compliant_resources": c.compliant_resources,
        "noncompliant_resources": c.noncompliant_resources,
        "exempt_resources": c.exempt_resources,
        "other_currencies": [
            {
                "currency": o.currency,
                "cost": _dollars(o.cost_micros),
                "noncompliant_cost": _dollars(o.noncompliant_cost_micros),
            }
            for o in c.other_costs
        ],
        "missing": [
            {"key": g.key, "resources": g.resources, "cost": _dollars(g.cost_micros)}
            for g in c.missing
        ],
        "noncompliant_total": noncompliant.total,
        "costliest": [
            {
                "resource_id": r.resource_id,
                "arn": r.arn,
                "type": r.resource_type,
                "account": r.account_id,
                "region": r.region,
                "team": r.team,
                "age_days": r.age_days(report.today),
                "cost": _dollars(r.cost_micros),
                "other_costs": {code: _dollars(micros) for code, micros in r.other_costs},
                "missing": list(r.missing),
                "exempt": r.exempt,
                "in_inventory": r.in_inventory,
            }
            for r in noncompliant.resources
        ],
    }


# ---- after a claim


def with_answer_key(payload: dict[str, Any], key: str) -> dict[str, Any]:
    """The payload with each Claim section's block_id naming the delivery it was recorded
    under, so that a claim can update that record (ephemeral messages come back without
    their blocks)."""
    marked = []
    for block in payload.get("blocks", []):
        block_id = str(block.get("block_id", ""))
        if block_id.startswith(f"{CLAIM_BLOCK_PREFIX}:") and block_id.count(":") == 1:
            block = {**block, "block_id": f"{block_id}:{key}"[: blocks.BLOCK_ID_MAX]}
        marked.append(block)
    return {**payload, "blocks": marked}


def answer_key_of(block_id: str) -> str | None:
    """The delivery key a Claim section's block_id carries (see `with_answer_key`)."""
    parts = block_id.split(":", 2)
    if len(parts) == 3 and parts[0] == CLAIM_BLOCK_PREFIX and parts[2]:
        return parts[2]
    return None


def claimed_text(user_id: str, resource_id: str, team: str | None, tags: dict[str, str]) -> str:
    """`<@U1> claimed `i-0abc` for payments (Product=checkout, ...)`, escaped."""
    written = ", ".join(
        blocks.escape_mrkdwn(f"{blocks.shorten(key, 40)}={blocks.shorten(value, 60)}")
        for key, value in tags.items()
    )
    owner = f" for {blocks.code(team, 40)}" if team else ""
    user = f"<@{user_id}>" if user_id.isalnum() else blocks.code(user_id)
    return blocks.truncate(
        f"✅ {user} claimed {blocks.code(resource_id, 80)}{owner} ({written})",
        blocks.SECTION_TEXT_MAX,
    )


def mark_claimed(message_blocks: list[dict[str, Any]], arn: str, note: str) -> list[dict[str, Any]]:
    """The message's blocks with the claimed resource's section saying who claimed it, its
    Claim button gone; blocks of other resources are left as they are."""
    updated = []
    for block in message_blocks:
        accessory = block.get("accessory") or {}
        if accessory.get("action_id") == CLAIM_ACTION_ID and accessory.get("value") == arn:
            block = {key: value for key, value in block.items() if key != "accessory"}
            block["text"] = {"type": "mrkdwn", "text": note}
        updated.append(block)
    return updated
