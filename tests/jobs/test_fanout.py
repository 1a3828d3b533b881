"""`fan_out` as channels and the admin see it, against the fake Slack over HTTP: Slack's per-channel
rate limit, channels that cannot be posted to (reported once to the admin channel), re-runs,
dry runs, charts rendered in worker processes, and two fan-outs at once on one store."""

from __future__ import annotations

import os
import threading
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from fake_slack import FakeSlack
from fanout_world import (
    ADMIN_CHANNEL,
    JOB,
    PERIOD,
    channel_id,
    digest_for,
    digests,
    name_channels,
)
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator

from bot.money import format_money
from bot.slack.client import build_web_client
from bot.slack.delivery import Delivery
from bot.store import open_store
from jobs import fanout
from jobs.fanout import CHART_NOT_DRAWN_NOTE, JobResult, Outgoing, delivery_key, fan_out

ADMIN_ID = "C0FINOPS00"
RUN_DATE = date(2026, 10, 26)


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    path = tmp_path / "costbot.db"
    open_store(path).close()
    return path


def run(
    store_path: Path,
    outgoing: list[Outgoing],
    *,
    dry_run: bool = False,
    chart_processes: int | None = None,
) -> JobResult:
    client = build_web_client(retry_interval=FixedValueRetryIntervalCalculator(0.01), timeout=10)
    return fan_out(
        outgoing,
        JobResult(JOB, RUN_DATE, dry_run=dry_run),
        delivery=None if dry_run else Delivery(client, lambda: open_store(store_path)),
        open_reader=lambda: open_store(store_path),
        admin_channel=ADMIN_CHANNEL,
        chart_processes=chart_processes,
    )


def team_messages(fake_slack: FakeSlack) -> Counter:
    """Messages per team channel id (the admin channel left out)."""
    return Counter(
        fake_slack.channel_id(m.channel)
        for m in fake_slack.channel_messages()
        if m.kind == "message" and fake_slack.channel_id(m.channel) != ADMIN_ID
    )


def admin_messages(fake_slack: FakeSlack) -> list:
    return [
        m for m in fake_slack.channel_messages() if fake_slack.channel_id(m.channel) == ADMIN_ID
    ]


def recorded(store_path: Path) -> dict[str, str]:
    db = open_store(store_path)
    try:
        return {r["key"]: r["status"] for r in db.query("SELECT key, status FROM deliveries")}
    finally:
        db.close()


def once_each(count: int) -> Counter:
    return Counter({channel_id(i): 1 for i in range(count)})


# ---- Slack's rate limit


def test_posts_keep_to_one_a_second_per_channel_and_429s_are_waited_out(
    fake_slack: FakeSlack, store_path: Path
) -> None:
    name_channels(fake_slack, 10)
    fake_slack.post_interval_per_channel = 1.0
    second = digest_for(0)
    weekly_and_monthly = [
        *digests(10),
        Outgoing(
            second.channel,
            delivery_key("monthly-report", "2026-10", second.channel),
            second.message,
            period="2026-10",
        ),
    ]
    # And Slack answering 429 (Retry-After: 1) to three posts on top of that.
    fake_slack.fail_next("chat.postMessage", status=429, retry_after=1, times=3)

    result = run(store_path, weekly_and_monthly)

    assert [d["status"] for d in result.deliveries] == ["sent"] * 11
    assert team_messages(fake_slack) == once_each(10) + Counter({channel_id(0): 1})
    # Two messages to one channel were paced, not refused by Slack.
    assert fake_slack.rate_limited_posts == 0
    assert len([c for c in fake_slack.calls("chat.postMessage") if c.status == 429]) == 3
    assert admin_messages(fake_slack) == []


def test_many_messages_to_one_channel_are_each_delivered_once(
    fake_slack: FakeSlack, store_path: Path
) -> None:
    name_channels(fake_slack, 1)
    fake_slack.post_interval_per_channel = 1.0
    base = digest_for(0)
    items = [
        Outgoing(base.channel, delivery_key(JOB, f"2026-10-{day:02d}", base.channel), base.message)
        for day in (5, 12, 19)
    ]

    run(store_path, items)

    assert team_messages(fake_slack) == Counter({channel_id(0): 3})
    assert fake_slack.rate_limited_posts == 0


# ---- channels that cannot be posted to


def test_failed_channels_are_reported_once_and_delivered_after_the_fix(
    fake_slack: FakeSlack, store_path: Path
) -> None:
    name_channels(fake_slack, 6)
    fake_slack.missing_channels.add("#team-01")
    fake_slack.archived_channels.add("#team-02")
    fake_slack.not_in_channel.add("#team-03")

    first = run(store_path, digests(6))

    by_channel = {d["channel"]: (d["status"], d.get("error")) for d in first.deliveries}
    assert by_channel == {
        "#team-00": ("sent", None),
        "#team-01": ("failed", "channel_not_found"),
        "#team-02": ("failed", "is_archived"),
        "#team-03": ("failed", "not_in_channel"),
        "#team-04": ("sent", None),
        "#team-05": ("sent", None),
    }
    assert team_messages(fake_slack) == Counter({channel_id(i): 1 for i in (0, 4, 5)})
    (report,) = admin_messages(fake_slack)
    assert "could not deliver the weekly-digest to 3 channels" in report.text
    shown = " ".join(b["text"]["text"] for b in report.blocks if b["type"] == "section")
    assert "#team-01: the channel does not exist" in shown
    assert "#team-02: the channel is archived" in shown
    assert "#team-03: Costbot is not in the channel: `/invite @Costbot` there" in shown
    assert "#team-00" not in shown and "#team-04" not in shown
    assert any("delivery problems reported to #finops: sent" in n for n in first.notes)

    # The same run again, nothing fixed: nothing posted, nothing reported again.
    again = run(store_path, digests(6))
    assert [d["status"] for d in again.deliveries] == [
        "duplicate",
        *["failed"] * 3,
        *["duplicate"] * 2,
    ]
    assert len(admin_messages(fake_slack)) == 1
    assert team_messages(fake_slack) == Counter({channel_id(i): 1 for i in (0, 4, 5)})

    # Fixed: the missing ones are delivered, and only they.
    fake_slack.missing_channels.clear()
    fake_slack.archived_channels.clear()
    fake_slack.not_in_channel.clear()
    fixed = run(store_path, digests(6))
    assert [d["status"] for d in fixed.deliveries] == [
        "duplicate",
        *["sent"] * 3,
        *["duplicate"] * 2,
    ]
    assert team_messages(fake_slack) == once_each(6)
    assert len(admin_messages(fake_slack)) == 1
    assert set(recorded(store_path).values()) == {"sent"}


def test_a_rerun_posts_nothing_and_renders_nothing(fake_slack: FakeSlack, store_path: Path) -> None:
    name_channels(fake_slack, 3)
    run(store_path, digests(3, charts=True))
    calls = len(fake_slack.calls())

    again = run(store_path, digests(3, charts=True))

    assert {d["status"] for d in again.deliveries} == {"duplicate"}
    assert len(fake_slack.calls()) == calls  # not even an upload
    assert team_messages(fake_slack) == once_each(3)


def test_a_dry_run_posts_and_records_nothing(fake_slack: FakeSlack, store_path: Path) -> None:
    name_channels(fake_slack, 3)

    result = run(store_path, digests(3, charts=True), dry_run=True)

    assert [d["status"] for d in result.deliveries] == ["dry-run"] * 3
    assert result.as_json()["deliveries"][0] == {
        "channel": "#team-00",
        "key": f"{JOB}:{PERIOD}:#team-00",
        "text": f"team-00: {format_money(1_234_560_000)} from Monday 19 to Sunday 25 October 2026",
        "status": "dry-run",
        "period": PERIOD,
        "team": "team-00",
    }
    assert fake_slack.calls() == []
    assert recorded(store_path) == {}


# ---- charts


@pytest.fixture
def pool_from_4_charts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Worker processes render from 4 charts on (a real run waits for more: the pool's start
    costs more than a few charts), so that the tests stay small."""
    monkeypatch.setattr(fanout, "CHARTS_FOR_A_PROCESS_POOL", 4)


@pytest.mark.usefixtures("pool_from_4_charts")
def test_charts_rendered_in_worker_processes_arrive_in_their_messages(
    fake_slack: FakeSlack, store_path: Path
) -> None:
    name_channels(fake_slack, 9)  # >= CHARTS_FOR_A_PROCESS_POOL: a process pool renders

    result = run(store_path, digests(9, charts=True), chart_processes=2)

    assert [d["status"] for d in result.deliveries] == ["sent"] * 9
    uploaded = {f.file_id: f for f in fake_slack.uploaded_files()}
    for index in range(9):
        (message,) = fake_slack.channel_messages(f"#team-{index:02d}")
        (image,) = [b for b in message.blocks if b["type"] == "image"]
        chart = uploaded[image["slack_file"]["id"]]
        assert chart.filename == f"team-{index:02d}.png"
        assert chart.data is not None and chart.data.startswith(b"\x89PNG")
        assert chart.is_private  # shown in the message only, not shared as a file message
        assert chart.alt_txt and f"process {os.getpid()})" not in chart.alt_txt
    assert len(uploaded) == 9


@pytest.mark.usefixtures("pool_from_4_charts")
def test_a_chart_that_cannot_be_drawn_leaves_its_message_without_it(
    fake_slack: FakeSlack, store_path: Path
) -> None:
    name_channels(fake_slack, 9)
    items = [digest_for(i, chart=True) for i in range(8)] + [digest_for(8, broken=True)]

    result = run(store_path, items, chart_processes=2)

    assert [d["status"] for d in result.deliveries] == ["sent"] * 9
    (message,) = fake_slack.channel_messages("#team-08")
    assert not [b for b in message.blocks if b["type"] == "image"]
    notes = [e["text"] for b in message.blocks if b["type"] == "context" for e in b["elements"]]
    assert CHART_NOT_DRAWN_NOTE in notes
    assert "team-08: $1,314.64" in message.text
    assert len(fake_slack.uploaded_files()) == 8


# ---- two at once


def test_two_fan_outs_at_once_in_one_process_post_each_key_once(
    fake_slack: FakeSlack, store_path: Path
) -> None:
    name_channels(fake_slack, 20)
    results: list[JobResult] = []
    start = threading.Barrier(2)

    def one() -> None:
        start.wait()
        results.append(run(store_path, digests(20)))

    threads = [threading.Thread(target=one) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert len(results) == 2
    assert team_messages(fake_slack) == once_each(20)
    sent = Counter(d["key"] for r in results for d in r.deliveries if d["status"] == "sent")
    assert sent == Counter({item.key: 1 for item in digests(20)})
    assert {d["status"] for r in results for d in r.deliveries} <= {"sent", "duplicate"}
    assert set(recorded(store_path).values()) == {"sent"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [("3", 3), (" 1 ", 1), ("0", None), ("-2", None), ("many", None), ("", None)],
)
def test_chart_processes_come_from_the_environment_when_they_are_a_count(
    monkeypatch, caplog, value, expected
):
    """COSTBOT_CHART_PROCESSES (a container's CPU limit): a whole number of at least 1 is used;
    anything else is ignored with a warning, and one process per core is the default."""
    import os

    from jobs.fanout import default_chart_processes

    monkeypatch.setenv("COSTBOT_CHART_PROCESSES", value)
    with caplog.at_level("WARNING"):
        chosen = default_chart_processes()
    assert chosen == (expected if expected is not None else (os.cpu_count() or 1))
    assert ("ignored" in caplog.text) == (expected is None and value.strip() != "")
