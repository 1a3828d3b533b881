"""A fake Prometheus HTTP API for tests: `GET` or `POST /api/v1/query_range` answered the way
Prometheus answers it (https://prometheus.io/docs/prometheus/latest/querying/api/):

    {"status": "success", "data": {"resultType": "matrix",
     "result": [{"metric": {...}, "values": [[<unix seconds>, "<value>"], ...]}]}}

It evaluates a range query as Prometheus does: at `start`, `start + step`, ... up to `end`. Each
query text is given a "series" in the test: the value of the query at the end of each UTC day
(the sample at midnight that starts the next day), as Prometheus's text ("NaN", "+Inf" too);
days without a value have no sample, as Prometheus leaves out steps with no data. A query can
instead be given an error answer (an HTTP status and a body) or a raw `data` object.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse


@dataclass
class Canned:
    status: int
    body: bytes
    content_type: str = "application/json"


@dataclass
class FakePrometheus:
    # query text -> {UTC day: value text}: the query's value over that day, sampled at its end
    series: dict[str, dict[date, str]] = field(default_factory=dict)
    labels: dict[str, list[dict[str, str]]] = field(default_factory=dict)  # extra series
    canned: dict[str, Canned] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)

    def __enter__(self) -> FakePrometheus:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake._answer(self, parse_qs(urlparse(self.path).query))

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode())
                fake._answer(self, form)

            def log_message(self, *args: object) -> None:  # quiet tests
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def error(self, query: str, status: int, error_type: str, message: str) -> None:
        """Prometheus's error envelope, e.g. 400 bad_data for a query that does not parse."""
        body = {"status": "error", "errorType": error_type, "error": message}
        self.canned[query] = Canned(status, json.dumps(body).encode())

    def data(self, query: str, data: dict[str, Any]) -> None:
        """A successful answer with this `data` (a vector, several series ...)."""
        self.canned[query] = Canned(200, json.dumps({"status": "success", "data": data}).encode())

    def _answer(self, handler: BaseHTTPRequestHandler, form: dict[str, list[str]]) -> None:
        if urlparse(handler.path).path != "/api/v1/query_range":
            self._send(handler, Canned(404, b"404 page not found\n", "text/plain"))
            return
        params = {key: values[0] for key, values in form.items()}
        headers = {name.lower(): value for name, value in handler.headers.items()}
        self.requests.append({**params, "method": handler.command, "headers": headers})
        query = params.get("query", "")
        if query in self.canned:
            self._send(handler, self.canned[query])
            return
        try:
            start, end = float(params["start"]), float(params["end"])
            step = float(params["step"])
        except (KeyError, ValueError):
            body = {"status": "error", "errorType": "bad_data", "error": "invalid parameter"}
            self._send(handler, Canned(400, json.dumps(body).encode()))
            return
        if query not in self.series:
            body = {"status": "error", "errorType": "bad_data", "error": f"unknown query {query}"}
            self._send(handler, Canned(400, json.dumps(body).encode()))
            return
        samples = []
        moment = Decimal(str(start))
        while moment <= Decimal(str(end)):
            # The evaluation at `moment` covers the day that ends there.
            day = (datetime.fromtimestamp(float(moment), UTC) - timedelta(days=1)).date()
            value = self.series[query].get(day)
            if value is not None:
                stamp = int(moment) if moment == int(moment) else float(moment)
                samples.append([stamp, value])
            moment += Decimal(str(step))
        result = [{"metric": {}, "values": samples}] if samples else []
        result += [{"metric": labels, "values": samples} for labels in self.labels.get(query, [])]
        data = {"resultType": "matrix", "result": result}
        self._send(handler, Canned(200, json.dumps({"status": "success", "data": data}).encode()))

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, canned: Canned) -> None:
        handler.send_response(canned.status)
        handler.send_header("Content-Type", canned.content_type)
        handler.send_header("Content-Length", str(len(canned.body)))
        handler.end_headers()
        handler.wfile.write(canned.body)
