"""The log scrubber on a real handler: what Bolt and slack_sdk would write reaches the log without
bodies, response_urls, tokens or secrets, and never as one huge line."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from bot.slack.log_safety import MAX_LOG_MESSAGE_CHARS, install_log_safety

RESPONSE_URL = "https://hooks.slack.com/commands/T000/123/abcdefSECRETPATH"


@pytest.fixture
def log_output(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "0123456789abcdef-signing")
    output = io.StringIO()
    handler = logging.StreamHandler(output)
    install_log_safety([handler])
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield output
    finally:
        root.removeHandler(handler)
        root.setLevel(previous_level)


def logger(name: str, monkeypatch: pytest.MonkeyPatch) -> logging.Logger:
    """A logger that lets everything through to the handlers (Bolt sets its loggers' levels to
    whatever the root's was when they were made, which differs between test runs)."""
    found = logging.getLogger(name)
    monkeypatch.setattr(found, "level", logging.DEBUG)
    monkeypatch.setattr(found, "disabled", False)
    return found


def test_bolts_failed_verification_line_loses_the_body(
    log_output: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = f"token=t&response_url={RESPONSE_URL}&text=" + "x" * 5_000_000
    logger("slack_bolt.RequestVerification", monkeypatch).info(
        "Invalid request signature detected (signature: v0=1, timestamp: 1, body: %s)", body
    )

    written = log_output.getvalue()
    assert "Invalid request signature detected" in written
    assert "SECRETPATH" not in written and "xxxx" not in written
    assert len(written) < MAX_LOG_MESSAGE_CHARS + 200


def test_library_debug_lines_are_dropped_and_ours_kept(
    log_output: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    logger("slack_sdk.webhook.client", monkeypatch).debug("Sending - url: %s", RESPONSE_URL)
    logger("costbot:Listener", monkeypatch).debug("Running a listener")
    logger("bot.slack.delivery", monkeypatch).debug("our own detail")

    assert log_output.getvalue().splitlines() == ["our own detail"]


@pytest.mark.parametrize(
    "message",
    [
        f"posting to {RESPONSE_URL} failed",
        "{'response_url': 'http://127.0.0.1:5000/response/x', 'text': 'hi'}",
        "response_url=http%3A%2F%2F127.0.0.1%2Fresponse%2Fx&text=hi",
        "token xoxb-1234-5678-abcdef and xapp-1-A0-123-abc",
        "secret is 0123456789abcdef-signing",
    ],
)
def test_secrets_are_redacted_from_every_logger(
    log_output: io.StringIO, monkeypatch: pytest.MonkeyPatch, message: str
) -> None:
    logger("bot.anything", monkeypatch).warning(message)

    written = log_output.getvalue()
    for secret in (
        "SECRETPATH",
        "/response/",
        "%2Fresponse",
        "xoxb-1234",
        "xapp-1",
        "abcdef-signing",
    ):
        assert secret not in written
    assert "redacted" in written


def test_a_long_message_of_our_own_is_cut(
    log_output: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    logger("bot.anything", monkeypatch).info("y" * 100_000)

    written = log_output.getvalue()
    assert len(written) < MAX_LOG_MESSAGE_CHARS + 200
    assert "characters not logged" in written
