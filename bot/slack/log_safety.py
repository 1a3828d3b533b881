"""What the Slack libraries may put in our logs: no request bodies, response_urls, tokens or
signing secrets, and no line long enough to flood the log.

Bolt and slack_sdk log whole payloads: Bolt's failed signature check logs the body (a forged 5 MB
POST made a 5 MB line), its "unhandled request" warnings echo the body, and slack_sdk's DEBUG lines
show every request sent (a response_url is a bearer credential for 30 minutes: anyone holding it
can post as the bot to that conversation). Bolt also resets its loggers' levels to the root's,
so levels alone cannot hold its DEBUG output back. The filter here sits on the handlers instead,
where every record passes whatever logger made it.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable

from bot.slack.client import SLACK_API_LOGGER_NAME

# Loggers of code we do not control, plus Bolt's app loggers (named after the app: "costbot",
# "costbot:...") and our Web API client's logger (slack_sdk writes through it).
LIBRARY_LOGGER_PREFIXES = ("slack_bolt", "slack_sdk", "costbot", SLACK_API_LOGGER_NAME)
# Chatty at DEBUG about things no one debugging Costbot needs (font lookups: tens of KB a chart).
QUIET_AT_DEBUG = ("matplotlib", "PIL")
MAX_LOG_MESSAGE_CHARS = 2000
SECRET_ENV_VARS = ("SLACK_SIGNING_SECRET", "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN")

_SLACK_TOKEN = re.compile(r"\bx(?:ox[abposre]|app)-[A-Za-z0-9-]+")
# Payload dumps in library messages: "body: {...}", "body_params: {...}", "message: {...}".
_PAYLOAD_DUMP = re.compile(
    r"\b(body|raw_body|body_params|json_body|payload|submission)\s*[:=]\s*.*"
    r"|\b(message)\s*[:=]\s*[\[{'\"(].*",
    re.DOTALL,
)
# A response_url however it is written: JSON, a dict repr, urlencoded, or a bare Slack hook URL.
_RESPONSE_URL = re.compile(
    r"(response_url['\"]?\s*[:=]\s*['\"]?)[^'\"&\s,}]+|https?(?::|%3A)(?://|%2F%2F)hooks\.slack\.com\S*",
    re.IGNORECASE,
)


class SlackLogScrubber(logging.Filter):
    """On a handler: drops the Slack libraries' DEBUG records, removes payload dumps from their
    messages, redacts tokens, response_urls and the configured secrets from every message, and
    cuts any message to MAX_LOG_MESSAGE_CHARS."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        # Short values would redact ordinary words; real secrets are long.
        self._secrets = sorted({s for s in secrets if s and len(s) >= 8}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        from_library = record.name.startswith(LIBRARY_LOGGER_PREFIXES)
        if from_library and record.levelno < logging.INFO:
            return False
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep the record, lose nothing sensitive
            message = str(record.msg)
        cleaned = self.scrub(message, from_library=from_library)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True

    def scrub(self, message: str, *, from_library: bool = True) -> str:
        if from_library:
            message = _PAYLOAD_DUMP.sub(
                lambda m: f"{m.group(1) or m.group(2)}: (not logged)", message
            )
        message = _RESPONSE_URL.sub(
            lambda m: f"{m.group(1)}(redacted)" if m.group(1) else "(response_url redacted)",
            message,
        )
        message = _SLACK_TOKEN.sub("xox?-(redacted)", message)
        for secret in self._secrets:
            message = message.replace(secret, "(secret redacted)")
        if len(message) > MAX_LOG_MESSAGE_CHARS:
            cut = len(message) - MAX_LOG_MESSAGE_CHARS
            message = f"{message[:MAX_LOG_MESSAGE_CHARS]}… ({cut:,} characters not logged)"
        return message


def install_log_safety(handlers: Iterable[logging.Handler] | None = None) -> SlackLogScrubber:
    """Put one scrubber (knowing the Slack secrets in the environment) on `handlers`, by default
    the root logger's. Call after logging is configured, before the app starts."""
    for name in QUIET_AT_DEBUG:
        logging.getLogger(name).setLevel(logging.INFO)
    scrubber = SlackLogScrubber(os.environ.get(name, "") for name in SECRET_ENV_VARS)
    for handler in logging.getLogger().handlers if handlers is None else handlers:
        for old in [f for f in handler.filters if isinstance(f, SlackLogScrubber)]:
            handler.removeFilter(old)
        handler.addFilter(scrubber)
    return scrubber
