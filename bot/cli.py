"""The `costbot` command: a thin layer over the core modules.

Exit codes (a stable interface): 0 success; 2 bad usage or bad input, with one line on
stderr naming the file, row or field; 1 anything else.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import signal
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import NoReturn

from bot.config import ConfigError, load_config
from bot.context import utc_today
from bot.errors import InputError
from bot.periods import PeriodError
from bot.sources.focus import SUPPORTED_VERSIONS
from bot.store import db_path_from_env

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2
log = logging.getLogger(__name__)


class UsageProblem(ValueError):
    """Bad usage or input found by a command: exit 2 with this one line."""


class _OneLineParser(argparse.ArgumentParser):
    """Bad usage is one line on stderr and exit 2 (argparse prints the whole usage first);
    `--help` still shows it. Sub-command parsers are of the same class."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="costbot", description="Cloud cost answers, digests and alerts in Slack."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    ingest = commands.add_parser("ingest", help="load cost data into the store")
    sources = ingest.add_subparsers(dest="source", required=True, metavar="SOURCE")
    focus = sources.add_parser("focus", help="FOCUS 1.0-1.2 files: CSV, CSV.gz, Parquet, s3://")
    focus.add_argument("paths", nargs="+", metavar="PATH", help="files, directories, s3:// URIs")
    focus.add_argument(
        "--focus-version",
        help=f"the FOCUS version of the files, if known ({', '.join(SUPPORTED_VERSIONS)}); "
        "detected from the columns otherwise",
    )
    metrics = sources.add_parser("metrics", help="daily business metrics CSV for /unitcost")
    metrics.add_argument(
        "paths",
        nargs="+",
        metavar="FILE",
        help="CSV files with the header date,metric,value[,scope]",
    )

    demo = commands.add_parser("demo", help="build the demo organisation and an HTML preview")
    demo.add_argument("--out", default="demo-out", help="output directory (default demo-out/)")
    demo.add_argument("--seed", type=int, default=7, help="random seed of the demo data")

    serve = commands.add_parser("serve", help="run the Slack app (HTTP or Socket Mode)")
    serve.add_argument("--port", type=int, help="HTTP port (default $PORT or 3000)")
    serve.add_argument("--demo", action="store_true", help="serve the demo organisation")
    serve.add_argument("--no-scheduler", action="store_true", help="do not run scheduled jobs")

    commands.add_parser("migrate", help="bring the database schema up to date")

    scheduler = commands.add_parser(
        "scheduler", help="run the scheduled jobs without the web server (--list: the schedule)"
    )
    scheduler.add_argument(
        "--list", action="store_true", help="print each scheduled job and its next run, and exit"
    )
    # The moment the start-up catch-up (and --list) is computed for: tests pin it.
    scheduler.add_argument("--now", type=_aware_datetime, help=argparse.SUPPRESS)

    _add_sync_parser(commands)
    _add_run_parser(commands)
    _add_metrics_parser(commands)
    _add_report_parser(commands)

    ask = commands.add_parser(
        "ask",
        help='run a slash command locally: "/cost team payments", "/untagged all"',
    )
    ask.add_argument("command_line", metavar='"/cost ..."', help="the slash command and its text")
    ask.add_argument("--json", action="store_true", help="print the Slack payload as JSON")
    ask.add_argument("--user", help="Slack user id of the asker")
    ask.add_argument("--channel", help="Slack channel id (or #name) it is asked in")
    ask.add_argument("--today", type=date.fromisoformat, help=argparse.SUPPRESS)
    ask.add_argument("--save-chart", metavar="PNG", help="write the answer's chart to this file")
    return parser


def _add_sync_athena_parser(sources) -> None:
    athena = sources.add_parser(
        "athena", help="aggregate a CUR 2.0 or FOCUS table in Athena (aws.athena in the config)"
    )
    athena.add_argument(
        "--days", type=int, metavar="N", help="re-read the N days before today instead of the plan"
    )
    athena.add_argument("--today", type=date.fromisoformat, help=argparse.SUPPRESS)


def _aware_datetime(text: str) -> datetime:
    """An ISO 8601 moment; without a UTC offset, UTC."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be at least 1")
    return value


def _add_sync_parser(commands) -> None:
    sync = commands.add_parser("sync", help="pull cost data from a cloud source into the store")
    sources = sync.add_subparsers(dest="source", required=True, metavar="SOURCE")
    aws = sources.add_parser(
        "aws", help="AWS Cost Explorer: back-fill, then the days that can still change"
    )
    aws.add_argument("--days", type=_positive_int, help="re-read the last N days before today")
    aws.add_argument("--today", type=date.fromisoformat, help=argparse.SUPPRESS)
    _add_sync_athena_parser(sources)
    sources.add_parser(
        "inventory",
        help="AWS resources of the configured accounts and regions: tags, state, idle EC2",
    )
    prometheus = sources.add_parser(
        "prometheus", help="business metrics from Prometheus (metrics.prometheus in the config)"
    )
    prometheus.add_argument(
        "--days", type=_positive_int, metavar="N", help="re-read the N days through yesterday"
    )
    prometheus.add_argument("--today", type=date.fromisoformat, help=argparse.SUPPRESS)


def _add_run_parser(commands) -> None:
    run = commands.add_parser("run", help="run one job now (costbot run --help lists them)")
    run.add_argument(
        "job",
        metavar="JOB",
        help="the job to run: sync, anomalies, tag-policy, idle, weekly-digest, monthly-report,"
        " quarterly-report, champions",
    )
    run.add_argument(
        "--date", type=date.fromisoformat, help="the job's today, YYYY-MM-DD (default: today)"
    )
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="say what it would do: no paid call, no post, nothing recorded",
    )
    run.add_argument("--json", action="store_true", help="print what it did as one JSON object")


def _add_metrics_parser(commands) -> None:
    metrics = commands.add_parser("metrics", help="business metrics for /unitcost: add, list")
    actions = metrics.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="store one value: costbot metrics add orders 1234")
    add.add_argument("metric", metavar="METRIC", help="the metric's name, e.g. api_requests")
    add.add_argument("value", metavar="VALUE", help="a number >= 0, exact (1234, 0.25)")
    add.add_argument("--date", metavar="YYYY-MM-DD", help="the day it counts (default: today, UTC)")
    add.add_argument("--scope", metavar="TEAM", help="a team (default: the whole organisation)")
    actions.add_parser("list", help="what is stored: metric, scope, first and last day, days")


def _add_report_parser(commands) -> None:
    report = commands.add_parser("report", help="reports as files: chargeback")
    kinds = report.add_subparsers(dest="report", required=True, metavar="REPORT")
    chargeback = kinds.add_parser("chargeback", help="cost per team with shared cost allocated")
    chargeback.add_argument("--month", required=True, metavar="YYYY-MM", help="the month")
    chargeback.add_argument("--format", choices=("csv", "json"), default="csv")


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return _run(args)
    except (UsageProblem, ConfigError, InputError, PeriodError) as problem:
        print(f"costbot: {problem}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_ERROR
    except Exception as error:  # the last line of defence: one line, details in the log
        log.debug("unexpected error", exc_info=True)
        print(f"costbot: error: {type(error).__name__}: {error}", file=sys.stderr)
        return EXIT_ERROR


def _run(args: argparse.Namespace) -> int:
    if args.command == "ingest":
        return _ingest(args)
    if args.command == "demo":
        return _demo(args)
    if args.command == "serve":
        return _serve(args)
    if args.command == "ask":
        return _ask(args)
    if args.command == "migrate":
        return _migrate()
    if args.command == "scheduler":
        return _scheduler(args)
    if args.command == "sync":
        return _sync(args)
    if args.command == "run":
        return _run_job(args)
    if args.command == "metrics":
        return _metrics(args)
    if args.command == "report":
        return _report(args)
    raise UsageProblem(f"unknown command {args.command}")


def _ingest(args: argparse.Namespace) -> int:
    config = load_config()
    if args.source == "focus":
        from bot.sources.focus_ingest import ingest_focus

        if args.focus_version and args.focus_version not in SUPPORTED_VERSIONS:
            raise UsageProblem(
                f"--focus-version {args.focus_version}: unknown FOCUS version; "
                f"supported: {', '.join(SUPPORTED_VERSIONS)}"
            )
        report = ingest_focus(
            args.paths, config, db_path_from_env(), declared_version=args.focus_version
        )
        print(report.summary())
        return EXIT_OK
    from bot.sources.business_metrics import ingest_metrics

    report = ingest_metrics(args.paths, db_path_from_env(), config)
    _print("\n".join(report.lines()))
    return EXIT_OK


def _sync_athena(args: argparse.Namespace) -> int:
    from bot.sources.aws.athena import sync_athena
    from bot.sources.aws.session import AwsProblem

    if args.days is not None and args.days < 1:
        raise UsageProblem("--days must be at least 1")
    config = load_config()
    try:
        today = args.today or utc_today()
        sync_athena(config, db_path_from_env(), today, days=args.days, say=_print)
    except AwsProblem as problem:  # AWS refused, or the query failed: one line, nothing stored
        print(f"costbot: {problem}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


def _sync(args: argparse.Namespace) -> int:
    _quiet_aws_logs(args)
    if args.source == "aws":
        return _sync_aws(args)
    if args.source == "athena":
        return _sync_athena(args)
    if args.source == "inventory":
        return _sync_inventory()
    if args.source == "prometheus":
        return _sync_prometheus(args)
    raise UsageProblem(f"unknown sync source {args.source}")


def _sync_prometheus(args: argparse.Namespace) -> int:
    from bot.sources.prometheus import PrometheusProblem, sync_prometheus

    config = load_config()
    if config.metrics.prometheus is None:
        raise UsageProblem(f"{config.source}: no metrics.prometheus section: nothing to read")
    try:
        report = sync_prometheus(
            config, db_path_from_env(), args.today or utc_today(), days=args.days, say=_print
        )
    except PrometheusProblem as problem:  # unreachable, refused, or unusable: nothing stored
        print(f"costbot: {problem}", file=sys.stderr)
        return EXIT_ERROR
    _print(f"Stored {report.values:,} business metric values from {report.url}")
    return EXIT_OK


def _sync_aws(args: argparse.Namespace) -> int:
    from bot.context import AppContext
    from jobs import sync

    _quiet_aws_logs(args)
    report = sync.SyncReport(args.today or utc_today())
    try:
        config = load_config()
    except ConfigError:
        print(report.paid.line())  # the last line of every run, this one too: nothing paid
        raise
    context = AppContext(config=config, db_path=str(db_path_from_env()))
    # Cost Explorer and the inventory; `costbot sync athena` (and the sync job) read Athena.
    code, _ = _run_sync(
        lambda: sync.run(context, report.date, days=args.days, report=report, athena=False)
    )
    # The last line of every run, failed or not: what it cost.
    print(report.paid.line())
    return code


def _quiet_aws_logs(args: argparse.Namespace) -> None:
    """botocore logs where it found credentials and endpoints at INFO: detail for -v only."""
    if not args.verbose:
        logging.getLogger("botocore").setLevel(logging.WARNING)


def _run_sync(run) -> tuple[int, str | None]:
    """Run a sync; an AWS failure is one line on stderr and exit 1 (the caller then prints
    what the run cost, as its last line). The exit code and the problem, if any."""
    from bot.sources.aws.session import AwsProblem

    try:
        run()
    except AwsProblem as problem:
        line = str(problem)
    except Exception as error:
        log.debug("sync failed", exc_info=True)
        line = f"error: {type(error).__name__}: {error}"
    else:
        return EXIT_OK, None
    print(f"costbot: {line}", file=sys.stderr)
    return EXIT_ERROR, line


def _run_job(args: argparse.Namespace) -> int:
    from bot.context import AppContext
    from jobs import JOBS
    from jobs.sync import SyncReport

    if args.job not in JOBS:
        raise UsageProblem(f"unknown job {args.job!r}; jobs: {', '.join(sorted(JOBS))}")
    _quiet_aws_logs(args)
    context = AppContext(config=load_config(), db_path=str(db_path_from_env()))
    today = args.date or utc_today()
    # With --json, stdout is the one JSON object; what the job says goes to stderr.
    out = sys.stderr if args.json else sys.stdout

    def say(line: str) -> None:
        print(line, file=out)

    if args.job == "anomalies":
        return _run_anomalies(context, today, args, say)
    if args.job == "idle":
        return _run_idle(context, args, say)
    if args.job == "tag-policy":
        return _run_tag_policy(context, args, say)
    if args.job != "sync":
        return _run_delivering_job(context, args, say)
    report = SyncReport(today)
    code, problem = _run_sync(
        lambda: JOBS["sync"](
            context, today, dry_run=args.dry_run, report=report, say=say, anomalies=True
        )
    )
    if args.json:
        payload = report.as_json() | ({"error": problem} if problem else {})
        _print(json.dumps(payload, indent=2))
    print(report.paid.line(), file=out)
    return code


NO_INVENTORY_STORE = "no store yet; read the inventory with `costbot sync inventory`"


def _require_store_and_token(
    context, args: argparse.Namespace, *, no_store: str, no_token: str
) -> None:
    """A job that posts needs its store, and a bot token unless it only says (--dry-run)."""
    if not Path(context.db_path).exists():
        raise UsageProblem(f"{context.db_path}: {no_store}")
    if not args.dry_run and not os.environ.get("SLACK_BOT_TOKEN"):
        raise UsageProblem(f"SLACK_BOT_TOKEN is not set: {no_token} (see them with --dry-run)")


def _run_anomalies(context, today: date, args: argparse.Namespace, say) -> int:
    from jobs import anomalies

    _require_store_and_token(
        context,
        args,
        no_store="no cost store yet; load data with `costbot ingest focus PATH`",
        no_token="alerts cannot be posted",
    )
    # The job posts through the shared delivery module, with the bot token of the environment.
    result = anomalies.run(context, today, dry_run=args.dry_run, say=say)
    if args.json:
        _print(json.dumps(result.as_json(), indent=2, ensure_ascii=False))
    failed = [d for d in result.deliveries if d["status"] == "failed"]
    return EXIT_ERROR if failed else EXIT_OK


def _run_tag_policy(context, args: argparse.Namespace, say) -> int:
    from jobs import tag_policy
    from jobs.clock import run_moment

    _require_store_and_token(
        context,
        args,
        no_store=NO_INVENTORY_STORE,
        no_token="the ladder's steps cannot be told",
    )
    # --date D runs as at 09:00 UTC on D (jobs/clock.py): how the ladder is walked
    # over days; without it, the job's clock is now.
    now = run_moment(args.date) if args.date else datetime.now(UTC)
    result = tag_policy.run(context, now, dry_run=args.dry_run, say=say)
    if args.json:
        _print(json.dumps(result.as_json(), indent=2, ensure_ascii=False))
    return EXIT_ERROR if result.failed else EXIT_OK


def _run_delivering_job(context, args: argparse.Namespace, say) -> int:
    """The jobs that build messages and fan them out (jobs/fanout.py): weekly-digest,
    monthly-report, quarterly-report, champions. `--date D` is the job's now, at 09:00 UTC on
    D (jobs/clock.py); exit 1 when a channel could not be posted to."""
    from jobs import JOBS
    from jobs.clock import run_moment

    _require_store_and_token(
        context,
        args,
        no_store="no cost store yet; load data with `costbot ingest focus PATH`",
        no_token="nothing can be posted",
    )
    now = run_moment(args.date) if args.date else datetime.now(UTC)
    result = JOBS[args.job](context, now, dry_run=args.dry_run, say=say)
    if args.json:
        _print(json.dumps(result.as_json(), indent=2, ensure_ascii=False))
    return EXIT_ERROR if result.failed else EXIT_OK


def _sync_inventory() -> int:
    from bot.sources.aws.inventory import sync_inventory
    from bot.sources.aws.session import AwsProblem
    from bot.store import open_store

    config = load_config()
    db = open_store(db_path_from_env())
    try:
        report = sync_inventory(db, config, datetime.now(UTC))
    except AwsProblem as problem:  # credentials: nothing could be read
        print(f"costbot: {problem}", file=sys.stderr)
        return EXIT_ERROR
    finally:
        db.close()
    # Warnings (a permission missing in one account) are in the report: the rest was read.
    _print("\n".join(report.lines()))
    return EXIT_OK


def _metrics(args: argparse.Namespace) -> int:
    from bot.sources.business_metrics import add_metric_value

    if args.action == "list":
        return _list_metrics()
    entry, report = add_metric_value(
        db_path_from_env(),
        load_config(),
        metric=args.metric,
        value=args.value,
        day=args.date,
        scope=args.scope,
        today=utc_today(),
    )
    scope = entry.scope or "the organisation"
    replaced = " (replacing the value stored before)" if report.replaced else ""
    stored = f"Stored {entry.metric} = {entry.value} for {entry.day} ({scope}){replaced}"
    _print("\n".join([stored, *report.warnings]))
    return EXIT_OK


def _report(args: argparse.Namespace) -> int:
    from bot.analytics.chargeback import chargeback, month_period
    from bot.money import format_money
    from bot.render.chargeback import chargeback_csv, chargeback_json
    from bot.store import open_reader

    month_period(args.month)  # a bad month is bad usage before anything is opened
    db_path = db_path_from_env()
    if not db_path.exists():
        raise UsageProblem(
            f"{db_path}: no cost store yet; load data with `costbot ingest focus PATH`"
        )
    config = load_config()
    db = open_reader(db_path)
    try:
        report = chargeback(db, config, args.month)
    finally:
        db.close()
    if args.format == "json":
        _print(json.dumps(chargeback_json(report), indent=2))
    else:
        _print(chargeback_csv(report).rstrip("\n"))
    # Notes go to stderr so that the file on stdout stays a clean CSV / JSON document.
    for code, micros in report.other_currencies:
        shown = format_money(micros, code)
        print(f"costbot: not counted: {shown} billed in {code}", file=sys.stderr)
    for note in report.notes:
        print(f"costbot: {note}", file=sys.stderr)
    return EXIT_OK


def _list_metrics() -> int:
    from bot.store import open_reader
    from bot.store.queries import metric_catalog

    db_path = db_path_from_env()
    if not db_path.exists():
        raise UsageProblem(f"{db_path}: no store yet; load metrics with `costbot ingest metrics`")
    db = open_reader(db_path)
    try:
        catalog = metric_catalog(db)
    finally:
        db.close()
    if not catalog:
        _print("No business metrics stored yet (costbot ingest metrics FILE...)")
        return EXIT_OK
    rows = [("metric", "scope", "first day", "last day", "days")]
    rows += [
        (s.metric, s.scope or "(organisation)", str(s.first_day), str(s.last_day), f"{s.days:,}")
        for s in catalog
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    _print(
        "\n".join(
            "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
        )
    )
    return EXIT_OK


def _migrate() -> int:
    from bot.store import migrate_store

    db_path = db_path_from_env()
    applied = migrate_store(db_path)
    if applied:
        print(f"{db_path}: applied {len(applied)} migration(s): {', '.join(applied)}")
    else:
        print(f"{db_path}: schema up to date")
    return EXIT_OK


def _demo(args: argparse.Namespace) -> int:
    from bot.demo import run_demo

    print(run_demo(Path(args.out), seed=args.seed))
    return EXIT_OK


def _serve(args: argparse.Namespace) -> int:
    from slack_bolt.error import BoltError

    from bot.context import AppContext
    from bot.slack.app import build_app
    from bot.slack.log_safety import install_log_safety
    from bot.slack.server import resolve_port, serve_http, serve_socket_mode
    from handlers import register_all

    # Before anything Slack-related logs: no bodies, response_urls or secrets, even with -v.
    install_log_safety()
    if args.demo:
        from bot.demo import build_demo_store

        store = build_demo_store(Path("demo-out"))
        context = AppContext(config=store.config, db_path=str(store.db_path))
        log.info("serving the demo organisation from %s", store.db_path)
    else:
        from bot.store import migrate_store

        context = AppContext(config=load_config(), db_path=str(db_path_from_env()))
        # Once, at start: every answer then opens a read-only connection that never migrates.
        applied = migrate_store(context.db_path)
        if applied:
            log.info("migrated %s: %s", context.db_path, ", ".join(applied))
    app_token = os.environ.get("SLACK_APP_TOKEN")
    port = resolve_port(args.port)
    try:
        app = build_app(context, register=register_all, socket_mode=bool(app_token))
    except BoltError as error:  # Slack refused the token at start (auth.test)
        raise UsageProblem(f"Slack rejected the bot token: {error}") from None
    _quiet_scheduler_logs(args)
    scheduler = None if args.no_scheduler else _start_background_scheduler(context, args.demo)
    # SIGTERM (docker stop, systemd) stops it as Ctrl-C does: cleanly, exit 0.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        if app_token:
            # The container's health check still gets GET /healthz on the same port.
            serve_socket_mode(app, app_token, health_port=port)
        else:
            serve_http(app, port)
    except KeyboardInterrupt:
        log.info("Costbot stopping")
    finally:
        if scheduler is not None:
            # A run in progress finishes (its thread is waited for at exit); none starts.
            scheduler.shutdown(wait=False)
            log.info("scheduler stopped")
    return EXIT_OK


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def _quiet_scheduler_logs(args: argparse.Namespace) -> None:
    """APScheduler logs every job it adds and runs at INFO (one per team's digest): detail
    for -v only; the scheduler's own line per run says what happened."""
    if not args.verbose:
        logging.getLogger("apscheduler").setLevel(logging.WARNING)


def _start_background_scheduler(context, demo: bool):
    """The scheduled jobs in a background thread of `costbot serve`, catching up first
    (jobs/scheduler.py). The demo's sync reads no AWS: its store is synthetic."""
    from apscheduler.schedulers.background import BackgroundScheduler

    from jobs.schedule import schedule
    from jobs.scheduler import build_scheduler

    scheduler = build_scheduler(context, BackgroundScheduler, aws=False if demo else None)
    scheduler.start()
    log.info(
        "scheduler started: %d scheduled run(s); `costbot scheduler --list` shows them",
        len(schedule(context.config)),
    )
    return scheduler


def _scheduler(args: argparse.Namespace) -> int:
    """`costbot scheduler`: the scheduled jobs in the foreground until SIGTERM or Ctrl-C
    (exit 0); `--list`: the schedule and each run's next time."""
    from apscheduler.schedulers.blocking import BlockingScheduler

    from bot.context import AppContext
    from bot.store import migrate_store
    from jobs.schedule import schedule, schedule_lines
    from jobs.scheduler import build_scheduler

    _quiet_scheduler_logs(args)
    config = load_config()
    if args.list:
        for line in schedule_lines(config, args.now or datetime.now(UTC)):
            _print(line)
        return EXIT_OK
    if not os.environ.get("SLACK_BOT_TOKEN"):
        raise UsageProblem(
            "SLACK_BOT_TOKEN is not set: the scheduled jobs post to Slack"
            " (`costbot scheduler --list` shows the schedule)"
        )
    context = AppContext(config=config, db_path=str(db_path_from_env()))
    applied = migrate_store(context.db_path)
    if applied:
        log.info("migrated %s: %s", context.db_path, ", ".join(applied))
    scheduler = build_scheduler(context, BlockingScheduler, catch_up_at=args.now)

    def stop(signum: int, _frame: object) -> None:
        log.info("scheduler stopping (%s)", signal.Signals(signum).name)
        if scheduler.running:
            scheduler.shutdown(wait=False)
        else:  # not started yet: nothing to wind down
            raise SystemExit(EXIT_OK)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info(
        "scheduler started: %d scheduled run(s) from %s on %s",
        len(schedule(config)),
        config.source,
        context.db_path,
    )
    scheduler.start()  # returns once stop() has shut it down
    log.info("scheduler stopped")
    return EXIT_OK


def _answerers() -> dict:
    """The slash commands `costbot ask` runs: command -> its answer function, each taking
    (text, db=, config=, today=, asker=, with_chart=) like the Slack handlers call them."""
    from bot.answers.champions import answer_champions
    from bot.answers.cost import answer_cost
    from bot.answers.kudos import kudos_reply
    from bot.answers.unitcost import answer_unitcost
    from bot.answers.untagged import answer_untagged

    return {
        "/cost": answer_cost,
        "/unitcost": answer_unitcost,
        "/untagged": answer_untagged,
        "/kudos": kudos_reply,
        "/champions": answer_champions,
    }


# Commands that write to the store (a kudos is recorded): `costbot ask` opens a write
# connection for them, after bringing the schema up to date.
WRITING_COMMANDS = {"/kudos"}
# Commands whose manifest entry has `should_escape: true`: Slack sends mentions, channels and
# user groups as <@U..>, <#C..>, <!subteam^S..> tokens, the rest of the text entity-escaped.
ESCAPED_COMMANDS = {"/kudos"}


def _ask(args: argparse.Namespace) -> int:
    from bot.answers.common import Asker
    from bot.render.plaintext import payload_as_text
    from bot.store import open_reader

    # As Slack does: the command is the first word, the text everything after it, quotes
    # and apostrophes included (`/cost team o'brien` is not a shell quoting error).
    command, *text_parts = args.command_line.strip().split(maxsplit=1)[:2] or [""]
    text = text_parts[0] if text_parts else ""
    answerers = _answerers()
    answer = answerers.get(command.lower())
    if answer is None:
        raise UsageProblem(
            f"ask runs a slash command ({', '.join(answerers)}),"
            ' e.g. costbot ask "/cost team payments"'
        )
    db_path = db_path_from_env()
    if not db_path.exists():
        raise UsageProblem(
            f"{db_path}: no cost store yet; load data with `costbot ingest focus PATH`"
            " or try the demo (`costbot demo`, then see its output)"
        )
    config = load_config()
    channel = args.channel or None
    asker = Asker(
        user_id=args.user,
        channel_id=None if channel and channel.startswith("#") else channel,
        channel_name=channel if channel and channel.startswith("#") else None,
    )
    writes = command.lower() in WRITING_COMMANDS
    if writes:
        from bot.store import migrate_store, open_writer

        migrate_store(db_path)
    db = open_writer(db_path) if writes else open_reader(db_path)
    try:
        reply = answer(
            _as_slack_sends(text, tokens=command.lower() in ESCAPED_COMMANDS),
            db=db,
            config=config,
            today=args.today or utc_today(),
            asker=asker,
            with_chart=bool(args.save_chart),
        )
    finally:
        db.close()
    payload = reply.payload
    if args.save_chart and reply.chart:
        Path(args.save_chart).write_bytes(reply.chart.png)
        payload = reply.without_chart(f"Chart saved to {args.save_chart}")
    # Who sees an answer is decided at delivery, from the config (notices say "ephemeral").
    payload = {"response_type": config.slack.answer_response_type, **payload}
    if args.json:
        # The payload is what was asked for, error or not; stderr still says what went wrong.
        _print(json.dumps(payload, indent=2, ensure_ascii=False))
        if reply.is_error:
            print(f"costbot: {payload_as_text(payload).splitlines()[0]}", file=sys.stderr)
    elif reply.is_error:
        # Bad input: the notice is the one clear line (or two) on stderr, exit 2.
        print(payload_as_text(payload), file=sys.stderr)
    else:
        _print(payload_as_text(payload))
    return EXIT_USAGE if reply.is_error else EXIT_OK


def _as_slack_sends(text: str, *, tokens: bool = False) -> str:
    """Slack sends `&`, `<`, `>` in command text as entities; so does `costbot ask`, so that
    both reach the same parser the same way. With `tokens` (a command with should_escape),
    Slack's own tokens typed as Slack sends them (`<@U0123>`, `<#C0123|general>`,
    `<!subteam^S0123>`) stay tokens, as they would come from Slack."""

    def escaped(part: str) -> str:
        return part.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    if not tokens:
        return escaped(text)
    pieces, position = [], 0
    for match in _SLACK_TOKEN.finditer(text):
        pieces += [escaped(text[position : match.start()]), match.group(0)]
        position = match.end()
    return "".join([*pieces, escaped(text[position:])])


_SLACK_TOKEN = re.compile(
    r"<(?:@[UWB][A-Z0-9]+|#[CG][A-Z0-9]+|!subteam\^[A-Z0-9]+|!here|!channel|!everyone)(?:\|[^<>]*)?>"
)


def _print(text: str) -> None:
    """Print to stdout. A reader that has gone away (`| head -1`) took what it wanted: not
    a failure, and whether the write fails at all depends on the pipe's buffer, so the exit
    code stays what the answer makes it."""
    try:
        print(text)
        sys.stdout.flush()
    except BrokenPipeError:
        # Python would report the failed flush again at exit: point stdout at /dev/null.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def _run_idle(context, args: argparse.Namespace, say) -> int:
    """`costbot run idle`: now, or `--date D` at 09:00 UTC (jobs/clock.py)."""
    from jobs import idle

    _require_store_and_token(
        context, args, no_store=NO_INVENTORY_STORE, no_token="idle notices cannot be posted"
    )
    result = idle.run(context, args.date or datetime.now(UTC), dry_run=args.dry_run, say=say)
    if args.json:
        _print(json.dumps(result.as_json(), indent=2, ensure_ascii=False))
    failed = [d for d in result.deliveries if d["status"] == "failed"]
    return EXIT_ERROR if failed else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
