"""A front for moto's Athena, over real HTTP, that behaves where moto does not.

Point the Athena client at it with the standard `AWS_ENDPOINT_URL_ATHENA` (botocore reads it;
Glue and S3 stay on moto). Every request is passed to moto's server as it came; the answers
are changed where real Athena differs from moto (docs.aws.amazon.com/athena/latest/APIReference):

- GetQueryResults pages: at most `MaxResults` rows a page (1,000 at most; more is an
  InvalidRequestException), `NextToken` while rows remain. The header row is the first row of
  the first page only, as moto's full result (header first) sliced in order gives. moto
  itself answers every row at once.
- GetQueryExecution reports `bytes_scanned` as Statistics.DataScannedInBytes (moto: 0),
  RUNNING for the first `running_polls` polls (None: forever), and FAILED or CANCELLED with
  a StateChangeReason when `fail_reason` is set (moto never fails a query).
- Operations named in `deny` answer AccessDeniedException, as an IAM policy without them
  does; those in `expired` answer ExpiredTokenException, as a session past its expiry does.

What it received is recorded: `calls` (operation, request body), `pages` served.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_PAGE_ROWS = 1000
TARGET_PREFIX = "AmazonAthena."


@dataclass
class AthenaFront:
    moto_url: str
    bytes_scanned: int = 0
    running_polls: int | None = 0
    fail_reason: str | None = None
    fail_state: str = "FAILED"
    deny: set[str] = field(default_factory=set)
    expired: set[str] = field(default_factory=set)
    calls: list[tuple[str, dict]] = field(default_factory=list)
    pages: list[dict] = field(default_factory=list)  # {"rows": n, "next_token": ...}
    url: str = ""
    _results: dict[str, dict] = field(default_factory=dict)

    def __enter__(self) -> AthenaFront:
        front = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, answer = front._answer(self.headers, body)
                payload = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def operations(self) -> list[str]:
        return [operation for operation, _ in self.calls]

    # --- answers -----------------------------------------------------------------------------

    def _answer(self, headers, body: bytes) -> tuple[int, dict]:
        operation = str(headers.get("X-Amz-Target", "")).removeprefix(TARGET_PREFIX)
        request = json.loads(body or b"{}")
        self.calls.append((operation, request))
        if operation in self.deny:
            return 400, {
                "__type": "AccessDeniedException",
                "Message": f"User is not authorized to perform: athena:{operation}",
            }
        if operation in self.expired:
            return 400, {
                "__type": "ExpiredTokenException",
                "Message": "The security token included in the request is expired",
            }
        if operation == "GetQueryResults":
            return self._page(headers, request)
        status, answer = self._forward(headers, body)
        if operation == "GetQueryExecution" and status == 200:
            self._execution(answer["QueryExecution"])
        return status, answer

    def _forward(self, headers, body: bytes) -> tuple[int, dict]:
        forwarded = {
            k: v for k, v in headers.items() if k.lower() not in ("host", "content-length")
        }
        request = urllib.request.Request(self.moto_url + "/", data=body, headers=forwarded)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")

    def _execution(self, execution: dict) -> None:
        execution.setdefault("Statistics", {})["DataScannedInBytes"] = self.bytes_scanned
        status = execution["Status"]
        if self.running_polls is None or self.running_polls > 0:
            status["State"] = "RUNNING"
            if self.running_polls:
                self.running_polls -= 1
        elif self.fail_reason is not None:
            status["State"] = self.fail_state
            status["StateChangeReason"] = self.fail_reason

    def _page(self, headers, request: dict) -> tuple[int, dict]:
        size = int(request.get("MaxResults") or MAX_PAGE_ROWS)
        if size > MAX_PAGE_ROWS:
            return 400, {
                "__type": "InvalidRequestException",
                "Message": f"MaxResults must be at most {MAX_PAGE_ROWS}",
            }
        query_id = request["QueryExecutionId"]
        if query_id not in self._results:  # fetched from moto once, then paged from here
            whole = json.dumps({"QueryExecutionId": query_id}).encode()
            status, answer = self._forward(headers, whole)
            if status != 200:
                return status, answer
            self._results[query_id] = answer
        answer = {**self._results[query_id]}
        answer["ResultSet"] = {**answer["ResultSet"]}
        rows = self._results[query_id]["ResultSet"]["Rows"]
        offset = int(request.get("NextToken") or 0)
        answer["ResultSet"]["Rows"] = rows[offset : offset + size]
        if offset + size < len(rows):
            answer["NextToken"] = str(offset + size)
        self.pages.append(
            {"rows": len(answer["ResultSet"]["Rows"]), "token": request.get("NextToken")}
        )
        return 200, answer
