"""bot.slack.delivery as jobs will use it: `post(channel, message, chart, key)` against the fake
Slack over HTTP, recorded in a real SQLite store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fake_slack import FakeSlack
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator

from bot.render import blocks
from bot.render.cost import CHART_PLACEHOLDER, Chart
from bot.slack.client import build_web_client
from bot.slack.delivery import CHART_REFUSED_NOTE, Delivery
from bot.store import open_store
from bot.store.queries import delivery as recorded_delivery

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
CHART = Chart(png=PNG, title="Weekly cost", alt_text="Bar chart of weekly cost", filename="w.png")
CHANNEL = "C0PAYMENTS"


def digest() -> dict:
    return blocks.message(
        "payments: $1,234.56 this week",
        [
            blocks.section("*payments*: $1,234.56 this week"),
            blocks.image("placeholder", slack_file_id=CHART_PLACEHOLDER),
        ],
    )


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    path = tmp_path / "costbot.db"
    open_store(path).close()
    return path


@pytest.fixture
def delivery(fake_slack: FakeSlack, store_path: Path) -> Delivery:
    client = build_web_client(retry_interval=FixedValueRetryIntervalCalculator(0.01), timeout=2)
    return Delivery(client, lambda: open_store(store_path))


def record(store_path: Path, key: str) -> dict:
    db = open_store(store_path)
    try:
        row = recorded_delivery(db, key)
    finally:
        db.close()
    assert row is not None
    return row


def test_a_post_shows_its_chart_once_and_is_recorded(
    fake_slack: FakeSlack, delivery: Delivery, store_path: Path
) -> None:
    delivered = delivery.post(CHANNEL, digest(), CHART, key="weekly-digest:payments:2026-W48")

    assert delivered.ok and delivered.chart == "inline"
    (message,) = fake_slack.channel_messages()
    assert message.channel == CHANNEL and message.kind == "message"
    (uploaded,) = fake_slack.uploaded_files()
    assert uploaded.is_private  # shown by the message alone, not shared as a message of its own
    (image,) = [b for b in message.blocks if b["type"] == "image"]
    assert image["slack_file"] == {"id": uploaded.file_id}
    assert image["alt_text"] == CHART.alt_text
    row = record(store_path, "weekly-digest:payments:2026-W48")
    assert (row["status"], row["channel"], row["ts"]) == ("sent", CHANNEL, message.ts)
    assert json.loads(row["payload"])["blocks"] == message.blocks


def test_the_same_key_is_never_posted_twice(fake_slack: FakeSlack, delivery: Delivery) -> None:
    first = delivery.post(CHANNEL, digest(), CHART, key="weekly-digest:payments:2026-W48")
    again = delivery.post(CHANNEL, digest(), CHART, key="weekly-digest:payments:2026-W48")

    assert first.ok and again.status == "duplicate"
    assert len(fake_slack.channel_messages()) == 1
    assert len(fake_slack.uploaded_files()) == 1


def test_a_failed_post_is_recorded_and_may_be_retried(
    fake_slack: FakeSlack, delivery: Delivery, store_path: Path
) -> None:
    fake_slack.not_in_channel.add(CHANNEL)
    failed = delivery.post(CHANNEL, digest(), None, key="alert:42")
    assert (failed.status, failed.error) == ("failed", "not_in_channel")
    assert record(store_path, "alert:42")["status"] == "failed"

    fake_slack.not_in_channel.discard(CHANNEL)
    assert delivery.post(CHANNEL, digest(), None, key="alert:42").ok
    assert len(fake_slack.channel_messages(CHANNEL)) == 1


def test_slack_refusing_the_image_posts_the_text_without_it(
    fake_slack: FakeSlack, delivery: Delivery
) -> None:
    fake_slack.error_next("chat.postMessage", "invalid_blocks")

    delivered = delivery.post(CHANNEL, digest(), CHART, key="k")

    assert delivered.ok and delivered.chart == "refused"
    (message,) = fake_slack.channel_messages()
    assert not [b for b in message.blocks if b["type"] == "image"]
    assert CHART_REFUSED_NOTE in str(message.blocks)


def test_a_failed_upload_still_posts_the_message(fake_slack: FakeSlack, delivery: Delivery) -> None:
    fake_slack.fail_next("files.getUploadURLExternal", status=500, times=10)

    delivered = delivery.post(CHANNEL, digest(), CHART, key="k")

    assert delivered.ok and delivered.chart == "failed"
    (message,) = fake_slack.channel_messages()
    assert "No chart" in str(message.blocks)
    assert not [b for b in message.blocks if b["type"] == "image"]


def test_a_message_without_a_placeholder_gets_the_chart_appended(
    fake_slack: FakeSlack, delivery: Delivery
) -> None:
    plain = blocks.message("hello", [blocks.section("hello")])

    delivery.post(CHANNEL, plain, CHART, key="k")

    (message,) = fake_slack.channel_messages()
    assert [b["type"] for b in message.blocks] == ["section", "image"]


def test_a_full_message_keeps_within_slacks_50_blocks_with_the_chart_and_buttons(
    fake_slack: FakeSlack, delivery: Delivery
) -> None:
    full = blocks.message("many", [blocks.section(f"line {n}") for n in range(50)])
    button = blocks.actions([blocks.button("Share in channel", "share_answer", "answer:x")])

    delivered = delivery.respond(
        fake_slack.response_url("full"), full, CHART, key="answer:x", extra_blocks=[button]
    )

    assert delivered.ok and delivered.chart == "inline"
    (shown,) = fake_slack.responses_posted("full")
    assert len(shown["blocks"]) == 50
    assert [b["type"] for b in shown["blocks"][-2:]] == ["image", "actions"]
