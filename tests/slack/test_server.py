"""The HTTP front door end to end: build_app + make_wsgi_app under waitress, signed requests over
real HTTP, and FakeSlack receiving what the listeners send. handlers.commands is replaced by a
tiny stand-in so these tests do not depend on the real /cost."""

from __future__ import annotations

import hmac
import io
import json
import logging
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.client import HTTPConnection
from typing import Any

import pytest
from fake_slack import (
    BOT_TOKEN,
    RESPONSE_URL,
    SIGNING_SECRET,
    FakeSlack,
    signed_request_headers,
)
from fake_slack import slash_command_body as slack_form
from slack_bolt import App

from bot.config import Config
from bot.context import AppContext
from bot.slack.app import USER_FACING_ERROR, build_app
from bot.slack.client import MissingCredentialError, build_web_client
from bot.slack.server import (
    MAX_BODY_BYTES,
    BackgroundHttpServer,
    make_wsgi_app,
    resolve_port,
    start_http_in_thread,
)


@dataclass
class StubCommands:
    """What the stand-in /cost saw: texts acked, and texts its lazy listener answered."""

    acked: list[str] = field(default_factory=list)
    answered: list[str] = field(default_factory=list)
    # The lazy listener for the text "slow" waits for this, standing in for a long query.
    release_slow_answers: threading.Event = field(default_factory=threading.Event)
    # What build_app is given in place of handlers.register_all.
    register: Callable[[App, AppContext], None] | None = None


@pytest.fixture
def stub_commands(monkeypatch: pytest.MonkeyPatch) -> StubCommands:
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


@pytest.fixture
def app_context(tmp_path) -> AppContext:
    return AppContext(config=Config(), db_path=str(tmp_path / "costbot.db"))


@pytest.fixture
def server(
    fake_slack: FakeSlack, stub_commands: StubCommands, app_context: AppContext
) -> Iterator[BackgroundHttpServer]:
    running, _port = start_http_in_thread(build_app(app_context, register=stub_commands.register))
    with running:
        yield running


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


# ---- routes


def test_healthz_answers_ok(server: BackgroundHttpServer) -> None:
    result = http(f"{server.url}/healthz")

    assert result.status == 200
    assert result.json() == {"ok": True}
    assert result.headers["Content-Type"].startswith("application/json")


@pytest.mark.parametrize(
    ("path", "body"), [("/nothing-here", None), ("/slack/events", None), ("/healthz", "x")]
)
def test_other_paths_and_methods_are_not_found(
    server: BackgroundHttpServer, path: str, body: str | None
) -> None:
    assert http(f"{server.url}{path}", body).status == 404


def test_port_zero_binds_a_real_port(
    fake_slack: FakeSlack, stub_commands: StubCommands, app_context: AppContext
) -> None:
    running, port = start_http_in_thread(
        build_app(app_context, register=stub_commands.register), port=0
    )
    with running:
        assert port > 0
        assert running.port == port
        assert http(f"http://127.0.0.1:{port}/healthz").status == 200
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)


# ---- slash commands through the signature check


def test_signed_slash_command_is_acked_fast_and_answered_lazily(
    server: BackgroundHttpServer, fake_slack: FakeSlack, stub_commands: StubCommands
) -> None:
    started = time.monotonic()
    result = post_cost(server, fake_slack, "payments")
    elapsed = time.monotonic() - started

    assert result.status == 200
    assert elapsed < 3, "Slack gives up on a slash command after 3 seconds"
    posted = fake_slack.wait_for(lambda call: call.target == "payments")
    assert posted.body["text"] == "pong"
    assert stub_commands.acked == stub_commands.answered == ["payments"]


def test_slow_answers_in_flight_do_not_hold_up_the_next_ack(
    server: BackgroundHttpServer, fake_slack: FakeSlack, stub_commands: StubCommands
) -> None:
    # More than Bolt's 5 shared listener threads: with lazy work on that pool, the 6th ack
    # would wait for a slow answer to finish and miss Slack's 3 seconds.
    try:
        for _ in range(6):
            started = time.monotonic()
            assert post_cost(server, fake_slack, "slow").status == 200
            assert time.monotonic() - started < 3
    finally:
        stub_commands.release_slow_answers.set()

    answers = fake_slack.wait_for_count(lambda call: call.target == "slow", 6)
    assert {call.body["text"] for call in answers} == {"pong"}


def test_forged_signature_is_rejected_before_any_listener_runs(
    server: BackgroundHttpServer, fake_slack: FakeSlack, stub_commands: StubCommands
) -> None:
    result = post_cost(server, fake_slack, "payments", secret="not-the-secret")

    assert result.status == 401
    # The 401 comes from the front door before Bolt sees the request, so there is no
    # pending work that could still reach the fake.
    assert stub_commands.acked == []
    assert calls_after_start(fake_slack) == []


def test_stale_timestamp_is_rejected_even_when_correctly_signed(
    server: BackgroundHttpServer, fake_slack: FakeSlack, stub_commands: StubCommands
) -> None:
    ten_minutes_ago = int(time.time()) - 600

    result = post_cost(server, fake_slack, "payments", timestamp=ten_minutes_ago)

    assert result.status == 401
    assert stub_commands.acked == []
    assert calls_after_start(fake_slack) == []


def test_missing_signature_headers_are_rejected(
    server: BackgroundHttpServer, fake_slack: FakeSlack
) -> None:
    body = slack_form("/cost", "payments", "U0ALICE", "C0COSTS", fake_slack.response_url())

    result = http(f"{server.url}/slack/events", body)

    assert result.status == 401


def test_error_in_lazy_listener_is_logged_and_told_to_the_user(
    server: BackgroundHttpServer,
    fake_slack: FakeSlack,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="bot.slack.app")

    assert post_cost(server, fake_slack, "boom").status == 200

    posted = fake_slack.wait_for(lambda call: call.target == "boom")
    assert posted.body == {
        "text": USER_FACING_ERROR,
        "response_type": "ephemeral",
        "replace_original": False,
    }
    (record,) = [r for r in caplog.records if r.name == "bot.slack.app"]
    assert record.exc_info is not None
    assert "the cost query blew up" in caplog.text
    assert "/cost" in record.getMessage()
    assert "legacy-verification-token" not in caplog.text


def test_error_in_ack_listener_is_told_to_the_user(
    server: BackgroundHttpServer, fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="bot.slack.app")

    result = post_cost(server, fake_slack, "ack-boom")

    assert result.status == 500  # Bolt's answer when ack() never happened
    fake_slack.wait_for(
        lambda call: call.target == "ack-boom" and call.body.get("text") == USER_FACING_ERROR
    )
    assert "could not even parse that" in caplog.text
    # Bolt starts lazy listeners whether or not the ack listener succeeded.
    fake_slack.wait_for(lambda call: call.target == "ack-boom" and call.body.get("text") == "pong")


# ---- the front door: what fails verification causes nothing


def signed_with(body: str | bytes, timestamp: str, secret: str = SIGNING_SECRET) -> str:
    """Slack's v0 HMAC over whatever timestamp text and body bytes, even malformed ones: the
    signature is right, so only the shape of the headers can fail the check."""
    raw = body.encode("utf-8") if isinstance(body, str) else body
    digest = hmac.new(secret.encode(), b"v0:" + timestamp.encode("latin-1") + b":" + raw, "sha256")
    return f"v0={digest.hexdigest()}"


def raw_post(server: BackgroundHttpServer, body: bytes, headers: dict[str, str]) -> int:
    connection = HTTPConnection(server.host, server.port, timeout=10)
    try:
        connection.request("POST", "/slack/events", body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def assert_nothing_happened(fake: FakeSlack, stub: StubCommands, server: BackgroundHttpServer):
    # A signed request afterwards is a barrier: once its answer arrives, anything the earlier
    # requests had set off would have been sent too.
    assert post_cost(server, fake, "barrier").status == 200
    fake.wait_for(lambda call: call.target == "barrier")
    assert stub.acked == ["barrier"]
    assert calls_after_start(fake) == [RESPONSE_URL]


@pytest.mark.parametrize(
    "timestamp", ["abc", "", "1e3", " 1700000000", "+1700000000", "1_700_000_000", "¹²³", "0x10"]
)
def test_a_malformed_timestamp_gets_401_and_reaches_no_listener(
    server: BackgroundHttpServer,
    fake_slack: FakeSlack,
    stub_commands: StubCommands,
    timestamp: str,
) -> None:
    body = slack_form("/cost", "payments", "U0ALICE", "C0COSTS", fake_slack.response_url("forged"))
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": signed_with(body, timestamp),
    }

    assert raw_post(server, body.encode(), headers) == 401

    assert_nothing_happened(fake_slack, stub_commands, server)


@pytest.mark.parametrize("signature", ["", "v0=é", "v1=abc", "v0=" + "0" * 64])
def test_a_bad_signature_header_gets_401_whatever_its_shape(
    server: BackgroundHttpServer,
    fake_slack: FakeSlack,
    stub_commands: StubCommands,
    signature: str,
) -> None:
    body = slack_form("/cost", "payments", "U0ALICE", "C0COSTS", fake_slack.response_url("forged"))
    headers = signed_request_headers(body, SIGNING_SECRET) | {"X-Slack-Signature": signature}

    assert raw_post(server, body.encode(), headers) == 401

    assert_nothing_happened(fake_slack, stub_commands, server)


def test_a_signed_body_that_is_not_utf8_is_a_400(
    server: BackgroundHttpServer, fake_slack: FakeSlack, stub_commands: StubCommands
) -> None:
    body = b"command=%2Fcost&text=\xff\xfe&response_url=" + fake_slack.response_url("x").encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": signed_with(body, timestamp),
    }

    assert raw_post(server, body, headers) == 400

    assert_nothing_happened(fake_slack, stub_commands, server)


def test_a_body_declared_over_one_mib_gets_413_before_it_is_sent(
    server: BackgroundHttpServer, fake_slack: FakeSlack, stub_commands: StubCommands
) -> None:
    body = slack_form(
        "/cost", "x" * MAX_BODY_BYTES, "U0ALICE", "C0COSTS", fake_slack.response_url()
    )
    headers = signed_request_headers(body, SIGNING_SECRET) | {"Content-Length": str(len(body))}
    with socket.create_connection((server.host, server.port), timeout=10) as raw:
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        raw.sendall(f"POST /slack/events HTTP/1.1\r\nHost: x\r\n{head}\r\n".encode())
        # Not a byte of the body sent: the answer comes from the headers alone.
        status_line = raw.makefile("rb").readline()

    assert status_line.split()[1] == b"413"
    assert_nothing_happened(fake_slack, stub_commands, server)


def test_a_chunked_body_over_one_mib_without_content_length_gets_413(
    server: BackgroundHttpServer, fake_slack: FakeSlack, stub_commands: StubCommands
) -> None:
    chunks = (b"x" * 65536 for _ in range(40))  # 2.5 MiB, length never declared
    connection = HTTPConnection(server.host, server.port, timeout=10)
    try:
        connection.request(
            "POST",
            "/slack/events",
            body=chunks,
            headers={"Transfer-Encoding": "chunked"},
            encode_chunked=True,
        )
        assert connection.getresponse().status == 413
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server may close before the client has finished sending: refused too
    finally:
        connection.close()

    assert_nothing_happened(fake_slack, stub_commands, server)


def test_a_content_length_that_understates_the_body_verifies_only_what_it_declares(
    server: BackgroundHttpServer, fake_slack: FakeSlack, stub_commands: StubCommands
) -> None:
    body = slack_form("/cost", "payments", "U0ALICE", "C0COSTS", fake_slack.response_url("lie"))
    headers = signed_request_headers(body, SIGNING_SECRET) | {"Content-Length": "100"}
    with socket.create_connection((server.host, server.port), timeout=10) as raw:
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        raw.sendall(f"POST /slack/events HTTP/1.1\r\nHost: x\r\n{head}\r\n".encode())
        raw.sendall(body.encode() + b"x" * (2 * MAX_BODY_BYTES))
        status_line = raw.makefile("rb").readline()

    assert status_line.split()[1] == b"401"  # the first 100 bytes, unsigned as such
    assert_nothing_happened(fake_slack, stub_commands, server)


def test_a_signed_body_of_exactly_one_mib_is_accepted(
    server: BackgroundHttpServer, fake_slack: FakeSlack, stub_commands: StubCommands
) -> None:
    body = slack_form("/cost", "big", "U0ALICE", "C0COSTS", fake_slack.response_url("big"))
    body += "&padding=" + "x" * (MAX_BODY_BYTES - len(body) - len("&padding="))
    assert len(body.encode()) == MAX_BODY_BYTES

    assert raw_post(server, body.encode(), signed_request_headers(body, SIGNING_SECRET)) == 200
    fake_slack.wait_for(lambda call: call.target == "big")


def test_the_wsgi_app_reads_no_more_than_the_cap_when_the_length_is_unknown() -> None:
    # Under a WSGI server that passes bodies through undeclared, the cap holds by counting.
    class CountingStream(io.RawIOBase):
        def __init__(self, size: int) -> None:
            self.remaining, self.read_so_far = size, 0

        def read(self, n: int = -1) -> bytes:
            n = self.remaining if n < 0 else min(n, self.remaining)
            self.remaining -= n
            self.read_so_far += n
            return b"x" * n

    stream = CountingStream(5 * MAX_BODY_BYTES)
    statuses: list[str] = []
    wsgi_app = make_wsgi_app(
        App(token=BOT_TOKEN, signing_secret=SIGNING_SECRET, token_verification_enabled=False),
        SIGNING_SECRET,
    )
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/slack/events", "wsgi.input": stream}

    body = b"".join(wsgi_app(environ, lambda status, headers: statuses.append(status)))

    assert statuses == ["413 Content Too Large"]
    assert json.loads(body) == {"ok": False, "error": "body_too_large"}
    assert stream.read_so_far <= MAX_BODY_BYTES + 1


# ---- build_app


def test_build_app_does_not_warn_that_the_token_is_unused(
    fake_slack: FakeSlack,
    stub_commands: StubCommands,
    app_context: AppContext,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Bolt warns when it sees both $SLACK_BOT_TOKEN and a client; the token is the client's.
    caplog.set_level(logging.WARNING)

    build_app(app_context, register=stub_commands.register)

    assert [r.getMessage() for r in caplog.records if r.name.startswith("slack_bolt")] == []


def test_build_app_checks_the_token_through_our_client(
    fake_slack: FakeSlack, stub_commands: StubCommands, app_context: AppContext
) -> None:
    build_app(app_context, register=stub_commands.register)

    (auth_test,) = fake_slack.calls("auth.test")
    assert auth_test.headers["authorization"] == f"Bearer {BOT_TOKEN}"


def test_build_app_uses_the_client_it_is_given(
    fake_slack: FakeSlack, stub_commands: StubCommands, app_context: AppContext
) -> None:
    client = build_web_client("xoxb-given")

    app = build_app(app_context, register=stub_commands.register, client=client)

    assert app.client is client
    assert fake_slack.calls("auth.test")[0].headers["authorization"] == "Bearer xoxb-given"


def test_build_app_needs_the_signing_secret_in_http_mode(
    fake_slack: FakeSlack,
    stub_commands: StubCommands,
    app_context: AppContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SLACK_SIGNING_SECRET")

    with pytest.raises(MissingCredentialError, match="SLACK_SIGNING_SECRET"):
        build_app(app_context, register=stub_commands.register)
    assert build_app(app_context, register=stub_commands.register, socket_mode=True) is not None


def test_build_app_hands_the_app_and_its_context_to_register(
    fake_slack: FakeSlack, app_context: AppContext
) -> None:
    calls: list[tuple[App, AppContext]] = []
    app = build_app(app_context, register=lambda app, context: calls.append((app, context)))

    assert calls == [(app, app_context)]


# ---- resolve_port


def test_port_comes_from_the_option_then_the_environment_then_3000(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PORT", "8080")
    assert resolve_port(9000) == 9000
    assert resolve_port(None) == 8080
    monkeypatch.delenv("PORT")
    assert resolve_port(None) == 3000


@pytest.mark.parametrize("value", ["http", "70000"])
def test_bad_port_in_the_environment_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("PORT", value)
    with pytest.raises(ValueError, match="PORT"):
        resolve_port(None)
