"""Shared fixtures. AWS: `aws` (moto over HTTP, see moto_aws.py). Slack: `fake_slack` runs the
fake Web API and points the environment at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fake_slack import BOT_TOKEN, SIGNING_SECRET, FakeSlack

# AWS tests: `aws` (a fresh moto server's endpoint, environment set) and `moto_server`.
pytest_plugins = ["moto_aws"]


@pytest.fixture
def fake_slack(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSlack]:
    """A running FakeSlack, with SLACK_API_URL, SLACK_BOT_TOKEN (xoxb-test) and
    SLACK_SIGNING_SECRET (test-secret) set for the test."""
    with FakeSlack() as slack:
        monkeypatch.setenv("SLACK_API_URL", slack.url)
        monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
        monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
        # Either would change what Bolt does at start: Socket Mode, or its automatic OAuth flow.
        for name in ("SLACK_APP_TOKEN", "SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET"):
            monkeypatch.delenv(name, raising=False)
        yield slack
