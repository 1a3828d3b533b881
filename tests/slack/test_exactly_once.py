"""Exactly once, as a channel sees it: `Delivery.post` and a job's fan-out against the fake Slack
over HTTP, with the store in a real SQLite file, through broken connections, a process killed
with SIGKILL before and after Slack took its message, and claims left by other processes."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from fake_slack import FakeSlack
from fanout_world import (
    JOB,
    PERIOD,
    channel_id,
    digest_for,
    digests,
    name_channels,
)
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator

from bot.render import blocks
from bot.slack.client import build_web_client
from bot.slack.delivery import METADATA_EVENT_TYPE, METADATA_KEY_FIELD, Delivery
from bot.store import open_store, writers
from bot.store.queries import delivery as recorded_delivery
from jobs.fanout import JobResult, fan_out

WORLD = Path(__file__).resolve().parent.parent / "fanout_world.py"
CHANNEL = "C0PAYMENTS"
KEY = "weekly-digest:2026-10-19:C0PAYMENTS"


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    path = tmp_path / "costbot.db"
    open_store(path).close()
    return path


def new_delivery(store_path: Path) -> Delivery:
    client = build_web_client(retry_interval=FixedValueRetryIntervalCalculator(0.01), timeout=5)
    return Delivery(client, lambda: open_store(store_path))


@pytest.fixture
def delivery(fake_slack: FakeSlack, store_path: Path) -> Delivery:
    return new_delivery(store_path)


def digest(text: str = "payments: $1,234.56 from Monday 19 to Sunday 25 October 2026") -> dict:
    return blocks.message(text, [blocks.section(text)])


def row(store_path: Path, key: str) -> dict:
    db = open_store(store_path)
    try:
        found = recorded_delivery(db, key)
    finally:
        db.close()
    assert found is not None, f"no delivery recorded for {key}"
    return found


def statuses(store_path: Path) -> dict[str, str]:
    db = open_store(store_path)
    try:
        return {r["key"]: r["status"] for r in db.query("SELECT key, status FROM deliveries")}
    finally:
        db.close()


def messages_per_channel(fake_slack: FakeSlack) -> Counter:
    """How many messages each channel (by id, as Slack shows it) received."""
    return Counter(
        fake_slack.channel_id(m.channel)
        for m in fake_slack.channel_messages()
        if m.kind == "message"
    )


def claim_as(store_path: Path, key: str, owner: str, channel: str = CHANNEL) -> None:
    """A pending claim on `key` as another process (`owner` = host:pid) left it."""
    db = open_store(store_path)
    try:
        writers.claim_delivery_once(db, key, kind=JOB, channel=channel)
        writers.update_delivery(db, key, owner=owner)
    finally:
        db.close()


# ---- what a post carries


def test_a_post_carries_metadata_naming_its_key(fake_slack: FakeSlack, delivery: Delivery) -> None:
    posted = delivery.post(CHANNEL, digest(), key=KEY, job=JOB, period=PERIOD)

    assert posted.status == "sent"
    (message,) = fake_slack.channel_messages(CHANNEL)
    assert message.metadata == {
        "event_type": METADATA_EVENT_TYPE,
        "event_payload": {METADATA_KEY_FIELD: KEY},
    }
    recorded = delivery.recorded(KEY)
    assert recorded is not None
    assert (recorded["status"], recorded["ts"], recorded["channel_id"]) == (
        "sent",
        message.ts,
        CHANNEL,
    )
    assert (recorded["job"], recorded["period"]) == (JOB, PERIOD)


def test_a_messages_own_metadata_is_kept_with_the_key_added(
    fake_slack: FakeSlack, delivery: Delivery
) -> None:
    own = {"event_type": "costbot_answer", "event_payload": {"total": "1234.56", "team": "pay"}}
    delivery.post(CHANNEL, {**digest(), "metadata": own}, key=KEY)

    (message,) = fake_slack.channel_messages(CHANNEL)
    assert message.metadata == {
        "event_type": "costbot_answer",
        "event_payload": {"total": "1234.56", "team": "pay", METADATA_KEY_FIELD: KEY},
    }


# ---- Slack took it, the answer never came


def test_a_post_whose_answer_is_lost_is_found_in_history_not_posted_again(
    fake_slack: FakeSlack, delivery: Delivery, store_path: Path
) -> None:
    fake_slack.drop_post_responses(1)

    posted = delivery.post(CHANNEL, digest(), key=KEY, job=JOB, period=PERIOD)

    # Its own message, found: sent by this delivery (not recovered from an earlier run).
    assert posted.status == "sent" and not posted.recovered
    assert len(fake_slack.channel_messages(CHANNEL)) == 1
    assert len(fake_slack.calls("chat.postMessage")) == 1
    recorded = row(store_path, KEY)
    assert recorded["status"] == "sent"
    assert recorded["ts"] == fake_slack.channel_messages(CHANNEL)[0].ts
    assert recorded["uncertain"] == 0
    # And a re-run posts nothing.
    assert delivery.post(CHANNEL, digest(), key=KEY).status == "duplicate"
    assert len(fake_slack.channel_messages(CHANNEL)) == 1


# ---- THE KILL


def run_world(
    fake_slack: FakeSlack, store_path: Path, channels: int, *extra: str
) -> subprocess.Popen:
    env = {
        **os.environ,
        "SLACK_API_URL": fake_slack.url,
        "SLACK_BOT_TOKEN": "xoxb-test",
        "COSTBOT_DB": str(store_path),
    }
    return subprocess.Popen(
        [sys.executable, str(WORLD), str(channels), *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def kill(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(10)  # reaped: its pid is gone, so its pending claims are seen as abandoned
    assert process.returncode == -signal.SIGKILL


def restart(store_path: Path, channels: int) -> JobResult:
    """The same fan-out, run again (as a restarted scheduler would)."""
    return fan_out(
        digests(channels),
        JobResult(JOB, datetime(2026, 10, 26).date()),
        delivery=new_delivery(store_path),
        open_reader=lambda: open_store(store_path),
        admin_channel="#finops",
    )


@pytest.mark.parametrize("threads", ["1", "8"])
def test_killed_after_slack_took_the_5th_post_a_restart_delivers_each_channel_once(
    fake_slack: FakeSlack, store_path: Path, threads: str
) -> None:
    name_channels(fake_slack, 12)
    fake_slack.hold_post_responses(1, after=4)
    child = run_world(fake_slack, store_path, 12, "--threads", threads)
    try:
        # Slack has the 5th message in its channel; the child waits for an answer that never
        # comes, and dies.
        fake_slack.wait_for_count("chat.postMessage", 5, timeout=30)
        assert sum(messages_per_channel(fake_slack).values()) >= 5
    finally:
        kill(child)
    held = fake_slack.channel_messages()[4]
    held_key = held.metadata["event_payload"][METADATA_KEY_FIELD]
    assert statuses(store_path)[held_key] == "pending"
    posts_before = len(fake_slack.calls("chat.postMessage"))
    in_slack_before = sum(messages_per_channel(fake_slack).values())

    result = restart(store_path, 12)

    assert messages_per_channel(fake_slack) == Counter({channel_id(i): 1 for i in range(12)})
    assert statuses(store_path) == {item.key: "sent" for item in digests(12)}
    (recovered,) = [d for d in result.deliveries if d["key"] == held_key]
    # Found in the channel, not posted by this run: a duplicate, and said to be recovered.
    assert recovered["status"] == "duplicate" and recovered["recovered"] is True
    # The held message was found in the history, not posted again; only the ones the child
    # never reached were posted.
    posted_now = len(fake_slack.calls("chat.postMessage")) - posts_before
    assert posted_now == 12 - in_slack_before
    assert fake_slack.calls("conversations.history")
    assert not [m for m in fake_slack.channel_messages() if m.channel == "#finops"]
    # A second restart posts nothing.
    again = restart(store_path, 12)
    assert {d["status"] for d in again.deliveries} == {"duplicate"}
    assert sum(messages_per_channel(fake_slack).values()) == 12


def test_killed_before_the_5th_post_reached_slack_a_restart_posts_it_once(
    fake_slack: FakeSlack, store_path: Path
) -> None:
    name_channels(fake_slack, 12)
    # The 5th request is held at the door: Slack never takes it.
    fake_slack.hold_requests("chat.postMessage", 1, after=4)
    child = run_world(fake_slack, store_path, 12, "--threads", "1")
    try:
        fake_slack.wait_for(lambda call: call.method == "chat.postMessage" and call.status == 0)
    finally:
        kill(child)
    in_slack = messages_per_channel(fake_slack)
    assert sum(in_slack.values()) == 4
    fifth = digests(12)[4]
    assert statuses(store_path)[fifth.key] == "pending"
    assert channel_id(4) not in in_slack

    restart(store_path, 12)

    assert messages_per_channel(fake_slack) == Counter({channel_id(i): 1 for i in range(12)})
    assert set(statuses(store_path).values()) == {"sent"}


# ---- claims of other processes


def test_a_pending_delivery_of_a_live_process_is_not_taken_over(
    fake_slack: FakeSlack, store_path: Path, delivery: Delivery
) -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        claim_as(store_path, KEY, f"{socket.gethostname()}:{sleeper.pid}")

        assert delivery.post(CHANNEL, digest(), key=KEY).status == "duplicate"
        assert fake_slack.channel_messages(CHANNEL) == []
        assert row(store_path, KEY)["status"] == "pending"
    finally:
        sleeper.kill()
        sleeper.wait()
    # Its owner gone, the delivery is taken over (history first: nothing there), posted once.
    assert delivery.post(CHANNEL, digest(), key=KEY).status == "sent"
    assert len(fake_slack.channel_messages(CHANNEL)) == 1
    assert fake_slack.calls("conversations.history")


def test_a_pending_delivery_of_another_host_waits_until_it_is_stale(
    fake_slack: FakeSlack, store_path: Path, delivery: Delivery
) -> None:
    start = datetime(2026, 10, 26, 9, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        claim_as(store_path, KEY, "another-host:4242")
    with time_machine.travel(start + writers.STALE_PENDING - timedelta(seconds=30), tick=False):
        assert delivery.post(CHANNEL, digest(), key=KEY).status == "duplicate"
    assert fake_slack.channel_messages(CHANNEL) == []
    with time_machine.travel(start + writers.STALE_PENDING + timedelta(seconds=30), tick=False):
        assert delivery.post(CHANNEL, digest(), key=KEY).status == "sent"
    assert len(fake_slack.channel_messages(CHANNEL)) == 1
    assert row(store_path, KEY)["owner"] == writers.process_owner()


# ---- failures: definitive or uncertain


def test_a_refusal_is_retried_on_the_next_run_without_a_history_search(
    fake_slack: FakeSlack, store_path: Path, delivery: Delivery
) -> None:
    fake_slack.missing_channels.add(CHANNEL)
    failed = delivery.post(CHANNEL, digest(), key=KEY)
    assert (failed.status, failed.error) == ("failed", "channel_not_found")
    assert row(store_path, KEY)["uncertain"] == 0

    fake_slack.missing_channels.clear()
    assert delivery.post(CHANNEL, digest(), key=KEY).status == "sent"

    assert len(fake_slack.channel_messages(CHANNEL)) == 1
    assert fake_slack.calls("conversations.history") == []


def test_an_uncertain_failure_is_looked_up_before_posting_again(
    fake_slack: FakeSlack, store_path: Path, delivery: Delivery
) -> None:
    # Two 5xx: Slack may or may not have taken either; the history says it did not.
    fake_slack.fail_next("chat.postMessage", status=500, times=2)
    failed = delivery.post(CHANNEL, digest(), key=KEY)
    assert failed.status == "failed"
    assert row(store_path, KEY)["uncertain"] == 1
    searches = len(fake_slack.calls("conversations.history"))

    assert delivery.post(CHANNEL, digest(), key=KEY).status == "sent"

    assert len(fake_slack.calls("conversations.history")) == searches + 1
    assert len(fake_slack.channel_messages(CHANNEL)) == 1


def test_an_unreadable_history_posts_and_warns_with_the_missing_scope(
    fake_slack: FakeSlack,
    store_path: Path,
    delivery: Delivery,
    caplog: pytest.LogCaptureFixture,
) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    claim_as(store_path, KEY, f"{socket.gethostname()}:{dead.pid}")
    fake_slack.error_next("conversations.history", "missing_scope")

    with caplog.at_level(logging.WARNING, logger="bot.slack.delivery"):
        posted = delivery.post(CHANNEL, digest(), key=KEY)

    assert posted.status == "sent" and not posted.recovered
    assert len(fake_slack.channel_messages(CHANNEL)) == 1
    warning = " ".join(r.getMessage() for r in caplog.records)
    assert "missing_scope" in warning and "channels:history" in warning


# ---- channel ids


def test_a_channel_name_is_looked_up_once_and_remembered(
    fake_slack: FakeSlack, store_path: Path, delivery: Delivery
) -> None:
    name_channels(fake_slack, 3)

    assert delivery.channel_id("#team-02") == channel_id(2)
    assert new_delivery(store_path).channel_id("#Team-02") == channel_id(2)

    assert len(fake_slack.calls("conversations.list")) == 1
    db = open_store(store_path)
    try:
        assert list(db.query("SELECT name, id FROM slack_channels")) == [
            {"name": "team-02", "id": channel_id(2)}
        ]
    finally:
        db.close()


def test_a_post_to_a_name_remembers_the_id_slack_answered(
    fake_slack: FakeSlack, store_path: Path, delivery: Delivery
) -> None:
    name_channels(fake_slack, 3)
    item = digest_for(1)

    delivery.post(item.channel, item.message, key=item.key)

    assert delivery.channel_id("#team-01") == channel_id(1)
    assert fake_slack.calls("conversations.list") == []
    assert row(store_path, item.key)["channel_id"] == channel_id(1)


def test_two_processes_at_once_post_each_key_once(fake_slack: FakeSlack, store_path: Path) -> None:
    name_channels(fake_slack, 12)
    children = [run_world(fake_slack, store_path, 12, "--threads", "4") for _ in range(2)]
    results = []
    for child in children:
        out, err = child.communicate(timeout=60)
        assert child.returncode == 0, err.decode()
        results.append(json.loads(out.decode().strip().splitlines()[-1]))

    assert messages_per_channel(fake_slack) == Counter({channel_id(i): 1 for i in range(12)})
    assert set(statuses(store_path).values()) == {"sent"}
    sent = Counter(d["key"] for r in results for d in r["deliveries"] if d["status"] == "sent")
    assert sent == Counter({item.key: 1 for item in digests(12)})
