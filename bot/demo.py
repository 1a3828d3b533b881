"""`costbot demo`: the demo organisation in its own SQLite store, loaded through the same
FOCUS ingest as real data, and an HTML preview of every message type Costbot sends."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import sqlite_utils

from bot.answers.app_home import preview_app_home
from bot.answers.cost import Asker, answer_cost
from bot.answers.kudos import preview_kudos
from bot.answers.unitcost import preview_unitcost
from bot.answers.untagged import preview_untagged
from bot.config import Config, load_config
from bot.context import utc_today
from bot.money import format_usd
from bot.periods import Period, format_day, format_range
from bot.render.idle import preview_idle
from bot.render.preview import PreviewMessage, write_preview
from bot.render.reports_preview import preview_reports
from bot.sources import demo_data
from bot.sources.business_metrics import ingest_metrics
from bot.sources.demo_data import generate_demo_files, write_demo_inventory
from bot.sources.focus import tag_dimensions
from bot.sources.focus_ingest import ingest_focus
from bot.store import open_store, queries
from bot.store.schema import migrations
from handlers.actions.share import share_button_block
from jobs.champions import preview as preview_champions
from jobs.tag_policy import preview_ladder
from jobs.weekly_digest import preview_weekly_digest

DEMO_DB_NAME = "costbot-demo.db"
DEMO_CONFIG_NAME = demo_data.CONFIG_FILE_NAME
# What the store was built from, written last: a build that stopped half way has none.
DEMO_BUILD_NAME = "costbot-demo.json"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoStore:
    db_path: Path
    config_path: Path
    config: Config
    today: date
    reused: bool = False  # True when an up-to-date store from an earlier build was kept


def _generator_fingerprint() -> str:
    """Changes whenever the generator or its config does, so their data is rebuilt too."""
    digest = hashlib.sha256()
    for source in (Path(demo_data.__file__), demo_data.CONFIG_TEMPLATE):
        digest.update(source.read_bytes())
    return digest.hexdigest()[:16]


def _build_record(data_end: date, seed: int) -> dict[str, object]:
    return {"data_end": data_end.isoformat(), "seed": seed, "generator": _generator_fingerprint()}


def _why_stale(out_dir: Path, wanted: dict[str, object]) -> str | None:
    """None when the store under out_dir holds exactly the data `wanted` describes, with the
    current schema; otherwise why it must be rebuilt."""
    record_path, db_path = out_dir / DEMO_BUILD_NAME, out_dir / DEMO_DB_NAME
    if not (record_path.is_file() and db_path.is_file() and (out_dir / DEMO_CONFIG_NAME).is_file()):
        return "no complete demo store yet"
    try:
        built = json.loads(record_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return f"{record_path.name} is unreadable"
    if built.get("data_end") != wanted["data_end"]:
        return f"its data ends {built.get('data_end')}, not {wanted['data_end']}"
    if built.get("seed") != wanted["seed"]:
        return f"it was built with seed {built.get('seed')}, not {wanted['seed']}"
    if built.get("generator") != wanted["generator"]:
        return "the demo generator has changed since it was built"
    # A newer schema may need columns that only a fresh ingest fills, and the demo is cheap to
    # rebuild, so a store with pending migrations is rebuilt rather than migrated.
    db = sqlite_utils.Database(db_path)
    try:
        if migrations.pending(db):
            return "it was built with an older schema"
    finally:
        db.close()
    return None


def build_demo_store(out_dir: Path, *, today: date | None = None, seed: int = 7) -> DemoStore:
    """The demo store under `out_dir`, with data through the day before `today`: the one an
    earlier build left there when it is up to date, otherwise generated and loaded afresh."""
    today = today or utc_today()
    out_dir.mkdir(parents=True, exist_ok=True)
    wanted = _build_record(today - timedelta(days=1), seed)
    db_path = out_dir / DEMO_DB_NAME
    config_path = out_dir / DEMO_CONFIG_NAME
    stale = _why_stale(out_dir, wanted)
    if stale is None:
        log.info("reusing the demo store %s (data through %s)", db_path, wanted["data_end"])
        config = load_config(config_path)
        return DemoStore(db_path, config_path, config, today, reused=True)

    log.info("building the demo store %s: %s", db_path, stale)
    (out_dir / DEMO_BUILD_NAME).unlink(missing_ok=True)
    for folder in (demo_data.FOCUS_DIR_NAME, demo_data.METRICS_DIR_NAME):
        shutil.rmtree(out_dir / folder, ignore_errors=True)
    for suffix in ("", "-wal", "-shm", "-journal"):  # a WAL store leaves companions beside it
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    files = generate_demo_files(out_dir, today - timedelta(days=1), seed=seed)
    config = load_config(files.config_file)
    ingest_focus([str(p) for p in files.focus_files], config, db_path, show_progress=False)
    ingest_metrics([files.metrics_file], db_path, config)
    # The demo has no AWS account: its EC2 and RDS resources stand in for an inventory sync,
    # so that /untagged has Claim buttons and the ladder has something to walk.
    db = open_store(db_path)
    try:
        write_demo_inventory(
            db, config, f"{(today - timedelta(days=1)).isoformat()}T06:00:00+00:00"
        )
    finally:
        db.close()
    (out_dir / DEMO_BUILD_NAME).write_text(json.dumps(wanted, indent=2) + "\n", encoding="utf-8")
    return DemoStore(db_path, files.config_file, config, today)


def demo_conversations(config: Config) -> list[tuple[str, str, Asker]]:
    """(command text, where it is asked, who asks) for every `/cost` message type."""
    first_team = config.teams[0] if config.teams else None
    examples = [
        ("team payments", "in any channel", Asker()),
        ("team platform last-month", "a finished month, with its budget", Asker()),
        ("service Amazon Elastic Compute Cloud 30d", "a service split by team", Asker()),
        ("account acme-prod qtd", "an account split by team", Asker()),
        ("top services", "the ranking of services, month to date", Asker()),
        ("top teams 90d", "the ranking of teams over 90 days", Asker()),
        ("help", "usage, shown only to the asker", Asker()),
        ("team paymnts", "a misspelt team: did you mean ...?", Asker()),
        ("team payments yesterday", "a bad period", Asker()),
    ]
    if first_team and first_team.channel:
        channel = first_team.channel
        examples.insert(
            0, ("", f"bare /cost in {channel}: that channel's team", Asker(channel_name=channel))
        )
    return examples


def _as_delivered(payload: dict, is_notice: bool, config: Config) -> dict:
    """The answer as `/cost` delivers it: notices to the asker alone; answers as the config
    says (private by default, with the Share button under them)."""
    if is_notice:
        return {**payload, "response_type": "ephemeral"}
    response_type = config.slack.answer_response_type
    extra = [share_button_block("demo")] if response_type == "ephemeral" else []
    return {**payload, "response_type": response_type, "blocks": [*payload["blocks"], *extra]}


def _anomaly_previews(store: DemoStore) -> list[PreviewMessage]:
    """What the anomaly job would post on the demo's last day (its injected anomalies), with
    the buttons; nothing is recorded, so every demo run shows them."""
    from bot.context import AppContext
    from bot.render.anomalies import with_chart_file
    from jobs import anomalies

    context = AppContext(config=store.config, db_path=str(store.db_path))
    previews = []
    for channel, message, chart in anomalies.preview(context, store.today):
        payload, images = message, {}
        if chart is not None:
            payload = with_chart_file(message, chart, chart.filename)
            images[chart.filename] = chart.png
        previews.append(
            PreviewMessage(
                title=f"Anomaly alert in {channel}",
                description="the daily anomaly job (`costbot run anomalies`), one message a day",
                payload=payload,
                images=images,
            )
        )
    return previews


def run_demo(out_dir: Path, *, seed: int = 7, today: date | None = None) -> str:
    store = build_demo_store(out_dir, today=today, seed=seed)
    messages = []
    db = open_store(store.db_path)
    try:
        for text, description, asker in demo_conversations(store.config):
            reply = answer_cost(text, db=db, config=store.config, today=store.today, asker=asker)
            images = {}
            payload = reply.payload
            if reply.chart is not None:
                key = reply.chart.filename
                payload = reply.with_chart_file(key)
                images[key] = reply.chart.png
            payload = _as_delivered(payload, reply.is_error, store.config)
            messages.append(
                PreviewMessage(
                    title=f"/cost {text}".strip(),
                    description=description,
                    payload=payload,
                    images=images,
                )
            )
        messages.extend(preview_unitcost(db, store.config, store.today))
        messages.extend(preview_kudos(store.config, store.today))
        messages.extend(
            PreviewMessage(title, description, payload)
            for title, description, payload in preview_untagged(db, store.config, store.today)
        )
        messages.extend(preview_app_home(db, store.config, store.today))
        messages.extend(preview_weekly_digest(db, store.config, store.today))
        alerts = _anomaly_previews(store)
        messages.extend(alerts)
        messages.extend(
            preview_idle(
                db,
                store.config,
                store.today,
                environment_of=lambda tags: tag_dimensions(tags, store.config.tag_keys)[
                    "environment"
                ],
            )
        )
        messages.extend(preview_reports(db, store.config, store.today))
        coverage = queries.data_range(db)
        assert coverage is not None, "the demo store is empty"
        everything = queries.total(db, Period(coverage[0], coverage[1], "rolling", "all"))
        teams = len(queries.known_values(db, "team"))
        services = len(queries.known_values(db, "service"))
        accounts = len(queries.known_values(db, "account"))
    finally:
        db.close()
    messages.extend(
        PreviewMessage(title, description, payload)
        for title, description, payload in preview_ladder(store.config, store.today, out_dir)
    )
    messages.extend(preview_champions(store.config, store.db_path, store.today, out_dir))
    index = write_preview(messages, out_dir)
    return "\n".join(
        [
            f"Demo organisation: {teams} teams, {services} services, {accounts} accounts, "
            f"{format_range(*coverage)}, {format_usd(everything)} amortized cost",
            f"Store:   {store.db_path}",
            f"Anomalies: {len(alerts)} alert message(s) for "
            f"{format_day(store.today - timedelta(days=1))}, in the preview",
            f"Preview: {index} ({len(messages)} messages with their charts)",
            "Ask it yourself:",
            f"  COSTBOT_DB={store.db_path} COSTBOT_CONFIG={store.config_path} "
            'costbot ask "/cost team payments"',
        ]
    )
