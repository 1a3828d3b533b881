"""The anomaly alert message: amounts to the cent, days spelled out, the root cause in words,
hostile names escaped everywhere, Block Kit limits for any number of alerts, the buttons and
what a press does to the message's blocks."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from bot.analytics.anomalies import Alert, Cause, SeriesKey
from bot.render import blocks
from bot.render.anomalies import (
    ACKNOWLEDGE_ACTION_ID,
    ASSIGN_ACTION_ID,
    DRY_RUN_NOTE,
    EXPECTED_ACTION_ID,
    MUTE_ACTION_ID,
    OPEN_STATUS,
    anomaly_message,
    anomaly_status_text,
    episode_id_from,
    episodes_in,
    long_day,
    with_episode_status,
)
from bot.render.cost import CHART_PLACEHOLDER

DAY = date(2026, 3, 5)  # a Thursday
START = date(2026, 3, 4)  # a Wednesday
EC2 = SeriesKey("payments", "Amazon EC2", "111122223333", "USD")
BOX = Cause("Amazon EC2", "111122223333", "us-east-1", "USE1-BoxUsage:m5.large", Decimal("0.78"), 1)
TRANSFER = Cause(
    "Amazon EC2", "111122223333", "us-west-2", "USW2-DataTransfer-Out-Bytes", Decimal("0.15"), 1
)
EVIL_TEAM = "<!channel> R&D *bold*"
EVIL_SERVICE = "<https://evil.test|click> & Co"
EVIL_SKU = "<@U0BOSS>&<!here>"


def alert(
    key: SeriesKey = EC2,
    *,
    expected: int = 120_000_000,
    actual: int = 480_000_000,
    kind: str = "spike",
    episode_id: int | None = 12,
    root_cause: tuple[Cause, ...] = (BOX, TRANSFER),
    **fields,
) -> Alert:
    return Alert(
        key=key,
        kind=kind,
        start=fields.pop("start", START),
        day=DAY,
        expected_micros=expected,
        actual_micros=actual,
        channel="#team-payments",
        root_cause=root_cause,
        episode_id=episode_id,
        **fields,
    )


def texts(payload: dict, *, mrkdwn_only: bool = False) -> list[str]:
    """Every text Slack shows: the fallback, headers, sections, context (and button labels)."""
    found = [payload["text"]]
    for block in payload["blocks"]:
        text = block.get("text")
        if isinstance(text, dict) and not (mrkdwn_only and text["type"] == "plain_text"):
            found.append(text["text"])
        for element in block.get("elements", []):
            if element.get("type") == "mrkdwn":
                found.append(element["text"])
            elif not mrkdwn_only and isinstance(element.get("text"), dict):
                found.append(element["text"]["text"])
    return found


def sections(payload: dict) -> list[str]:
    return [b["text"]["text"] for b in payload["blocks"] if b["type"] == "section"]


def of_type(payload: dict, kind: str) -> list[dict]:
    return [b for b in payload["blocks"] if b["type"] == kind]


def test_amounts_are_to_the_cent_and_add_up_on_the_message():
    # $120.004999 shows as $120.00 and $480.005 as $480.01: the increase shown is their
    # difference, and the month is 30 of those days.
    payload = anomaly_message(
        [alert(expected=120_004_999, actual=480_005_000)], DAY, team_label="payments"
    )
    (text,) = sections(payload)
    assert text.splitlines() == [
        "🔺 *Spike* · payments · Amazon EC2 · account 111122223333",
        "Expected $120.00/day, got $480.01/day (+300%, +$360.01/day)",
        "78% from Amazon EC2 USE1-BoxUsage:m5.large in us-east-1; "
        "15% from Amazon EC2 USW2-DataTransfer-Out-Bytes in us-west-2",
        "Started Wednesday 4 March 2026 · about *$10,800.30 a month* if it persists",
    ]
    assert payload["text"].startswith(
        "1 cost anomaly for payments through Thursday 5 March 2026: Spike: payments · "
        "Amazon EC2 · account 111122223333, +$360.01/day (+300%) since Wednesday 4 March"
    )
    assert of_type(payload, "header")[0]["text"]["text"] == "🚨 1 cost anomaly for payments"
    assert of_type(payload, "context")[-1]["elements"][0]["text"] == (
        "Cost per day through Thursday 5 March 2026"
    )


def test_amounts_in_another_currency_say_so():
    key = SeriesKey("payments", "Compute", "sub-1", "EUR")
    (text,) = sections(anomaly_message([alert(key)], DAY, team_label=None))
    assert "Expected EUR 120.00/day, got EUR 480.00/day (+300%, +EUR 360.00/day)" in text
    assert "about *EUR 10,800.00 a month*" in text


@pytest.mark.parametrize(
    ("fields", "first_line", "amounts"),
    [
        (
            {"kind": "new", "expected": 0, "actual": 55_000_000},
            "🆕 *New spend* · payments · Amazon EC2 · account 111122223333",
            "Nothing was expected, got $55.00/day (+$55.00/day)",
        ),
        (
            {"kind": "shift", "account_name": "prod-payments"},
            "📶 *Level shift* · payments · Amazon EC2 · account prod-payments (111122223333)",
            "Expected $120.00/day, got $480.00/day (+300%, +$360.00/day)",
        ),
        (
            {"kind": "drift", "follow_up": True},
            "📈 *Drift* · payments · Amazon EC2 · account 111122223333 · "
            "🔁 _follow-up: it has grown since the first alert_",
            "Expected $120.00/day, got $480.00/day (+300%, +$360.00/day)",
        ),
        (
            {"key": SeriesKey(None, "Amazon S3", "2222", "USD")},
            "🔺 *Spike* · Untagged spend · Amazon S3 · account 2222",
            "Expected $120.00/day, got $480.00/day (+300%, +$360.00/day)",
        ),
        (
            {"key": SeriesKey("payments", None, None, "USD")},
            "🔺 *Spike* · payments · all services",
            "Expected $120.00/day, got $480.00/day (+300%, +$360.00/day)",
        ),
    ],
    ids=["new", "shift-with-account-name", "drift-follow-up", "untagged", "team-roll-up"],
)
def test_what_and_where_kind_and_follow_up(fields, first_line, amounts):
    (text,) = sections(anomaly_message([alert(**fields)], DAY, team_label="payments"))
    assert text.splitlines()[:2] == [first_line, amounts]


def test_root_cause_names_the_account_for_a_roll_up_and_says_when_there_is_none():
    rollup = SeriesKey("payments", None, None, "USD")
    cause = Cause("Amazon RDS", "333344445555", "eu-west-1", None, Decimal("1.00"), 1)
    (text,) = sections(anomaly_message([alert(rollup, root_cause=(cause,))], DAY, team_label=None))
    assert "\n100% from Amazon RDS in eu-west-1 (account 333344445555)\n" in text
    (bare,) = sections(anomaly_message([alert(root_cause=())], DAY, team_label=None))
    assert (
        bare.splitlines()[2] == "_No breakdown of the increase by service, region or usage type._"
    )


def test_hostile_names_are_escaped_everywhere_and_the_amounts_survive():
    key = SeriesKey(EVIL_TEAM, EVIL_SERVICE, "<!everyone>", "USD")
    cause = Cause(EVIL_SERVICE, "<!everyone>", "us-<east>-1", EVIL_SKU, Decimal("1.00"), 1)
    payload = anomaly_message(
        [alert(key, root_cause=(cause,), account_name="<b>Acme</b> & sons")],
        DAY,
        team_label=EVIL_TEAM,
    )
    (image,) = of_type(payload, "image")
    for text in [*texts(payload), image["alt_text"]]:
        assert "<" not in text and ">" not in text, text
    for text in texts(payload, mrkdwn_only=True):
        assert "&" not in text.replace("&amp;", "").replace("&lt;", "").replace("&gt;", "")
    (text,) = sections(payload)
    title, amounts, cause_line, when = text.splitlines()
    # The name sits outside our bold markers: its `*bold*` cannot restyle the kind or amounts.
    assert title == (
        "🔺 *Spike* · &lt;!channel&gt; R&amp;D *bold* · &lt;https://evil.test|click&gt; &amp; Co"
        " · account &lt;b&gt;Acme&lt;/b&gt; &amp; sons (&lt;!everyone&gt;)"
    )
    assert amounts == "Expected $120.00/day, got $480.00/day (+300%, +$360.00/day)"
    assert cause_line == (
        "100% from &lt;https://evil.test|click&gt; &amp; Co &lt;@U0BOSS&gt;&amp;&lt;!here&gt; "
        "in us-&lt;east&gt;-1"
    )
    assert when.endswith("about *$10,800.00 a month* if it persists")
    assert of_type(payload, "header")[0]["text"]["text"] == (
        "🚨 1 cost anomaly for ‹!channel› R&D *bold*"
    )
    assert "&lt;!channel&gt; R&amp;D *bold*" in payload["text"]
    assert "+$360.00/day (+300%)" in payload["text"]


@pytest.mark.parametrize("long_names", [False, True])
def test_200_alerts_fit_slacks_limits_largest_first_and_the_rest_listed(long_names: bool):
    name = ("S&" * 3000) if long_names else "Service"
    causes = tuple(
        Cause(f"{name} {n}", "1", f"region-{n}", f"{name}-sku-{n}", Decimal("0.1"), 1)
        for n in range(10)
    )
    alerts = [
        alert(
            SeriesKey("payments", f"{name} {n}", f"{n:012d}", "USD"),
            actual=(200 + n) * 1_000_000,
            episode_id=n + 1,
            root_cause=causes,
            account_name=name,
        )
        for n in range(200)
    ]

    payload = anomaly_message(alerts, DAY, team_label=name)

    assert len(payload["blocks"]) <= blocks.MESSAGE_BLOCKS_MAX
    assert len(payload["text"]) <= blocks.MESSAGE_TEXT_MAX
    for text in texts(payload):
        assert len(text) <= blocks.SECTION_TEXT_MAX
    block_ids = [b["block_id"] for b in payload["blocks"] if "block_id" in b]
    assert len(block_ids) == len(set(block_ids))
    # The ten largest in full, with their buttons, largest first; the chart under the first.
    rows = of_type(payload, "actions")
    assert [row["elements"][0]["value"] for row in rows] == [str(n) for n in range(200, 190, -1)]
    assert payload["blocks"][2]["slack_file"] == {"id": CHART_PLACEHOLDER}
    assert len(of_type(payload, "image")) == 1
    detailed = [s for s in sections(payload) if not s.startswith("*…and")]
    assert len(detailed) == 10
    assert all("Started Wednesday 4 March 2026 · about *$" in s for s in detailed)
    assert "(+233%, +$279.00/day)" in detailed[0]
    (more,) = [s for s in sections(payload) if s.startswith("*…and")]
    assert more.startswith("*…and 190 more anomalies:*\n• Spike: payments · ")
    if not long_names:
        assert "\n• Spike: payments · Service 189 · account Service (000000000189), " in more
        assert "(000000000189), +$269.00/day (+224%) since Wednesday 4 March\n" in more
    assert more.endswith("more_") or more.count("• ") == 190


def test_the_buttons_carry_the_episode_id():
    payload = anomaly_message(
        [alert(episode_id=7), alert(SeriesKey("payments", "Amazon S3", "1", "USD"), episode_id=8)],
        DAY,
        team_label="payments",
        mute_days=3,
    )
    first, second = of_type(payload, "actions")
    assert first["block_id"] == "anomaly_actions:7" and second["block_id"] == "anomaly_actions:8"
    acknowledge, expected, mute, assign = first["elements"]
    assert [e["action_id"] for e in first["elements"]] == [
        ACKNOWLEDGE_ACTION_ID,
        EXPECTED_ACTION_ID,
        MUTE_ACTION_ID,
        ASSIGN_ACTION_ID,
    ]
    assert [acknowledge["value"], expected["value"], mute["value"]] == ["7", "7", "7"]
    assert acknowledge["text"]["text"] == "Acknowledge" and acknowledge["style"] == "primary"
    assert expected["text"]["text"] == "Expected (adopt as normal)" and "confirm" in expected
    assert mute["text"]["text"] == "Mute 3 days"
    assert assign["type"] == "users_select"
    assert assign["placeholder"]["text"] == "Assign to…"
    statuses = [b for b in of_type(payload, "context") if "block_id" in b]
    assert [b["block_id"] for b in statuses] == ["anomaly_status:7", "anomaly_status:8"]
    assert all(b["elements"][0]["text"] == OPEN_STATUS for b in statuses)
    assert DRY_RUN_NOTE not in str(payload)


def test_a_dry_run_has_no_buttons_and_says_so():
    payload = anomaly_message(
        [alert(episode_id=None), alert(actual=300_000_000, episode_id=None)],
        DAY,
        team_label="payments",
    )
    assert of_type(payload, "actions") == []
    assert not [b for b in payload["blocks"] if "block_id" in b]
    assert DRY_RUN_NOTE in of_type(payload, "context")[-1]["elements"][0]["text"]
    assert len(sections(payload)) == 2 and len(of_type(payload, "image")) == 1


def test_no_alerts_is_a_programming_error():
    with pytest.raises(ValueError):
        anomaly_message([], DAY, team_label=None)


@pytest.mark.parametrize(
    ("day", "with_year", "text"),
    [
        (date(2026, 3, 4), True, "Wednesday 4 March 2026"),
        (date(2026, 12, 11), False, "Friday 11 December"),
    ],
)
def test_days_are_spelled_out(day, with_year, text):
    assert long_day(day, with_year=with_year) == text


def test_the_status_says_every_press_so_far():
    episode = {
        "id": 3,
        "acknowledged_by": "U0ALICE",
        "expected_by": None,
        "assigned_to": "U0BOB",
        "assigned_by": "U0ALICE",
    }
    mutes = [
        {"action": "mute", "user_id": "U0CAROL", "detail": "2026-12-11"},
        {"action": "acknowledge", "user_id": "U0ALICE", "detail": None},
    ]
    assert anomaly_status_text(episode, mutes) == (
        "✅ Acknowledged by <@U0ALICE> · 🔕 Muted until Friday 11 December by <@U0CAROL> · "
        "👤 Assigned to <@U0BOB> by <@U0ALICE>"
    )
    assert anomaly_status_text({"id": 3}) == OPEN_STATUS
    # Not a Slack user id: shown as text, never as a mention.
    hostile = anomaly_status_text({"acknowledged_by": "<!channel>"})
    assert hostile == "✅ Acknowledged by &lt;!channel&gt;"


def test_a_press_replaces_only_its_status_line_and_keeps_the_chart_sendable():
    payload = anomaly_message([alert(episode_id=5)], DAY, team_label="payments")
    shown = [
        {**b, "image_width": 1200, "slack_file": {"id": "F1", "url": "https://x"}}
        if b["type"] == "image"
        else b
        for b in payload["blocks"]
    ]
    updated = with_episode_status(shown, 5, "✅ Acknowledged by <@U0ALICE>")
    (status,) = [b for b in updated if b.get("block_id") == "anomaly_status:5"]
    assert status["elements"][0]["text"] == "✅ Acknowledged by <@U0ALICE>"
    (image,) = [b for b in updated if b["type"] == "image"]
    assert image["slack_file"] == {"id": "F1"} and "image_width" not in image
    assert len(updated) == len(payload["blocks"])
    # A message whose status line is missing gets it back under the buttons.
    without = [b for b in shown if b.get("block_id") != "anomaly_status:5"]
    again = with_episode_status(without, 5, "done")
    index = next(i for i, b in enumerate(again) if b.get("block_id") == "anomaly_actions:5")
    assert again[index + 1]["block_id"] == "anomaly_status:5"
    # Another episode's press changes no line here.
    other = with_episode_status(shown, 6, "changed")
    assert [b.get("block_id") for b in other] == [b.get("block_id") for b in shown]
    assert "changed" not in str(other)


@pytest.mark.parametrize(
    ("action", "episode_id"),
    [
        ({"value": "12", "block_id": "anomaly_actions:12"}, 12),
        ({"block_id": "anomaly_actions:9", "selected_user": "U1"}, 9),
        ({"value": "12; DROP TABLE"}, None),
        ({"value": "١٢"}, None),  # Arabic-Indic digits: isdigit() but not an id
        ({"block_id": "costbot_share"}, None),
        ({}, None),
    ],
)
def test_the_episode_of_a_pressed_element(action, episode_id):
    assert episode_id_from(action) == episode_id


def test_dates_in_the_past_year_keep_their_year():
    text = sections(anomaly_message([alert(start=date(2025, 12, 30))], DAY, team_label=None))[0]
    assert "Started Tuesday 30 December 2025" in text
    assert long_day(DAY - timedelta(days=0)) == "Thursday 5 March 2026"


def test_large_increases_read_with_separators():
    (text,) = sections(anomaly_message([alert(expected=1_000_000, actual=150_001_000_000)], DAY,
                                       team_label=None))  # fmt: skip
    assert "Expected $1.00/day, got $150,001.00/day (+15,000,000%, +$150,000.00/day)" in text
    assert "about *$4,500,000.00 a month*" in text


def test_a_follow_up_keeps_saying_who_acted_on_its_episode():
    acted = anomaly_status_text({"acknowledged_by": "U0ALICE"})
    payload = anomaly_message(
        [alert(episode_id=3, follow_up=True), alert(SeriesKey("x", "y", "z", "USD"), episode_id=4)],
        DAY,
        team_label=None,
        statuses={3: acted},
    )
    statuses = {
        b["block_id"]: b["elements"][0]["text"]
        for b in of_type(payload, "context")
        if "block_id" in b
    }
    assert statuses == {
        "anomaly_status:3": "✅ Acknowledged by <@U0ALICE>",
        "anomaly_status:4": OPEN_STATUS,
    }


def test_the_episodes_a_message_has_buttons_for():
    payload = anomaly_message(
        [alert(episode_id=3), alert(SeriesKey("x", "y", "z", "USD"), actual=10**9, episode_id=9)],
        DAY,
        team_label=None,
    )
    assert episodes_in(payload["blocks"]) == [9, 3]  # largest first
    assert (
        episodes_in(anomaly_message([alert(episode_id=None)], DAY, team_label=None)["blocks"]) == []
    )


def test_the_organisations_currency_comes_first_amounts_are_never_compared_across():
    """¥90,000 a day more is not larger than $500 a day more: nothing is converted, so the
    alerts in the organisation's currency lead (and get the chart), the others follow."""
    yen = alert(
        SeriesKey("payments", "Amazon EC2", "999988887777", "JPY"),
        expected=10_000_000_000,
        actual=100_000_000_000,
        episode_id=1,
    )
    dollars = alert(expected=100_000_000, actual=600_000_000, episode_id=2)
    payload = anomaly_message([yen, dollars], DAY, team_label="payments", currency="USD")
    assert episodes_in(payload["blocks"]) == [2, 1]
    kinds = [
        "chart"
        if b.get("slack_file", {}).get("id") == CHART_PLACEHOLDER
        else episode_id_from({"block_id": b.get("block_id") or ""})
        for b in payload["blocks"]
    ]
    assert kinds.index("chart") < kinds.index(2) < kinds.index(1)
