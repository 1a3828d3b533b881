"""Fixtures for tests/slack: the app with a stand-in /cost, served over HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fake_slack import FakeSlack
from slack_app import StubCommands, make_stub_commands

from bot.config import Config
from bot.context import AppContext
from bot.slack.app import build_app
from bot.slack.server import BackgroundHttpServer, start_http_in_thread


@pytest.fixture
def stub_commands() -> StubCommands:
    return make_stub_commands()


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
