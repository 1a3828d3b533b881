"""How the Bolt app meets Slack: a WSGI app served by waitress (HTTP mode), or Socket Mode.

HTTP routes: `POST /slack/events` (commands, interactivity and events, signature-checked by
Bolt), `GET /healthz` (for load balancers and orchestrators), 404 for anything else.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections.abc import Callable, Iterable
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.wsgi import SlackRequestHandler
from waitress import create_server
from waitress.server import BaseWSGIServer, MultiSocketServer
from waitress.trigger import trigger

logger = logging.getLogger(__name__)

SLACK_EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"
DEFAULT_PORT = 3000
# A request thread is busy only until the listener has acked; the slow work runs on Bolt's
# executors, so a handful of request threads is plenty.
HTTP_THREADS = 8

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def make_wsgi_app(app: App) -> WSGIApp:
    slack_handler = SlackRequestHandler(app, path=SLACK_EVENTS_PATH)

    def costbot_wsgi_app(
        environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "")
        if path == SLACK_EVENTS_PATH and method == "POST":
            return slack_handler(environ, start_response)
        if path == HEALTH_PATH and method in ("GET", "HEAD"):
            return _json_response(start_response, "200 OK", {"ok": True})
        return _json_response(start_response, "404 Not Found", {"ok": False, "error": "not_found"})

    return costbot_wsgi_app


def _json_response(
    start_response: Callable[..., Any], status: str, payload: dict[str, Any]
) -> list[bytes]:
    body = json.dumps(payload).encode("utf-8")
    start_response(
        status,
        [("Content-Type", "application/json; charset=utf-8"), ("Content-Length", str(len(body)))],
    )
    return [body]


def resolve_port(cli_port: int | None) -> int:
    """`--port`, else `$PORT`, else 3000."""
    if cli_port is not None:
        return cli_port
    from_env = os.environ.get("PORT", "").strip()
    if not from_env:
        return DEFAULT_PORT
    try:
        port = int(from_env)
    except ValueError:
        raise ValueError(f"PORT must be a number, got {from_env!r}") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"PORT must be between 0 and 65535, got {port}")
    return port


def _create_waitress_server(app: App, port: int, host: str) -> BaseWSGIServer | MultiSocketServer:
    # `ident` replaces waitress's default Server header, which names the server software.
    return create_server(
        make_wsgi_app(app), host=host, port=port, threads=HTTP_THREADS, ident="costbot"
    )


def _bound_port(server: BaseWSGIServer | MultiSocketServer, requested: int) -> int:
    # A host that resolves to several addresses gives a MultiSocketServer, which has no single
    # effective_port; all its sockets share the requested one unless that was 0.
    if isinstance(server, BaseWSGIServer):
        return int(server.effective_port)
    return int(server.effective_listen[0][1]) if server.effective_listen else requested


def serve_http(app: App, port: int, host: str = "0.0.0.0") -> None:
    """Serve Slack requests under waitress until interrupted."""
    server = _create_waitress_server(app, port, host)
    bound = _bound_port(server, port)
    logger.info(
        "Costbot listening on http://%s:%d%s (health check: %s)",
        host,
        bound,
        SLACK_EVENTS_PATH,
        HEALTH_PATH,
    )
    server.run()  # returns on Ctrl+C or SystemExit, after closing down its worker threads


def serve_socket_mode(app: App, app_token: str) -> None:
    """Connect to Slack over Socket Mode (no public URL needed) and block until interrupted.

    Uses the built-in WebSocket client, so no extra dependency; `apps.connections.open` goes
    through `app.client`, hence through `$SLACK_API_URL` too.
    """
    handler = SocketModeHandler(app, app_token=app_token)
    logger.info("Costbot connecting to Slack over Socket Mode")
    handler.start()


class BackgroundHttpServer:
    """A waitress server running in a daemon thread; `shutdown()` stops it and waits."""

    def __init__(self, server: BaseWSGIServer | MultiSocketServer, port: int, host: str) -> None:
        self.server = server
        self.port = port
        self.host = host
        self._thread = threading.Thread(target=server.run, name="costbot-http", daemon=True)

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:54321 (no trailing slash)."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        self._thread.start()

    def shutdown(self, timeout: float = 5.0) -> None:
        if not self._thread.is_alive():
            return
        # wasyncore is not thread-safe. The loop thread itself empties its map (a trigger runs the
        # callable there), which ends the loop; only then are the sockets closed. Closing them
        # from the callable instead races: the loop can run it before pull_trigger() has written
        # its wake-up byte to the trigger being closed, and worker threads pull that trigger
        # when they finish a response.
        socket_map = _socket_map(self.server)
        loop_trigger = next(d for d in list(socket_map.values()) if isinstance(d, trigger))
        dispatchers: list[Any] = []

        def stop_the_loop() -> None:
            dispatchers.extend(socket_map.values())
            socket_map.clear()

        loop_trigger.pull_trigger(stop_the_loop)
        self._thread.join(timeout)
        if self._thread.is_alive():
            logger.warning("HTTP server loop did not stop within %.1f s", timeout)
        self.server.task_dispatcher.shutdown(timeout=timeout)
        for dispatcher in dispatchers:
            with contextlib.suppress(OSError):
                dispatcher.close()

    def __enter__(self) -> BackgroundHttpServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()


def _socket_map(server: BaseWSGIServer | MultiSocketServer) -> dict[int, Any]:
    return server.map if isinstance(server, MultiSocketServer) else server._map


def start_http_in_thread(
    app: App, port: int = 0, host: str = "127.0.0.1"
) -> tuple[BackgroundHttpServer, int]:
    """Serve `app` like `serve_http` but in a daemon thread, for tests and embedding.

    Port 0 picks a free port; the returned port is the one actually bound. The socket is bound
    before this returns, so requests can be sent straight away. Stop with `server.shutdown()`
    (or use the server as a context manager).
    """
    waitress_server = _create_waitress_server(app, port, host)
    background = BackgroundHttpServer(waitress_server, _bound_port(waitress_server, port), host)
    background.start()
    return background, background.port
