"""The app under test for tests/slack: a stand-in /cost (so these tests do not depend on the
real one), and plain HTTP helpers to reach it. The fixtures are in tests/slack/conftest.py."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fake_slack import SIGNING_SECRET, FakeSlack, signed_request_headers
from fake_slack import slash_command_body as slack_form
from slack_bolt import App

from bot.context import AppContext
from bot.slack.server import BackgroundHttpServer


@dataclass
class StubCommands:
    """What the stand-in /cost saw: texts acked, and texts its lazy listener answered."""

    acked: list[str] = field(default_factory=list)
    answered: list[str] = field(default_factory=list)
    # The lazy listener for the text "slow" waits for this, standing in for a long query.
    release_slow_answers: threading.Event = field(default_factory=threading.Event)
    # What build_app is given in place of handlers.register_all.
    register: Callable[[App, AppContext], None] | None = None


def make_stub_commands() -> StubCommands:
    """handlers.commands replaced by a /cost that acks, then lazily responds "pong"
    (the ack raises for the text "ack-boom", the lazy listener for "boom"; "slow" answers wait
    for `release_slow_answers`)."""
    seen = StubCommands()

    def register(app: App, context: AppContext) -> None:
        def ack_cost(ack, command) -> None:
            if command["text"] == "ack-boom":
                raise RuntimeError("could not even parse that")
            seen.acked.append(command["text"])
            ack()

        def answer_cost(respond, command) -> None:
            if command["text"] == "boom":
                raise RuntimeError("the cost query blew up")
            if command["text"] == "slow":
                seen.release_slow_answers.wait(10)
            seen.answered.append(command["text"])
            respond("pong")

        app.command("/cost")(ack=ack_cost, lazy=[answer_cost])

    seen.register = register
    return seen


@dataclass
class HttpResult:
    status: int
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body)


def http(url: str, body: str | None = None, headers: dict[str, str] | None = None) -> HttpResult:
    data = body.encode("utf-8") if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return HttpResult(response.status, response.read(), dict(response.headers))
    except urllib.error.HTTPError as error:
        return HttpResult(error.code, error.read(), dict(error.headers))


def post_signed(
    base_url: str, body: str, *, secret: str = SIGNING_SECRET, timestamp: int | None = None
) -> int:
    """POST `body` to `/slack/events` signed as Slack signs it; the HTTP status."""
    headers = signed_request_headers(body, secret, timestamp)
    return http(f"{base_url}/slack/events", body, headers).status


def post_cost(
    server: BackgroundHttpServer,
    fake: FakeSlack,
    text: str,
    *,
    secret: str = SIGNING_SECRET,
    timestamp: int | None = None,
) -> HttpResult:
    body = slack_form("/cost", text, "U0ALICE", "C0COSTS", fake.response_url(text))
    return http(f"{server.url}/slack/events", body, signed_request_headers(body, secret, timestamp))


def calls_after_start(fake: FakeSlack) -> list[str]:
    # build_app's auth.test is expected; anything else would come from a listener.
    return [c.method for c in fake.calls() if c.method != "auth.test"]
