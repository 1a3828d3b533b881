"""Messages for the exactly-once and fan-out tests: a digest-like message per team channel, with
charts rendered by module-level functions (so that worker processes can import them), and the
child process (`python tests/fanout_world.py`) that fans them out against $SLACK_API_URL and
$COSTBOT_DB, for the tests that kill it or run two at once.

    python tests/fanout_world.py CHANNELS [--threads N] [--charts] [--period P]

prints the JobResult's JSON on its last line."""

from __future__ import annotations

import argparse
import json
import os
from datetime import date, timedelta

from bot.money import format_money
from bot.render import blocks
from bot.render.charts import daily_cost_chart
from bot.render.cost import CHART_PLACEHOLDER, Chart
from jobs.fanout import ChartSpec, JobResult, Outgoing, delivery_key, fan_out

JOB = "weekly-digest"
PERIOD = "2026-10-19"
WEEK_START = date(2026, 10, 19)
ADMIN_CHANNEL = "#finops"


def channel_name(index: int) -> str:
    return f"team-{index:02d}"


def channel_id(index: int) -> str:
    return f"C{index:08d}"


def name_channels(fake_slack, count: int) -> None:
    """Give the fake Slack `count` team channels (#team-00 is C00000000, ...), plus #finops."""
    for index in range(count):
        fake_slack.channel_names[channel_id(index)] = channel_name(index)
    fake_slack.channel_names["C0FINOPS00"] = ADMIN_CHANNEL.lstrip("#")


def spend_of(index: int) -> int:
    """Team `index`'s spend last week, in micro-dollars: $1,234.56 for team 0, then more."""
    return 1_234_560_000 + index * 10_010_000


def render_week_chart(team: str, amount_micros: int) -> Chart:
    days = [WEEK_START + timedelta(days=i) for i in range(7)]
    png = daily_cost_chart(days, [amount_micros // 7] * 7, f"{team}: daily cost")
    # The alt text names the process that drew it: the tests check that workers did.
    alt = f"Daily cost of {team} (drawn by process {os.getpid()})"
    return Chart(png, f"{team}: daily cost", alt, f"{team}.png")


def render_broken(team: str) -> Chart:
    raise RuntimeError(f"no data to draw for {team}")


def digest_for(index: int, *, chart: bool = False, broken: bool = False) -> Outgoing:
    team = channel_name(index)
    channel = f"#{team}"
    spent = format_money(spend_of(index))
    text = f"{team}: {spent} from Monday 19 to Sunday 25 October 2026"
    message_blocks = [
        blocks.header(f"Weekly cost: {team}"),
        blocks.section(f"*{blocks.escape_mrkdwn(text)}*"),
    ]
    spec = None
    if chart or broken:
        message_blocks.append(blocks.image("Daily cost", slack_file_id=CHART_PLACEHOLDER))
        spec = (
            ChartSpec(render_broken, (team,))
            if broken
            else ChartSpec(render_week_chart, (team, spend_of(index)))
        )
    return Outgoing(
        channel=channel,
        key=delivery_key(JOB, PERIOD, channel),
        message=blocks.message(text, message_blocks),
        chart=spec,
        period=PERIOD,
        scope=team,
    )


def digests(count: int, *, charts: bool = False) -> list[Outgoing]:
    return [digest_for(index, chart=charts) for index in range(count)]


def main(argv: list[str] | None = None) -> None:
    from bot.slack.client import build_web_client
    from bot.slack.delivery import Delivery
    from bot.store import open_store

    parser = argparse.ArgumentParser()
    parser.add_argument("channels", type=int)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--charts", action="store_true")
    args = parser.parse_args(argv)
    store = os.environ["COSTBOT_DB"]
    delivery = Delivery(build_web_client(timeout=5), lambda: open_store(store))
    result = fan_out(
        digests(args.channels, charts=args.charts),
        JobResult(JOB, WEEK_START + timedelta(days=7)),
        delivery=delivery,
        open_reader=lambda: open_store(store),
        admin_channel=ADMIN_CHANNEL,
        posting_threads=args.threads,
    )
    print(json.dumps(result.as_json()), flush=True)


if __name__ == "__main__":
    main()
