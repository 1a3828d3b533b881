"""The Bolt app factory: builds the `App` around our one WebClient, installs the global error
handler and hands the app to the listeners' `register` function (`handlers.register_all` in
production). Nothing here knows about commands, and the core never imports `handlers/`."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from slack_bolt import App, BoltContext, BoltRequest
from slack_bolt.kwargs_injection import build_required_kwargs
from slack_bolt.lazy_listener import ThreadLazyListenerRunner
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_bolt.util.utils import get_arg_names_of_callable
from slack_sdk import WebClient

from bot.context import AppContext
from bot.slack.client import MissingCredentialError, build_web_client

logger = logging.getLogger(__name__)

# `register(app, context)`: adds every listener to the app.
RegisterListeners = Callable[[App, AppContext], None]

USER_FACING_ERROR = "Something went wrong on our side; the error has been logged."
# Threads for lazy listeners (queries, charts, uploads); more requests than this just queue.
LAZY_LISTENER_THREADS = 8


def build_app(
    context: AppContext,
    *,
    register: RegisterListeners,
    client: WebClient | None = None,
    signing_secret: str | None = None,
    process_before_response: bool = False,
    socket_mode: bool = False,
) -> App:
    """The Bolt app with every handler registered.

    `client` defaults to `build_web_client()` (token from `$SLACK_BOT_TOKEN`, URL from
    `$SLACK_API_URL`). Bolt calls `auth.test` through it right here, so a bad token or an
    unreachable API fails at start rather than on the first command. `signing_secret` defaults to
    `$SLACK_SIGNING_SECRET`; only Socket Mode (`socket_mode=True`) can do without it, as Bolt does
    not verify signatures there.
    """
    client = client if client is not None else build_web_client()
    if signing_secret is None:
        signing_secret = os.environ.get("SLACK_SIGNING_SECRET", "")
    if not signing_secret and not socket_mode:
        raise MissingCredentialError(
            "SLACK_SIGNING_SECRET is not set (HTTP mode needs it to verify requests from Slack; "
            "set SLACK_APP_TOKEN instead to use Socket Mode)"
        )

    with _without_bolt_token_skipped_warning():
        app = App(
            name="costbot",
            client=client,
            signing_secret=signing_secret,
            process_before_response=process_before_response,
        )
    app.error(report_unexpected_error)
    _run_lazy_listeners_apart_reporting_errors(app)

    register(app, context)
    return app


@contextmanager
def _without_bolt_token_skipped_warning() -> Iterator[None]:
    """App() reads $SLACK_BOT_TOKEN itself and, seeing a `client` too, warns that the token will
    be unused. It is used: it is the client's token. Drop that one misleading warning."""
    expected = warning_client_prioritized_and_token_skipped()

    def not_the_token_warning(record: logging.LogRecord) -> bool:
        return record.getMessage() != expected

    bolt_logger = logging.getLogger("slack_bolt.App")
    bolt_logger.addFilter(not_the_token_warning)
    try:
        yield
    finally:
        bolt_logger.removeFilter(not_the_token_warning)


def report_unexpected_error(error: Exception, body: dict[str, Any], context: BoltContext) -> None:
    """The global `@app.error` handler: log with the traceback, then tell the user ephemerally
    when the request came with a response_url (commands, buttons, modals).

    The request body is not logged: a slash command's body carries the verification token and a
    response_url anyone could post to.
    """
    logger.exception(
        "Unhandled error in a Slack listener (request: %s, team: %s, user: %s, channel: %s)",
        body.get("command") or body.get("type") or "unknown",
        context.team_id,
        context.user_id,
        context.channel_id,
        exc_info=error,
    )
    if not context.response_url:
        return
    try:
        context.respond(text=USER_FACING_ERROR, response_type="ephemeral", replace_original=False)
    except Exception:
        # Telling the user is best effort; the original error is what matters in the log.
        logger.exception("Could not tell the user about the error above")


class _ErrorReportingLazyListenerRunner(ThreadLazyListenerRunner):
    """Runs lazy listeners like Bolt does, but sends their exceptions to the app's error handler.

    Bolt's own runner only logs "Failed to run an internal function (...)", without a traceback
    and without calling `@app.error`, so the user would never hear back. The slow work (queries,
    charts, uploads) lives in lazy listeners, so that is where most errors happen.
    """

    def __init__(self, app: App, executor: Executor) -> None:
        super().__init__(logger=app.logger, executor=executor)
        self._app = app

    def start(self, function: Callable[..., None], request: BoltRequest) -> None:
        self.executor.submit(self._run_reporting_errors, function, request)

    def run(self, function: Callable[..., None], request: BoltRequest) -> None:
        self._run_reporting_errors(function, request)

    def _run_reporting_errors(self, function: Callable[..., None], request: BoltRequest) -> None:
        try:
            function(
                **build_required_kwargs(
                    logger=self.logger,
                    required_arg_names=get_arg_names_of_callable(function),
                    request=request,
                    response=None,
                    this_func=function,
                )
            )
        except Exception as error:
            try:
                # Looked up now, not at construction: `app.error()` replaces the handler.
                self._app.listener_runner.listener_error_handler.handle(
                    error=error, request=request, response=None
                )
            except Exception:
                logger.exception("The error handler failed on a lazy listener's error")


def _run_lazy_listeners_apart_reporting_errors(app: App) -> None:
    # Bolt runs ack functions and lazy listeners on one pool of 5 threads: five slow answers in
    # flight would leave the next command's ack() queued past Slack's 3 seconds. Lazy work gets
    # a pool of its own, so acks are never stuck behind it.
    executor = ThreadPoolExecutor(max_workers=LAZY_LISTENER_THREADS, thread_name_prefix="lazy")
    app.listener_runner.lazy_listener_runner = _ErrorReportingLazyListenerRunner(app, executor)
