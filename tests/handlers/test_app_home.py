"""App Home end to end: signed `app_home_opened` events over HTTP to the running app (waitress +
Bolt, every real handler registered), the view published to a fake Slack Web API over HTTP."""

from __future__ import annotations

import json
import logging
import threading
from datetime import date
from pathlib import Path

import pytest
import yaml
from fake_slack import API_APP_ID, SIGNING_SECRET, TEAM_ID, signed_request_headers
from focus_factory import dollars
from slack_app import calls_after_start, http
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from stores import focus_store

from bot.config import parse_config
from bot.context import AppContext
from bot.slack.app import build_app
from bot.slack.client import build_web_client
from bot.slack.server import start_http_in_thread
from handlers import register_all

TODAY = date(2026, 11, 27)
NOVEMBER = (date(2026, 11, 1), date(2026, 11, 26))
CONFIG = parse_config(
    {
        "teams": [
            {
                "name": "payments",
                "channel": "#team-payments",
                "monthly_budget": 20000,
                "members": ["U0ALICE"],
            },
            {"name": "search", "channel": "#team-search", "members": ["U0BOB"]},
        ]
    }
)
MANIFEST = Path(__file__).resolve().parents[2] / "manifest.yml"
EVENTS_URL = "https://costbot.example.com/slack/events"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return focus_store(tmp_path_factory.mktemp("home"), CONFIG, date(2026, 9, 1), NOVEMBER[1])


def start_app(db_path):
    context = AppContext(config=CONFIG, db_path=str(db_path), today=lambda: TODAY)
    client = build_web_client(retry_interval=FixedValueRetryIntervalCalculator(0.01), timeout=2)
    app = build_app(context, register=register_all, client=client)
    return start_http_in_thread(app)


@pytest.fixture
def server(fake_slack, store):
    background, port = start_app(store.db_path)
    yield f"http://127.0.0.1:{port}"
    background.shutdown()


def home_opened(user: str, tab: str = "home", event_id: str = "Ev0001") -> str:
    """The JSON body Slack POSTs for app_home_opened (Events API wrapper included)."""
    return json.dumps(
        {
            "token": "legacy-verification-token",
            "team_id": TEAM_ID,
            "api_app_id": API_APP_ID,
            "event": {
                "type": "app_home_opened",
                "user": user,
                "channel": "D0COSTBOT",
                "tab": tab,
                "event_ts": "1764230400.000100",
            },
            "type": "event_callback",
            "event_id": event_id,
            "event_time": 1764230400,
        }
    )


def post_event(base_url: str, body: str, *, secret: str = SIGNING_SECRET) -> int:
    headers = {**signed_request_headers(body, secret), "Content-Type": "application/json"}
    return http(f"{base_url}/slack/events", body, headers).status


def view_texts(view: dict) -> str:
    return json.dumps(view["blocks"], ensure_ascii=False)


def test_a_signed_app_home_opened_publishes_the_viewers_home_once(server, fake_slack, store):
    # Bolt acknowledges the event itself; the view is built after, in a lazy listener.
    assert post_event(server, home_opened("U0ALICE")) == 200

    call = fake_slack.wait_for("views.publish")
    assert call.status == 200
    (published,) = fake_slack.published_views
    assert published["user_id"] == "U0ALICE"
    view = published["view"]
    assert view["type"] == "home" and len(view["blocks"]) <= 100
    shown = view_texts(view)
    assert dollars(store.charges, *NOVEMBER, team="payments") in shown
    assert "$20,000.00" in shown and "Nov 1 – Nov 26, 2026" in shown
    assert "👥 search" not in shown  # U0ALICE is only in payments
    assert len(fake_slack.calls("views.publish")) == 1


def test_a_forged_signature_gets_401_and_publishes_nothing(server, fake_slack):
    assert post_event(server, home_opened("U0ALICE"), secret="not-the-secret") == 401
    # A genuine event afterwards is published: the forged one left nothing behind it.
    assert post_event(server, home_opened("U0BOB", event_id="Ev0002")) == 200
    fake_slack.wait_for("views.publish")
    assert [v["user_id"] for v in fake_slack.published_views] == ["U0BOB"]
    assert calls_after_start(fake_slack) == ["views.publish"]


def test_the_messages_tab_publishes_nothing(server, fake_slack):
    assert post_event(server, home_opened("U0ALICE", tab="messages")) == 200
    assert post_event(server, home_opened("U0BOB", event_id="Ev0003")) == 200
    fake_slack.wait_for("views.publish")
    assert [v["user_id"] for v in fake_slack.published_views] == ["U0BOB"]


def test_each_open_publishes_afresh(server, fake_slack):
    for number in range(2):
        assert post_event(server, home_opened("U0BOB", event_id=f"Ev1{number}")) == 200
    fake_slack.wait_for_count("views.publish", 2)
    assert [v["user_id"] for v in fake_slack.published_views] == ["U0BOB", "U0BOB"]


def test_a_store_that_cannot_be_read_publishes_what_to_do(fake_slack, tmp_path):
    background, port = start_app(tmp_path / "missing" / "costbot.db")
    try:
        assert post_event(f"http://127.0.0.1:{port}", home_opened("U0ALICE")) == 200
        fake_slack.wait_for("views.publish")
    finally:
        background.shutdown()
    (published,) = fake_slack.published_views
    shown = view_texts(published["view"])
    assert "could not be built" in shown and "costbot ingest focus" in shown


def test_the_manifest_turns_the_home_tab_on_and_subscribes_to_its_event():
    manifest = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    events = manifest["settings"]["event_subscriptions"]
    assert events["request_url"] == EVENTS_URL
    assert "app_home_opened" in events["bot_events"]


def test_a_rate_limited_publish_is_retried_and_lands_once(server, fake_slack):
    fake_slack.fail_next("views.publish", 429, retry_after=0)
    assert post_event(server, home_opened("U0BOB")) == 200
    fake_slack.wait_for(lambda c: c.method == "views.publish" and c.status == 200)
    assert [v["user_id"] for v in fake_slack.published_views] == ["U0BOB"]


class LogSeen(logging.Handler):
    """Sets `seen` when a record containing `words` is logged (from any thread)."""

    def __init__(self, words: str) -> None:
        super().__init__(logging.ERROR)
        self.words = words
        self.seen = threading.Event()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())
        if self.words in record.getMessage():
            self.seen.set()


def test_a_home_tab_left_off_in_slack_is_logged_with_what_to_turn_on(server, fake_slack):
    fake_slack.error_next("views.publish", "not_enabled")
    watcher = LogSeen("home_tab_enabled")
    logger = logging.getLogger("handlers.events.app_home")
    logger.addHandler(watcher)
    try:
        assert post_event(server, home_opened("U0BOB")) == 200
        assert watcher.seen.wait(10), watcher.messages
    finally:
        logger.removeHandler(watcher)
    assert fake_slack.published_views == []
    assert len(fake_slack.calls("views.publish")) == 1  # refused, not retried
