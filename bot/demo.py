"""`costbot demo`: the demo organisation in its own SQLite store, loaded through the same
FOCUS ingest as real data, and an HTML preview of every message type Costbot sends."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from bot.answers.cost import Asker, answer_cost
from bot.config import Config, load_config
from bot.context import utc_today
from bot.money import format_usd
from bot.periods import Period, format_range
from bot.render.preview import PreviewMessage, write_preview
from bot.sources.business_metrics import ingest_metrics
from bot.sources.demo_data import generate_demo_files
from bot.sources.focus_ingest import ingest_focus
from bot.store import open_store, queries

DEMO_DB_NAME = "costbot-demo.db"
DEMO_CONFIG_NAME = "costbot.yml"


@dataclass(frozen=True)
class DemoStore:
    db_path: Path
    config_path: Path
    config: Config
    today: date


def build_demo_store(out_dir: Path, *, today: date | None = None, seed: int = 7) -> DemoStore:
    """Generate the demo FOCUS files and load them into a fresh store under `out_dir`."""
    today = today or utc_today()
    out_dir.mkdir(parents=True, exist_ok=True)
    data_dir = out_dir / "data"
    shutil.rmtree(data_dir, ignore_errors=True)
    files = generate_demo_files(data_dir, today - timedelta(days=1), seed=seed)
    config_path = out_dir / DEMO_CONFIG_NAME
    shutil.copyfile(files.config_file, config_path)
    config = load_config(config_path)

    db_path = out_dir / DEMO_DB_NAME
    db_path.unlink(missing_ok=True)
    ingest_focus([str(p) for p in files.focus_files], config, db_path, show_progress=False)
    ingest_metrics(files.metrics_file, db_path)
    return DemoStore(db_path=db_path, config_path=config_path, config=config, today=today)


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
            messages.append(
                PreviewMessage(
                    title=f"/cost {text}".strip(),
                    description=description,
                    payload=payload,
                    images=images,
                )
            )
        coverage = queries.data_range(db)
        assert coverage is not None, "the demo store is empty"
        everything = queries.total(db, Period(coverage[0], coverage[1], "rolling", "all"))
        teams = len(queries.known_values(db, "team"))
        services = len(queries.known_values(db, "service"))
        accounts = len(queries.known_values(db, "account"))
    finally:
        db.close()
    index = write_preview(messages, out_dir)
    return "\n".join(
        [
            f"Demo organisation: {teams} teams, {services} services, {accounts} accounts, "
            f"{format_range(*coverage)}, {format_usd(everything)} amortized cost",
            f"Store:   {store.db_path}",
            f"Preview: {index} ({len(messages)} messages with their charts)",
            "Ask it yourself:",
            f"  COSTBOT_DB={store.db_path} COSTBOT_CONFIG={store.config_path} "
            'costbot ask "/cost team payments"',
        ]
    )
