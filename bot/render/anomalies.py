"""The anomaly alert in Slack: one message per channel and day grouping its alerts, with the
largest alert's chart, four buttons per alert and a status line the buttons rewrite.

Every name in it comes from data (teams, services, accounts, usage types), so each is shortened
and escaped in every mrkdwn field, fallback text included, and never put inside our own `*bold*`
markers: a name holding `*` can then only restyle itself, never the amounts around it.

Ids the buttons carry: each button's `value` is the episode id, and the actions block's
`block_id` (`anomaly_actions:<id>`) names it too (a `users_select` has no value). The status
context block under them (`anomaly_status:<id>`) is what a press replaces with who did what.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from bot.analytics.anomalies import DAYS_PER_MONTH, Alert, Cause
from bot.money import cent_delta, format_money, to_micros
from bot.render import blocks
from bot.render.cost import CHART_PLACEHOLDER, Chart

ACKNOWLEDGE_ACTION_ID = "anomaly_acknowledge"
EXPECTED_ACTION_ID = "anomaly_expected"
MUTE_ACTION_ID = "anomaly_mute"
ASSIGN_ACTION_ID = "anomaly_assign"
# action_id -> what `writers.record_anomaly_action` calls the press.
ANOMALY_ACTIONS = {
    ACKNOWLEDGE_ACTION_ID: "acknowledge",
    EXPECTED_ACTION_ID: "expected",
    MUTE_ACTION_ID: "mute",
    ASSIGN_ACTION_ID: "assign",
}
ACTIONS_BLOCK_PREFIX = "anomaly_actions:"
STATUS_BLOCK_PREFIX = "anomaly_status:"

KIND_LABELS = {
    "spike": ("🔺", "Spike"),
    "shift": ("📶", "Level shift"),
    "drift": ("📈", "Drift"),
    "new": ("🆕", "New spend"),
}
UNTAGGED_LABEL = "Untagged spend"
NAME_MAX = 60
# Per message: header, chart, the "more" list and the footer, then per alert a section, its
# buttons, its status line and a divider: 4 + 10 * 4 = 44 blocks, within Slack's 50.
DETAILED_ALERTS_MAX = 10
CAUSES_MAX = 3
OPEN_STATUS = "🟠 Open: nobody has acted on it yet."
DRY_RUN_NOTE = "Dry run: nothing was recorded and there are no buttons."
_SLACK_ID = re.compile(r"^[UW][A-Z0-9]{2,30}$")


# ---- words


def long_day(day: date, *, with_year: bool = True) -> str:
    """`Wednesday 4 March 2026` (or `Friday 11 December`): the day as people say it."""
    text = f"{day:%A} {day.day} {day:%B}"
    return f"{text} {day.year}" if with_year else text


def _name(text: str | None) -> str:
    """A name from data, shortened and escaped for mrkdwn."""
    return blocks.escape_mrkdwn(blocks.shorten(text or "-", NAME_MAX))


def account_label(account: str | None, account_name: str | None) -> str | None:
    """`prod-payments (111122223333)`, or the id alone (plain text, not escaped)."""
    if account is None:
        return None
    if account_name and account_name != account:
        return f"{blocks.shorten(account_name, NAME_MAX)} ({blocks.shorten(account, NAME_MAX)})"
    return blocks.shorten(account, NAME_MAX)


def series_label(alert: Alert) -> str:
    """What and where, as plain text: `payments · Amazon EC2 · account prod (1111...)`;
    a team roll-up is `payments · all services`; spend with no team says so."""
    key = alert.key
    parts = [blocks.shorten(key.team, NAME_MAX) if key.team else UNTAGGED_LABEL]
    if key.is_rollup:
        parts.append("all services")
    else:
        if key.service:
            parts.append(blocks.shorten(key.service, NAME_MAX))
        account = account_label(key.account, alert.account_name)
        if account:
            parts.append(f"account {account}")
    return " · ".join(parts)


def _kind(alert: Alert) -> tuple[str, str]:
    return KIND_LABELS.get(alert.kind, ("⚠️", alert.kind.capitalize() or "Anomaly"))


def shown_increase_micros(alert: Alert) -> int:
    """The increase per day as shown: the difference of the two amounts shown (to the cent),
    so `got - expected` checks out on the message itself."""
    return to_micros(cent_delta(alert.actual_micros, alert.expected_micros))


def shown_monthly_micros(alert: Alert) -> int:
    return shown_increase_micros(alert) * DAYS_PER_MONTH


def _signed(micros: int, currency: str) -> str:
    return ("+" if micros >= 0 else "") + format_money(micros, currency)


def amounts_line(alert: Alert) -> str:
    """`Expected $120.00/day, got $480.00/day (+300%, +$360.00/day)`."""
    currency = alert.key.currency
    increase = _signed(shown_increase_micros(alert), currency)
    got = format_money(alert.actual_micros, currency)
    percent = alert.increase_percent
    if percent is None:
        return f"Nothing was expected, got {got}/day ({increase}/day)"
    expected = format_money(alert.expected_micros, currency)
    return f"Expected {expected}/day, got {got}/day ({percent:+,}%, {increase}/day)"


def _share(share: Decimal) -> str:
    return f"{(share * 100).quantize(Decimal(1))}%"


def cause_text(cause: Cause, alert: Alert) -> str:
    """`78% from Amazon EC2 USE1-BoxUsage:m5.large in us-east-1`, plus the account when the
    alert is not about one account already (plain text, not escaped)."""
    what = " ".join(blocks.shorten(part, NAME_MAX) for part in (cause.service, cause.sku) if part)
    text = f"{_share(cause.share)} from {what or 'unlabelled usage'}"
    if cause.region:
        text += f" in {blocks.shorten(cause.region, NAME_MAX)}"
    if cause.account and cause.account != alert.key.account:
        text += f" (account {blocks.shorten(cause.account, NAME_MAX)})"
    return text


def _cause_line(alert: Alert, budget: int) -> str:
    """The root cause, largest share first, as many causes as fit in `budget` characters."""
    causes = alert.root_cause[:CAUSES_MAX]
    if not causes:
        return "_No breakdown of the increase by service, region or usage type._"
    kept: list[str] = []
    for cause in causes:
        text = blocks.escape_mrkdwn(cause_text(cause, alert))
        candidate = "; ".join([*kept, text])
        if kept and len(candidate) > budget:
            break
        kept.append(text)
    line = "; ".join(kept)
    left_out = len(alert.root_cause) - len(kept)
    if left_out:
        line += f"; {left_out} smaller part{'s' if left_out > 1 else ''}"
    return blocks.truncate(line, max(budget, 1))


def alert_text(alert: Alert) -> str:
    """One alert's section: what and where, the amounts, the root cause, when it started and
    what it costs a month if it persists (mrkdwn, within one section)."""
    icon, kind = _kind(alert)
    follow_up = " · 🔁 _follow-up: it has grown since the first alert_" if alert.follow_up else ""
    title = f"{icon} *{kind}* · {blocks.escape_mrkdwn(series_label(alert))}{follow_up}"
    money = format_money(shown_monthly_micros(alert), alert.key.currency)
    when = f"Started {long_day(alert.start)} · about *{money} a month* if it persists"
    head = [title, amounts_line(alert)]
    budget = blocks.SECTION_TEXT_MAX - sum(len(line) + 1 for line in [*head, when])
    return "\n".join([*head, _cause_line(alert, budget), when])


def brief_text(alert: Alert) -> str:
    """One line for the "and N more" list and the notification (plain text, not escaped)."""
    _, kind = _kind(alert)
    currency = alert.key.currency
    percent = alert.increase_percent
    change = f"{_signed(shown_increase_micros(alert), currency)}/day"
    if percent is not None:
        change += f" ({percent:+,}%)"
    return f"{kind}: {series_label(alert)}, {change} since {long_day(alert.start, with_year=False)}"


# ---- blocks


def actions_block_id(episode_id: int) -> str:
    return f"{ACTIONS_BLOCK_PREFIX}{episode_id}"


def status_block_id(episode_id: int) -> str:
    return f"{STATUS_BLOCK_PREFIX}{episode_id}"


def episode_id_from(action: Mapping[str, Any]) -> int | None:
    """The episode a pressed element is about: its button value, else its block's id."""
    value = str(action.get("value") or "")
    block_id = str(action.get("block_id") or "")
    if not value and block_id.startswith(ACTIONS_BLOCK_PREFIX):
        value = block_id.removeprefix(ACTIONS_BLOCK_PREFIX)
    return int(value) if value.isascii() and value.isdigit() else None


def alert_buttons(episode_id: int, *, mute_days: int = 7) -> blocks.Block:
    """Acknowledge, Expected (adopt as normal), Mute, Assign (pick a person)."""
    value = str(episode_id)
    expected = blocks.button("Expected (adopt as normal)", EXPECTED_ACTION_ID, value)
    expected["confirm"] = {
        "title": {"type": "plain_text", "text": "Adopt as normal?"},
        "text": {
            "type": "mrkdwn",
            "text": "The detector will treat this level as normal for the series from now on.",
        },
        "confirm": {"type": "plain_text", "text": "Adopt as normal"},
        "deny": {"type": "plain_text", "text": "Cancel"},
    }
    plural = "s" if mute_days != 1 else ""
    assign: blocks.Block = {
        "type": "users_select",
        "action_id": ASSIGN_ACTION_ID,
        "placeholder": {"type": "plain_text", "text": "Assign to…", "emoji": True},
    }
    return blocks.actions(
        [
            blocks.button("Acknowledge", ACKNOWLEDGE_ACTION_ID, value, style="primary"),
            expected,
            blocks.button(f"Mute {mute_days} day{plural}", MUTE_ACTION_ID, value),
            assign,
        ],
        block_id=actions_block_id(episode_id),
    )


def chart_placeholder(alert: Alert) -> blocks.Block:
    """Where the chart goes: `Delivery.post` swaps in the uploaded chart (or a note)."""
    return blocks.image(
        blocks.plain_safe(f"Chart of {series_label(alert)}: daily cost against the expected band"),
        slack_file_id=CHART_PLACEHOLDER,
    )


def with_chart_file(message: Mapping[str, Any], chart: Chart, file_id: str) -> dict[str, Any]:
    """The message with its chart placeholder showing `chart` as the file `file_id`, titled
    and described as `Delivery.post` shows it: for previews, where nothing is uploaded."""
    image = blocks.image(chart.alt_text, slack_file_id=file_id, title=chart.title)
    return {
        **message,
        "blocks": [
            image
            if block.get("type") == "image"
            and block.get("slack_file", {}).get("id") == CHART_PLACEHOLDER
            else block
            for block in message.get("blocks", [])
        ],
    }


def _alert_blocks(
    alert: Alert, *, with_chart: bool, mute_days: int, statuses: Mapping[int, str]
) -> list[blocks.Block]:
    content = [blocks.section(alert_text(alert))]
    if with_chart:
        content.append(chart_placeholder(alert))
    if alert.episode_id is not None:
        status = statuses.get(alert.episode_id) or OPEN_STATUS
        content.append(alert_buttons(alert.episode_id, mute_days=mute_days))
        content.append(blocks.context([status], block_id=status_block_id(alert.episode_id)))
    return content


def largest_first(alerts: Sequence[Alert], currency: str | None = None) -> list[Alert]:
    """Largest increase per day first; ties by series, so the order never depends on input.
    Amounts in different currencies cannot be compared (nothing is converted): the alerts in
    `currency` (the organisation's) come first, then each other currency's."""
    return sorted(
        alerts,
        key=lambda alert: (
            alert.key.currency != currency if currency else False,
            alert.key.currency,
            -alert.increase_micros,
            alert.key.text,
        ),
    )


def anomaly_message(
    alerts: Sequence[Alert],
    day: date,
    *,
    team_label: str | None,
    mute_days: int = 7,
    statuses: Mapping[int, str] | None = None,
    currency: str | None = None,
) -> dict[str, Any]:
    """The one message for one channel and one day: {"text", "blocks"}. `team_label` names the
    channel's team (None: the default channel, for untagged spend and teams without one). The
    chart placeholder goes under the largest alert, whose chart `anomaly_chart` draws. In a
    dry run (alerts without `episode_id`) there are no buttons. `statuses`: episode id ->
    `anomaly_status_text` of episodes already acted on (a follow-up keeps saying who
    acknowledged or was assigned it); the others are "Open"."""
    if not alerts:
        raise ValueError("an anomaly message needs at least one alert")
    ranked = largest_first(alerts, currency)
    shown, cut = ranked[:DETAILED_ALERTS_MAX], ranked[DETAILED_ALERTS_MAX:]
    count = len(ranked)
    noun = "anomaly" if count == 1 else "anomalies"
    where = f" for {blocks.plain_safe(blocks.shorten(team_label, NAME_MAX))}" if team_label else ""
    content: list[blocks.Block] = [blocks.header(f"🚨 {count} cost {noun}{where}")]
    for index, alert in enumerate(shown):
        if index:
            content.append(blocks.divider())
        content += _alert_blocks(
            alert, with_chart=index == 0, mute_days=mute_days, statuses=statuses or {}
        )
    if cut:
        heading = f"*…and {len(cut):,} more {_noun(len(cut))}:*\n"
        room = blocks.SECTION_TEXT_MAX - len(heading)
        more = blocks.bulleted_list([brief_text(alert) for alert in cut], max_chars=room)
        content.append(blocks.section(heading + more))
    footer = f"Cost per day through {long_day(day)}"
    if all(alert.episode_id is None for alert in ranked):
        footer += f" · {DRY_RUN_NOTE}"
    content.append(blocks.context([footer]))
    return blocks.message(_fallback(ranked, count, noun, team_label, day), content)


def _noun(count: int) -> str:
    return "anomaly" if count == 1 else "anomalies"


def _fallback(ranked: list[Alert], count: int, noun: str, team_label: str | None, day: date) -> str:
    where = f" for {blocks.shorten(team_label, NAME_MAX)}" if team_label else ""
    lines = "; ".join(brief_text(alert) for alert in ranked[:3])
    more = f"; and {count - 3} more" if count > 3 else ""
    text = f"{count} cost {noun}{where} through {long_day(day)}: {lines}{more}"
    return blocks.escape_mrkdwn(blocks.truncate(text, blocks.MESSAGE_TEXT_MAX // 2, mrkdwn=False))


# ---- after a press


def _mention(user_id: str | None) -> str:
    if user_id and _SLACK_ID.match(user_id):
        return f"<@{user_id}>"
    return blocks.escape_mrkdwn(user_id or "someone")


def anomaly_status_text(
    episode: Mapping[str, Any], actions: Sequence[Mapping[str, Any]] = ()
) -> str:
    """Who did what to an episode, from its row (acknowledged, expected, assigned) and its
    recorded presses (the latest mute): every press so far, not only the last one."""
    parts = []
    if episode.get("acknowledged_by"):
        parts.append(f"✅ Acknowledged by {_mention(episode['acknowledged_by'])}")
    if episode.get("expected_by"):
        parts.append(
            f"🟢 Marked expected by {_mention(episode['expected_by'])}: "
            "this level is normal from now on"
        )
    mutes = [action for action in actions if action.get("action") == "mute"]
    if mutes and mutes[-1].get("detail"):
        until = date.fromisoformat(str(mutes[-1]["detail"]))
        parts.append(
            f"🔕 Muted until {long_day(until, with_year=False)} by {_mention(mutes[-1]['user_id'])}"
        )
    if episode.get("assigned_to"):
        parts.append(
            f"👤 Assigned to {_mention(episode['assigned_to'])} by "
            f"{_mention(episode.get('assigned_by'))}"
        )
    return " · ".join(parts) or OPEN_STATUS


_IMAGE_KEYS = ("type", "block_id", "alt_text", "title", "image_url")


def _as_sent(block: Mapping[str, Any]) -> dict[str, Any]:
    """A block from an interaction payload as it can be sent back: Slack adds read-only fields
    to image blocks (sizes, a file's url and name) that a message it is sent is refused for."""
    if block.get("type") != "image":
        return dict(block)
    kept = {key: block[key] for key in _IMAGE_KEYS if key in block}
    slack_file = block.get("slack_file")
    if isinstance(slack_file, Mapping):
        kept["slack_file"] = (
            {"id": slack_file["id"]} if slack_file.get("id") else {"url": slack_file.get("url")}
        )
        kept.pop("image_url", None)
    return kept


def episodes_in(message_blocks: Sequence[Mapping[str, Any]]) -> list[int]:
    """The episodes an alert message has buttons for, in message order."""
    found = []
    for block in message_blocks:
        block_id = str(block.get("block_id") or "")
        if block_id.startswith(ACTIONS_BLOCK_PREFIX):
            episode_id = episode_id_from({"block_id": block_id})
            if episode_id is not None:
                found.append(episode_id)
    return found


def with_statuses(
    message_blocks: Sequence[Mapping[str, Any]], statuses: Mapping[int, str]
) -> list[dict[str, Any]]:
    """The message's blocks with each listed episode's status line replaced (or put back under
    its buttons if it is missing); every other block as it was."""
    updated = [_as_sent(block) for block in message_blocks]
    for episode_id, status in statuses.items():
        target = status_block_id(episode_id)
        line = blocks.context([status], block_id=target)
        index = next((i for i, b in enumerate(updated) if b.get("block_id") == target), None)
        if index is not None:
            updated[index] = line
            continue
        buttons = actions_block_id(episode_id)
        index = next((i for i, b in enumerate(updated) if b.get("block_id") == buttons), None)
        if index is not None and len(updated) < blocks.MESSAGE_BLOCKS_MAX:
            updated.insert(index + 1, line)
    return updated


def with_episode_status(
    message_blocks: Sequence[Mapping[str, Any]], episode_id: int, status: str
) -> list[dict[str, Any]]:
    """`with_statuses` for one episode."""
    return with_statuses(message_blocks, {episode_id: status})
