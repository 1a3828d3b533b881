"""The real weekly digest job (`jobs.weekly_digest.run`) for 500 team channels, against the
fake Slack (tests/fake_slack.py) over HTTP enforcing one message per second per channel,
uploads included: total time, CPU time and peak memory, charts rendered in worker processes
(the default) against the baseline of rendering them in the posting process
(COSTBOT_CHART_PROCESSES=1), the floor of posting the same digests without charts (what
Slack's side costs), and the digest analytics alone (a dry run).

    .venv/bin/python bench/fanout_bench.py [--quick] [--channels N] [--synthetic]

The data: bench/digest_store.py builds once (cached in bench/out/) a costbot.yml of 500 teams,
each with its own channel, budget and time zone, and a store of nine weeks of their daily
cost loaded with the real ingest, an EC2 inventory and anomaly episodes. Each run gets its own
copy of that store (the job records its deliveries in it) and runs the job as the scheduler
would on Monday 26 October 2026 at 09:00 UTC: every team's digest of 19-25 October.

Each run is a child process (`--child`), so that its peak memory is its own: the child samples
the resident memory of itself and its descendants (the chart workers) together, every 50 ms,
from /proc. The fake Slack runs in this process.

`--synthetic`: the earlier measurement, with digest-like messages built here
(`weekly_digest_like`: no store, no analytics) handed to `fan_out` directly.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from _common import OUT, REPO, Figure, Section, emit, log, mib, run_child, secs
from digest_store import channel_name, digest_store

from bot.money import format_money
from bot.render import blocks
from bot.render.charts import daily_cost_chart
from bot.render.cost import CHART_PLACEHOLDER, Chart
from jobs.fanout import (
    CHART_PROCESSES_VARIABLE,
    POSTING_THREADS,
    ChartSpec,
    JobResult,
    Outgoing,
    delivery_key,
    fan_out,
)

FULL_CHANNELS = 500
QUICK_CHANNELS = 40
GOAL_SECONDS = 120
WEEK_START = date(2026, 10, 19)  # Monday 19 October 2026: the week the digests report
RUN_AT = datetime(2026, 10, 26, 9, tzinfo=UTC)  # the scheduler's Monday 09:00 UTC run
WEEKS_CHARTED = 8
SERVICES = ("EC2", "RDS", "S3", "Lambda", "CloudFront", "DynamoDB", "EKS", "ElastiCache")


def team_of(index: int) -> str:
    return f"team-{index:03d}"


def daily_spend(index: int) -> list[int]:
    """The team's daily spend in micro-dollars over the 8 weeks charted: a weekly rhythm, a
    slow rise, different per team."""
    base = 800_000_000 + (index * 37_123_457) % 2_000_000_000
    return [
        base + (day % 7 in (5, 6)) * -base // 3 + day * (index % 9) * 1_310_000
        for day in range(WEEKS_CHARTED * 7)
    ]


def render_digest_chart(team: str, first_day: str, amounts: list[int], budget: int) -> Chart:
    """Daily spend over 8 weeks with the budget pace line (module-level: worker processes
    import it)."""
    start = date.fromisoformat(first_day)
    days = [start + timedelta(days=i) for i in range(len(amounts))]
    title = f"{team}: daily spend, 8 weeks"
    png = daily_cost_chart(days, amounts, title, budget_daily_micros=budget)
    alt = f"Daily spend of {team} over the 8 weeks to {days[-1].isoformat()}, with the budget"
    return Chart(png, title, alt, f"{team}-weekly.png")


def weekly_digest_like(index: int, *, chart: bool = True) -> Outgoing:
    """Team `index`'s weekly digest: the message and its chart. The one function to swap for
    the real weekly digest's builder."""
    team = team_of(index)
    channel = f"#{team}"
    spend = daily_spend(index)
    last_week, week_before = sum(spend[-7:]), sum(spend[-14:-7])
    change = last_week - week_before
    budget_daily = 1_400_000_000 + index * 1_000_000
    period = "Monday 19 to Sunday 25 October 2026"
    text = (
        f"{team}: {format_money(last_week)} from {period}, "
        f"{'+' if change >= 0 else ''}{format_money(change)} against the week before"
    )
    changes = [
        f"{SERVICES[(index + i) % len(SERVICES)]} in 1234567890{i:02d}: "
        f"+{format_money(((index + 1) * (i + 3) * 1_234_567) % 90_000_000)}"
        for i in range(5)
    ]
    message_blocks = [
        blocks.header(f"Weekly cost: {team}"),
        blocks.section(f"*{blocks.escape_mrkdwn(text)}*"),
        blocks.section(
            "*Top changes by service and account*\n" + blocks.bulleted_list(changes),
        ),
        blocks.section(
            f"*Anomalies:* {index % 3} opened, {index % 2} resolved\n"
            f"*Untagged:* {index % 17} resources, {format_money(index * 3_210_000)} last week\n"
            f"*Idle:* {index % 5} resources, {format_money(index * 1_110_000)} last week"
        ),
        blocks.section(
            f"*Budget:* {format_money(sum(spend[-25:]))} of {format_money(budget_daily * 31)}"
            f" spent by Sunday 25 October; month-end forecast"
            f" {format_money(sum(spend[-25:]) + spend[-1] * 6)}"
        ),
        blocks.image("Daily spend, 8 weeks", slack_file_id=CHART_PLACEHOLDER),
        blocks.context(["Costbot weekly digest · data through Sunday 25 October 2026"]),
    ]
    first_day = (WEEK_START + timedelta(days=7 - WEEKS_CHARTED * 7)).isoformat()
    return Outgoing(
        channel=channel,
        key=delivery_key("weekly-digest", WEEK_START.isoformat(), channel),
        message=blocks.message(text, message_blocks),
        chart=ChartSpec(render_digest_chart, (team, first_day, spend, budget_daily))
        if chart
        else None,
        period=WEEK_START.isoformat(),
        scope=team,
    )


# ---- the child: one fan-out, timed and measured


TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _tree_sample(root: int, cpu_ticks: dict[int, int]) -> int:
    """Resident bytes of `root` and all its descendants, from /proc; records each one's CPU
    time so far (user + system, in clock ticks) in `cpu_ticks`."""
    children: dict[int, list[int]] = {}
    ticks: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
        ticks[int(entry)] = int(fields[11]) + int(fields[12])  # utime + stime
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        cpu_ticks[pid] = max(cpu_ticks.get(pid, 0), ticks.get(pid, 0))
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


def child(
    channels: int, chart_processes: int | None, charts: bool, threads: int, synthetic: bool
) -> None:
    from bot.slack.client import build_web_client
    from bot.slack.delivery import Delivery
    from bot.store import open_store

    store = os.environ["COSTBOT_DB"]
    if synthetic:
        open_store(store).close()
        outgoing = [weekly_digest_like(i, chart=charts) for i in range(channels)]

        def work() -> JobResult:
            return fan_out(
                outgoing,
                JobResult("weekly-digest", WEEK_START + timedelta(days=7)),
                delivery=Delivery(build_web_client(), lambda: open_store(store)),
                open_reader=lambda: open_store(store),
                admin_channel="#finops",
                posting_threads=threads,
                chart_processes=chart_processes,
            )
    else:
        work = _real_job(channels, chart_processes, charts, dry_run=False)
    _measured(work)


def _real_job(channels: int, chart_processes: int | None, charts: bool, *, dry_run: bool):
    """The weekly digest job as the scheduler runs it, for the first `channels` teams."""
    from bot.config import load_config
    from bot.context import AppContext
    from bot.slack.client import build_web_client
    from bot.slack.delivery import Delivery
    from jobs import weekly_digest

    config = load_config(os.environ["COSTBOT_CONFIG"])
    context = AppContext(config, os.environ["COSTBOT_DB"])
    teams = None if channels >= len(config.teams) else [t.name for t in config.teams[:channels]]
    if chart_processes is not None:
        os.environ[CHART_PROCESSES_VARIABLE] = str(chart_processes)
    if not charts:
        # The posting floor only: the same digests, without their image block and chart.
        message = weekly_digest.digest_message
        weekly_digest.digest_message = lambda d, metric: message(d, metric, with_chart=False)
        weekly_digest.has_chart = lambda digests: False
    delivery = None if dry_run else Delivery(build_web_client(), context.open_writer)

    def work() -> JobResult:
        return weekly_digest.run(context, RUN_AT, dry_run=dry_run, delivery=delivery, teams=teams)

    return work


def child_dry_run(channels: int) -> None:
    """The digest analytics alone: the job's dry run reads the store and builds every message,
    renders no chart, posts nothing."""
    _measured(_real_job(channels, None, True, dry_run=True))


def _measured(work) -> None:
    peak = [0]
    cpu_ticks: dict[int, int] = {}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _tree_sample(os.getpid(), cpu_ticks))
            stop.wait(0.05)

    cpu_before = sum(os.times()[:2])
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    result = work()
    seconds = time.perf_counter() - started
    stop.set()
    sampler.join()
    _tree_sample(os.getpid(), cpu_ticks)
    emit(
        {
            "seconds": seconds,
            "statuses": dict(Counter(d["status"] for d in result.deliveries)),
            "notes": result.notes,
            "peak_tree_rss": peak[0],
            # CPU time of the run's process and its chart workers (a worker's last 50 ms
            # before it exits may be missed); the start-up before the run left out.
            "cpu_seconds": sum(cpu_ticks.values()) / TICKS_PER_SECOND - cpu_before,
            "self_maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            "children_maxrss": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024,
        }
    )


# ---- the parent: the fake Slack, the runs


def _one_run(
    channels: int, label: str, synthetic: bool, *child_args: str
) -> tuple[dict, Counter, int, int]:
    """One run in a child process against a fresh fake Slack and a fresh copy of the store:
    (the child's figures, messages per channel id, channels whose message shows an uploaded
    chart, 429s)."""
    sys.path.insert(0, str(REPO / "tests"))
    from fake_slack import BOT_TOKEN, FakeSlack

    with FakeSlack() as slack, tempfile.TemporaryDirectory() as scratch:
        slack.post_interval_per_channel = 1.0
        for index in range(channels):
            slack.channel_names[f"C{index:08d}"] = channel_name(index)
        db_path = Path(scratch) / "costbot.db"
        os.environ.update(
            SLACK_API_URL=slack.url, SLACK_BOT_TOKEN=BOT_TOKEN, COSTBOT_DB=str(db_path)
        )
        if not synthetic:
            config_path, store = digest_store(OUT)
            shutil.copyfile(store, db_path)
            os.environ["COSTBOT_CONFIG"] = str(config_path)
        os.environ.pop(CHART_PROCESSES_VARIABLE, None)  # the production default unless asked
        log(f"   {label}: {channels} channels")
        mode = ["--synthetic"] if synthetic else []
        slack_cpu = sum(os.times()[:2])  # this process: the fake Slack's threads, mostly
        run = run_child(
            [str(Path(__file__).resolve()), "--child", str(channels), *mode, *child_args]
        )
        slack_cpu = sum(os.times()[:2]) - slack_cpu
        uploaded = {f.file_id for f in slack.uploaded_files()}
        messages: Counter = Counter()
        with_chart = set()
        for message in slack.channel_messages():
            if message.kind != "message":
                continue
            channel = slack.channel_id(message.channel)
            messages[channel] += 1
            if any(
                (b.get("slack_file") or {}).get("id") in uploaded
                for b in message.blocks
                if b.get("type") == "image"
            ):
                with_chart.add(channel)
        result = {**run.result, "child_maxrss": run.peak_rss, "slack_cpu": slack_cpu}
        return result, messages, len(with_chart), slack.rate_limited_posts


def _dry_run(channels: int) -> dict:
    with tempfile.TemporaryDirectory() as scratch:
        config_path, store = digest_store(OUT)
        db_path = Path(scratch) / "costbot.db"
        shutil.copyfile(store, db_path)
        os.environ.update(COSTBOT_DB=str(db_path), COSTBOT_CONFIG=str(config_path))
        log(f"   the digest analytics alone (dry run): {channels} teams")
        run = run_child([str(Path(__file__).resolve()), "--dry-run-child", str(channels)])
        return {**run.result, "child_maxrss": run.peak_rss}


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "load average: " + ", ".join(f"{v:.2f}" for v in os.getloadavg())


def _verdict(
    channels: int, quick: bool, cores: int, parallel: dict, per_chart_pool: float, per_chart: float
) -> str:
    """Whether the 2-minute goal held, in words: measured figures first, the estimate marked."""
    seconds, cpu = parallel["seconds"], parallel["cpu_seconds"]
    charts = (
        f"CPU time per chart (render + upload): {per_chart_pool:.2f} s with chart workers,"
        f" {per_chart:.2f} s in the posting process; {channels} charts,"
        f" {per_chart_pool * channels:.0f} s of CPU."
    )
    estimate = (
        f"Estimate, not measured: on {cores} cores of its own the job would take about its"
        f" CPU time / {cores} = {cpu / cores:.0f} s."
    )
    if quick:
        return f"Quick run: no goal. {charts}"
    if seconds < GOAL_SECONDS:
        return f"The {GOAL_SECONDS} s goal held: {seconds:.0f} s measured (wall time). {charts}"
    return (
        f"The {GOAL_SECONDS} s goal did not hold in this run: {seconds:.0f} s measured (wall"
        f" time of the job's call). The machine was shared: the job's processes together got"
        f" {cpu / seconds:.2f} cores' worth of CPU on average (CPU time / wall time) out of"
        f" {cores}, so the wall time was set by that share, not by Slack's limit. {charts}"
        f" {estimate}"
    )


def measure(quick: bool, channels: int | None = None, synthetic: bool = False) -> Section:
    channels = channels or (QUICK_CHANNELS if quick else FULL_CHANNELS)
    if not synthetic:
        log("   the store and costbot.yml of 500 teams (cached in bench/out/)")
        digest_store(OUT)
    # `uptime` before the runs and after each: its 1-minute load is about that run's.
    uptimes = [("before the runs", _uptime())]
    parallel, messages, charts, limited = _one_run(
        channels, "charts in worker processes", synthetic
    )
    uptimes.append(("after the run with chart workers", _uptime()))
    serial, serial_messages, serial_charts, _ = _one_run(
        channels, "charts in the posting process", synthetic, "--chart-processes", "1"
    )
    uptimes.append(("after the run with charts in the posting process", _uptime()))
    floor, _, _, _ = _one_run(channels, "no charts (the posting floor)", synthetic, "--no-charts")
    dry = None if synthetic else _dry_run(channels)
    uptimes.append(("after the floor and the dry run", _uptime()))
    cores = os.cpu_count() or 1
    once = set(messages.values()) == {1} and len(messages) == channels
    serial_once = set(serial_messages.values()) == {1} and len(serial_messages) == channels
    sent = parallel["statuses"].get("sent", 0)
    what = "digest-like messages (synthetic)" if synthetic else "weekly digests (the real job)"
    per_chart = (serial["cpu_seconds"] - floor["cpu_seconds"]) / channels
    per_chart_pool = (parallel["cpu_seconds"] - floor["cpu_seconds"]) / channels
    figures = [
        Figure(
            f"{channels} {what} with charts: total time",
            secs(parallel["seconds"]),
            "charts rendered in the posting process",
            secs(serial["seconds"]),
            parallel["seconds"] / serial["seconds"],
            f"< {GOAL_SECONDS} s" if not quick else "-",
            parallel["seconds"] < GOAL_SECONDS if not quick else None,
        ),
        Figure(
            "CPU time, job process + chart workers",
            secs(parallel["cpu_seconds"]),
            "charts rendered in the posting process",
            secs(serial["cpu_seconds"]),
            parallel["cpu_seconds"] / serial["cpu_seconds"],
        ),
        Figure(
            f"CPU the job got: CPU time / wall time (cores' worth, of the {cores})",
            f"{parallel['cpu_seconds'] / parallel['seconds']:.2f}",
            "charts rendered in the posting process",
            f"{serial['cpu_seconds'] / serial['seconds']:.2f}",
        ),
        Figure(
            "CPU time of the fake Slack (the benchmark's own process) during the run, not"
            " counted above",
            secs(parallel["slack_cpu"]),
            "charts rendered in the posting process",
            secs(serial["slack_cpu"]),
            parallel["slack_cpu"] / max(serial["slack_cpu"], 1e-9),
        ),
        Figure(
            "CPU time per chart (render + upload: CPU time with charts minus without, per"
            " channel), charts in worker processes",
            secs(per_chart_pool),
            "charts rendered in the posting process",
            secs(per_chart),
            per_chart_pool / per_chart if per_chart > 0 else None,
        ),
        Figure(
            "peak memory, job process + chart workers",
            mib(parallel["peak_tree_rss"]),
            "charts rendered in the posting process",
            mib(serial["peak_tree_rss"]),
            parallel["peak_tree_rss"] / max(serial["peak_tree_rss"], 1),
        ),
        Figure(
            "peak memory of the job process alone (ru_maxrss)",
            mib(parallel["child_maxrss"]),
            "charts rendered in the posting process",
            mib(serial["child_maxrss"]),
            parallel["child_maxrss"] / max(serial["child_maxrss"], 1),
        ),
        Figure(
            "the same job without charts (analytics + posting)"
            if not synthetic
            else "the same digests without charts (posting only)",
            f"{secs(floor['seconds'])} ({secs(floor['cpu_seconds'])} CPU)",
            "with charts, in worker processes",
            secs(parallel["seconds"]),
            floor["seconds"] / parallel["seconds"],
        ),
    ]
    if dry is not None:
        figures.append(
            Figure(
                f"the digest analytics alone for {channels} teams (dry run: store read, every"
                " message built, no chart, no post)",
                f"{secs(dry['seconds'])} ({secs(dry['cpu_seconds'])} CPU,"
                f" {mib(dry['child_maxrss'])} peak)",
                "the whole job, charts in worker processes",
                secs(parallel["seconds"]),
                dry["seconds"] / parallel["seconds"],
            )
        )
    figures.append(
        Figure(
            "channels with exactly one digest, its chart shown",
            f"{len(messages)}/{channels}, {charts} with chart",
            "charts rendered in the posting process",
            f"{len(serial_messages)}/{channels}, {serial_charts} with chart",
            goal=f"{channels}, each once",
            passed=once
            and serial_once
            and charts == channels
            and serial_charts == channels
            and sent == channels,
        )
    )
    if synthetic:
        data = [
            f"`bench/fanout_bench.py --synthetic`: {channels} team channels, one"
            " weekly-digest-like message each (`weekly_digest_like`: 7 blocks, top 5 changes,"
            " budget and forecast) with an 8-week daily spend chart with its budget line"
            " (`bot.render.charts.daily_cost_chart`, 56 days), through `jobs.fanout.fan_out`"
            " and `bot.slack.delivery`; no store read, no analytics.",
        ]
    else:
        data = [
            f"`bench/fanout_bench.py`: the real job, `jobs.weekly_digest.run(context, Monday"
            f" 26 Oct 2026 09:00 UTC, delivery=Delivery(build_web_client(),"
            f" context.open_writer))`, for {channels} teams each with its own channel: every"
            " digest of 19-25 Oct read from the store (`weekly_digests`), built"
            " (`digest_message`: spend against the week before, top changes by service and"
            " account, anomalies, untagged and idle resources, budget, forecast) and delivered"
            " through `jobs.fanout.fan_out` and `bot.slack.delivery` (ledger in SQLite, chart"
            " uploaded with files v2, then chat.postMessage with metadata).",
            "Data (`bench/digest_store.py`, built once, each run on a fresh copy): costbot.yml"
            " of 500 teams (own channel, monthly budget, 5 time zones); nine weeks (24 Aug - 25"
            " Oct 2026) of daily FOCUS 1.0 rows, 6 services x 3 accounts per team (567,000 rows,"
            " 100 accounts) loaded with the real ingest (`ingest_focus`: daily_cost and"
            " resource_cost); an EC2 inventory of 450 instances (75 idle); 197 anomaly episodes.",
            "Baseline: the same job with COSTBOT_CHART_PROCESSES=1 (charts rendered in the"
            " posting process; read by jobs/fanout.py, unset in production: one worker per"
            " core). Floor: the same job with the digests' chart left out.",
        ]
    return Section(
        key="fanout",
        title="10. Weekly digests to 500 channels (fan-out)"
        if not quick
        else "10. Weekly digests fan-out (quick)",
        setup=[
            *data,
            "Against tests/fake_slack.py over HTTP in the benchmark's process, enforcing one"
            " message per second per channel (429 + Retry-After otherwise); the job runs"
            f" in a child process, {POSTING_THREADS} posting threads; chart workers: one per"
            f" core ({os.cpu_count()}), forkserver.",
            "Time and CPU time: around the job's call, in the child (interpreter start-up and"
            " imports left out). Peak memory: resident memory of the job's process and its"
            " chart workers together, sampled every 50 ms from /proc; and the job process's"
            " own ru_maxrss.",
        ],
        figures=figures,
        notes=[
            f"429s from the fake Slack during the parallel run: {limited} (the fan-out paces"
            " each channel itself).",
            "Machine load (`uptime`; the load counts this benchmark's own processes too): "
            + "; ".join(f"{when}: `{text}`" for when, text in uptimes)
            + ".",
            _verdict(channels, quick, cores, parallel, per_chart_pool, per_chart),
            "Why a share: Linux gives each session (autogroup) an equal share of the CPU, so"
            " on a busy machine the chart workers and the posting process together get about"
            " what one session gets, however many processes they are, and the wall time is set"
            " by that share, not by the work. The CPU time is what the work costs. Slack's one"
            " post a second per channel does not bind here: each of the channels gets one post.",
        ],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--channels", type=int)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--chart-processes", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--no-charts", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=POSTING_THREADS, help=argparse.SUPPRESS)
    parser.add_argument("--dry-run-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument(
        "--synthetic",
        action="store_true",
        help="digest-like messages built here instead of the real job (no store, no analytics)",
    )
    args = parser.parse_args()
    if args.child:
        child(args.child, args.chart_processes, not args.no_charts, args.threads, args.synthetic)
        return
    if args.dry_run_child:
        child_dry_run(args.dry_run_child)
        return
    measure(args.quick, args.channels, args.synthetic).print()


if __name__ == "__main__":
    main()
