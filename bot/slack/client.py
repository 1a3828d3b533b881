"""The one Slack Web API client the bot uses: base URL from `SLACK_API_URL`, retries on
connection errors, rate limits and server errors, and logs that never show a token."""

from __future__ import annotations

import logging
import os
import re

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.http_retry.interval_calculator import RetryIntervalCalculator
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from bot.errors import InputError

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
# slack_sdk counts attempts per call, not per handler: each handler stops once the call has been
# retried this many times, whatever the earlier failures were. So this is the budget per call.
DEFAULT_MAX_RETRIES = 3
# 0.5 s, 1 s, 2 s (plus up to 1 s of jitter each): a 5xx burst at Slack usually clears in seconds.
DEFAULT_RETRY_INTERVAL = BackoffRetryIntervalCalculator(backoff_factor=0.5)
# slack_sdk's own default; a chart upload that takes longer is given up (the answer still goes).
DEFAULT_TIMEOUT_SECONDS = 30

# slack_sdk logs request bodies at DEBUG level, and Bolt's start-up `auth.test` passes the token as
# a body parameter, so a DEBUG log would show it. Everything the client logs goes through this
# logger, which masks Slack tokens. (Not under "costbot": Bolt names its app logger after the app
# and resets that logger's level to the root's on every request.)
SLACK_API_LOGGER_NAME = "bot.slack.client.web_api"
_SLACK_TOKEN = re.compile(r"\bx(?:ox[abposre]|app)-[A-Za-z0-9-]+")


class MissingCredentialError(InputError):
    """A Slack credential the chosen mode needs is not set; the message names the variable."""


class SecretRedactingFilter(logging.Filter):
    """Replaces anything shaped like a Slack token (xoxb-, xoxp-, xapp-, ...) in a log record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _SLACK_TOKEN.sub("xox?-(redacted)", message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


class AnyServerErrorRetryHandler(ServerErrorRetryHandler):
    """The built-in handler retries only 500 and 503; a 502 or 504 from Slack's edge is just as
    transient."""

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return response is not None and 500 <= response.status_code < 600


def slack_api_url() -> str:
    """`$SLACK_API_URL` (for proxies and offline tests) or Slack's own, always with a trailing
    slash: slack_sdk joins method names with urljoin, which drops a last path segment without it."""
    url = os.environ.get("SLACK_API_URL") or DEFAULT_SLACK_API_URL
    return url if url.endswith("/") else url + "/"


def slack_api_logger() -> logging.Logger:
    logger = logging.getLogger(SLACK_API_LOGGER_NAME)
    if not any(isinstance(f, SecretRedactingFilter) for f in logger.filters):
        logger.addFilter(SecretRedactingFilter())
    return logger


def build_retry_handlers(
    max_retries: int = DEFAULT_MAX_RETRIES,
    retry_interval: RetryIntervalCalculator = DEFAULT_RETRY_INTERVAL,
) -> list:
    return [
        ConnectionErrorRetryHandler(
            max_retry_count=max_retries, interval_calculator=retry_interval
        ),
        # Sleeps for the Retry-After Slack sends (plus up to 1 s of jitter), not the backoff.
        RateLimitErrorRetryHandler(max_retry_count=max_retries),
        AnyServerErrorRetryHandler(max_retry_count=max_retries, interval_calculator=retry_interval),
    ]


def build_web_client(
    token: str | None = None,
    *,
    max_retries: int = DEFAULT_MAX_RETRIES,
    retry_interval: RetryIntervalCalculator = DEFAULT_RETRY_INTERVAL,
    timeout: int = DEFAULT_TIMEOUT_SECONDS,
) -> WebClient:
    """A WebClient for `token` (default `$SLACK_BOT_TOKEN`) against `slack_api_url()`; `timeout`
    is per HTTP request (uploads included), in seconds.

    Bolt copies this client's base URL, retry handlers and logger into the per-request `client`
    it gives listeners, so everything the app sends to the Web API behaves the same way.
    """
    token = token or os.environ.get("SLACK_BOT_TOKEN")
    if not token:
        raise MissingCredentialError("SLACK_BOT_TOKEN is not set (the bot token, xoxb-...)")
    return WebClient(
        token=token,
        base_url=slack_api_url(),
        logger=slack_api_logger(),
        retry_handlers=build_retry_handlers(max_retries, retry_interval),
        timeout=timeout,
    )
