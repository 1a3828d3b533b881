"""The front door: every request to /slack/events is verified and size-capped before Bolt sees
it. Whatever fails (any header shape, any body size, non-UTF-8) gets 401, 413 or 400, reaches no
listener and makes no outbound call: checked over real HTTP against the running app, with the
fake Slack recording every outbound call."""

from __future__ import annotations

import hmac
import io
import json
import socket
import time
from http.client import HTTPConnection

import pytest
from fake_slack import BOT_TOKEN, RESPONSE_URL, SIGNING_SECRET, FakeSlack, signed_request_headers
from fake_slack import slash_command_body as slack_form
from slack_app import StubCommands, calls_after_start, post_cost
from slack_bolt import App

from bot.slack.server import MAX_BODY_BYTES, BackgroundHttpServer, make_wsgi_app

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
