"""The anomaly detector (`bot.analytics.anomalies.detect`) against labelled synthetic cost
series, scored per event as the daily job would alert, against a rolling mean / 3-sigma
baseline scored the same way in the same run; and its runtime on 50,000 series x 400 days.

    .venv/bin/python bench/anomaly_bench.py [--quick] [--seed N] [--series N]

The generator (`generate`) draws teams of series with noise of 3-20%, weekly seasonality,
trends, month-start fees and sparse series, and injects spikes, level shifts, ramps (drifts)
and new spend of known size and start, all seeded. The scorer (`score`) replays the evaluation
window day by day: on each day D the detector sees the series cut at D (as
`costbot run anomalies --date D` does), and a finding opens an alert only when it does not
continue an episode already alerted on that series (the same start, or a finding on that
series in the last few days), as the job keeps episodes.

Tuning was done with seed 1 (`--seed 1`); the figures written to RESULTS.md use seed 2026,
so that they are not measured on the data the thresholds were chosen on.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
from _common import OUT, REPO, Figure, Section, log, median, percentile, secs

from bot.analytics.anomalies import SeriesKey, SeriesSet, detect
from bot.config import AnomalySettings

TUNING_SEED = 1
RESULTS_SEED = 2026
FIRST_DAY = date(2025, 7, 1)
HISTORY_DAYS = 180  # before the evaluation window: what the baselines learn from
EVAL_DAYS = 120  # the window replayed day by day (as the check does)
TEAM_SIZE = 12  # series per team, plus the team's roll-up
FULL_SERIES = 3_000
QUICK_SERIES = 600
RUNTIME_SERIES = 50_000
RUNTIME_DAYS = 400
# An alert is about an event when it comes between its start and this many days after its end.
MATCH_AFTER = 3
# A finding continues an alerted episode of its series when that series had a finding at most
# this many days before (or the finding has the episode's start).
EPISODE_GAP = 3
ELIGIBLE_NOISE_MULTIPLE = 5.0
# ... and a raised level is still the same event this many more days after (its days are in
# the baseline's recent weeks): an alert on it then is late, not false.
LATER = {"drift": 28, "shift": 28}


@dataclass
class Event:
    row: int
    kind: str  # spike | shift | drift | new
    start: int  # column
    end: int  # column of its last raised day (spike), of adoption (shift), of the ramp's top
    size: float  # relative increase at its height (1.0 = +100%)
    increase: float  # dollars per day at its height
    eligible: bool  # counted in recall: >= 5x the noise, above the dollar and percent floors


@dataclass
class Synthetic:
    series: SeriesSet
    events: list[Event]
    noise: np.ndarray  # per row: the noise of the series (relative)
    fee_days: list[tuple[int, int]]  # (row, column) month-start fees with an earlier one seen
    rollups: np.ndarray  # rows of the team roll-ups


def _loguniform(rng: np.random.Generator, low: float, high: float, size=None):
    return np.exp(rng.uniform(math.log(low), math.log(high), size))


def generate(
    n_series: int,
    seed: int,
    settings: AnomalySettings,
    days: int = HISTORY_DAYS + EVAL_DAYS,
    events_from: int = HISTORY_DAYS,
    event_share: float = 0.25,
) -> Synthetic:
    """Labelled series: `n_series` service x account series in teams of TEAM_SIZE, each team
    followed by its roll-up (the sum of its series). Events start in the columns from
    `events_from` on, at most one per series."""
    rng = np.random.default_rng(seed)
    teams = -(-n_series // TEAM_SIZE)
    keys: list[SeriesKey] = []
    team_row: list[int] = []
    rows_cost: list[np.ndarray] = []
    noise_of: list[float] = []
    events: list[Event] = []
    fee_days: list[tuple[int, int]] = []
    rollups: list[int] = []
    columns = np.arange(days)
    stamps = np.datetime64(FIRST_DAY, "D") + columns
    month_start = stamps.astype("datetime64[M]").astype("datetime64[D]") == stamps
    weekday = (np.datetime64(FIRST_DAY, "D") + columns - np.datetime64("1970-01-05")).astype(
        int
    ) % 7  # 0 = Monday
    floor_dollars = settings.min_increase_per_day_micros / 1e6
    made = 0
    for team in range(teams):
        size = min(TEAM_SIZE, n_series - made)
        first_row = len(keys)
        rollup_row = first_row + size
        team_cost = np.zeros(days)
        pending: list[tuple[Event, float]] = []  # (event, its noise in log terms)
        for s in range(size):
            row = len(keys)
            level = _loguniform(rng, 5, 5_000)
            sigma = rng.uniform(0.03, 0.20)
            amplitude = rng.uniform(0.0, 0.35) if rng.random() < 0.7 else 0.0
            growth = rng.uniform(-0.2, 0.6)  # a year
            season = np.where(weekday >= 5, 1.0 - amplitude, 1.0)
            trend = np.exp(math.log1p(growth) * columns / 365)
            base = level * season * trend
            sparse = rng.random() < 0.10
            if sparse:
                charges = rng.random(days) < rng.uniform(0.05, 0.4)
                base = np.where(charges, level * rng.lognormal(0, 0.3, days), 0.0)
            noise = rng.lognormal(0, sigma, days) if not sparse else np.ones(days)
            raise_ = np.ones(days)
            extra = np.zeros(days)
            event = None
            if rng.random() < event_share:
                kind = str(rng.choice(["spike", "shift", "drift", "new"], p=[0.35, 0.3, 0.25, 0.1]))
                # A drift needs weeks to be seen: it starts early enough to be.
                latest = days - (50 if kind == "drift" else 10)
                start = int(rng.integers(events_from, max(latest, events_from + 1)))
                # Sizes in multiples of the noise (log terms), log-uniform from 3 to 30.
                multiple = _loguniform(rng, 3, 30)
                noise_log = max(sigma, settings.noise_floor)
                if sparse:
                    kind = "spike"
                    noise_log = 0.3  # the spread of its charges
                    largest = float(base[max(start - settings.baseline_days, 0) : start].max())
                    charge = max(largest, level) * math.exp(min(multiple * noise_log, 3.0))
                    base[start] = 0.0
                    extra[start] = charge
                    rel = charge / max(largest, level) - 1
                    end = start
                else:
                    rel = min(math.expm1(multiple * noise_log), 9.0)
                    if kind == "spike":
                        end = start + int(rng.integers(1, 3)) - 1
                        raise_[start : end + 1] = 1 + rel
                    elif kind == "shift":
                        end = min(start + settings.shift_days - 1, days - 1)
                        raise_[start:] = 1 + rel
                    elif kind == "drift":
                        ramp = int(rng.integers(14, 43))
                        end = min(start + ramp, days - 1)
                        rise = np.clip((columns - start) / ramp, 0, 1)
                        raise_ = 1 + rel * rise
                    else:
                        end = start
                        base[:start] = 0.0
                        rel = math.inf
                before = float(np.median(base[max(start - 28, 0) : start]))
                increase = before * rel if kind != "new" else float(np.median(base[start:]))
                if sparse:
                    increase = float(extra[start]) - max(largest, level)
                event = Event(row, kind, start, end, rel, increase, False)
                pending.append((event, math.log1p(rel) / noise_log))
            cost = base * raise_ * noise + extra
            if not sparse and (event is None or event.kind != "new") and rng.random() < 0.15:
                fee = level * rng.uniform(1.0, 10.0)
                fees = month_start & (columns >= int(rng.integers(0, 60)))
                cost = cost + np.where(fees, fee * rng.uniform(0.97, 1.03, days), 0.0)
                seen = np.flatnonzero(fees)
                fee_days += [(row, int(c)) for c in seen[1:] if c >= events_from]
            if event is not None and event.kind == "new":
                cost[: event.start] = 0.0
            cost = np.round(cost, 2)
            keys.append(SeriesKey(f"team-{team}", f"service-{s}", f"acct-{s % 3}", "USD"))
            team_row.append(rollup_row)
            rows_cost.append(cost)
            noise_of.append(sigma if not sparse else 0.3)
            team_cost += cost
        # Counted in recall: >= 5x the noise, above the team's dollar floor and the percent.
        for event, multiple in pending:
            window = team_cost[max(event.start - settings.baseline_days, 0) : event.start]
            floor = max(floor_dollars, settings.team_floor_share * float(np.median(window)))
            event.eligible = (
                multiple >= ELIGIBLE_NOISE_MULTIPLE
                and event.size * 100 >= settings.min_increase_percent
                and event.increase >= floor
            )
            events.append(event)
        keys.append(SeriesKey(f"team-{team}", None, None, "USD"))
        team_row.append(rollup_row)
        rows_cost.append(team_cost)
        noise_of.append(0.0)
        rollups.append(rollup_row)
        made += size
    series = SeriesSet(keys, FIRST_DAY, np.vstack(rows_cost), np.array(team_row, dtype=np.int64))
    return Synthetic(series, events, np.array(noise_of), fee_days, np.array(rollups))


# --- the baseline: rolling mean / 3 sigma -------------------------------------------------


def rolling_three_sigma(series: SeriesSet, settings: AnomalySettings) -> list[tuple[int, date]]:
    """The textbook detector: a day above the mean + 3 standard deviations of the 28 days
    before it (and above the same dollar floor). (row, start) like `detect`'s findings; its
    start is the day itself (it knows no events), continued by the scorer's episode gap."""
    window = series.cost[:, -29:-1]
    mean = window.mean(axis=1)
    std = window.std(axis=1)
    today = series.cost[:, -1]
    floor = settings.min_increase_per_day_micros / 1e6
    hit = (today > mean + 3 * std) & (today - mean >= floor)
    return [(int(r), series.last_day) for r in np.flatnonzero(hit)]


# --- the scorer ---------------------------------------------------------------------------


@dataclass
class Score:
    name: str
    alerts: int = 0
    true_alerts: int = 0
    false_alerts: int = 0
    series_days: int = 0
    detected: dict[str, int] = field(default_factory=dict)
    eligible: dict[str, int] = field(default_factory=dict)
    delays: dict[str, list[int]] = field(default_factory=dict)
    fee_flagged: int = 0
    repeats: int = 0
    fee_days: int = 0
    seconds: float = 0.0
    missed: list[Event] = field(default_factory=list)
    false_examples: list[tuple[int, int]] = field(default_factory=list)
    repeat_examples: list[tuple[int, int]] = field(default_factory=list)

    @property
    def precision(self) -> float:
        return self.true_alerts / self.alerts if self.alerts else 1.0

    def recall(self, kind: str) -> float:
        return self.detected.get(kind, 0) / max(self.eligible.get(kind, 0), 1)

    @property
    def false_per_10k(self) -> float:
        return self.false_alerts / self.series_days * 10_000

    @property
    def fee_share(self) -> float:
        return self.fee_flagged / self.fee_days if self.fee_days else 0.0


def score(
    data: Synthetic,
    settings: AnomalySettings,
    finder,
    name: str,
    eval_from: int = HISTORY_DAYS,
) -> Score:
    """Replay the columns from `eval_from` on, one day at a time, and score the alerts
    `finder(series_cut, settings)` -> [(row, start)] opens, per event."""
    series = data.series
    days = series.cost.shape[1]
    result = Score(name)
    by_row: dict[int, list[Event]] = {}
    for event in data.events:
        by_row.setdefault(event.row, []).append(event)
    team_members: dict[int, list[int]] = {}
    for row, team in enumerate(series.team_row):
        if row != team:
            team_members.setdefault(int(team), []).append(row)
    fee_set = set(data.fee_days)
    last_finding: dict[int, int] = {}
    episode_start: dict[int, date] = {}
    first_alert: dict[int, int] = {}  # event index -> day
    event_index = {id(e): i for i, e in enumerate(data.events)}
    flagged_fees: set[tuple[int, int]] = set()
    started = time.perf_counter()
    for day in range(eval_from, days):
        cut = SeriesSet(series.keys, series.first_day, series.cost[:, : day + 1], series.team_row)
        findings = finder(cut, settings)
        for row, start in findings:
            if (row, day) in fee_set and not any(
                e.start <= day <= e.end + MATCH_AFTER + LATER.get(e.kind, 0)
                for e in by_row.get(row, [])
            ):
                flagged_fees.add((row, day))  # about the fee, not about an event of its series
            continuing = (
                row in last_finding and day - last_finding[row] <= EPISODE_GAP
            ) or episode_start.get(row) == start
            last_finding[row] = day
            if continuing:
                continue
            episode_start[row] = start
            result.alerts += 1
            rows = [row, *team_members.get(row, [])]
            matched = [
                e
                for r in rows
                for e in by_row.get(r, [])
                if e.start <= day <= e.end + MATCH_AFTER + LATER.get(e.kind, 0)
            ]
            if matched:
                result.true_alerts += 1
                if all(event_index[id(e)] in first_alert for e in matched):
                    result.repeats += 1  # an event alerted before, alerted again
                    if len(result.repeat_examples) < 1000:
                        result.repeat_examples.append((row, day))
                for event in matched:
                    first_alert.setdefault(event_index[id(event)], day)
            else:
                result.false_alerts += 1
                if len(result.false_examples) < 20:
                    result.false_examples.append((row, day))
    result.seconds = time.perf_counter() - started
    result.series_days = series.cost.shape[0] * (days - eval_from)
    for i, event in enumerate(data.events):
        if not event.eligible:
            continue
        result.eligible[event.kind] = result.eligible.get(event.kind, 0) + 1
        if i in first_alert:
            result.detected[event.kind] = result.detected.get(event.kind, 0) + 1
            result.delays.setdefault(event.kind, []).append(first_alert[i] - event.start)
        else:
            result.missed.append(event)
    result.fee_days = len(fee_set)
    result.fee_flagged = len(flagged_fees)
    return result


def detector_finder(series: SeriesSet, settings: AnomalySettings) -> list[tuple[int, date]]:
    return [(f.row, f.start) for f in detect(series, settings)]


def baseline_finder(series: SeriesSet, settings: AnomalySettings) -> list[tuple[int, date]]:
    return rolling_three_sigma(series, settings)


# --- runtime ------------------------------------------------------------------------------


def runtime(settings: AnomalySettings, n_series: int, days: int, seed: int) -> tuple[float, int]:
    """Seconds of one `detect` over `n_series` x `days` (best of 3), and its findings."""
    data = generate(n_series, seed, settings, days=days, events_from=days - 30)
    best = math.inf
    found = 0
    for _ in range(3):
        start = time.perf_counter()
        found = len(detect(data.series, settings))
        best = min(best, time.perf_counter() - start)
    return best, found


# --- the whole path -----------------------------------------------------------------------


WHOLE_SERIES = 240
QUICK_WHOLE_SERIES = 48
WHOLE_DAYS = 120  # the days replayed through the CLI (as the check does)
QUICK_WHOLE_DAYS = 20


def _costbot() -> str:
    return str(Path(sys.executable).with_name("costbot"))


def _account(key: SeriesKey) -> str:
    return f"{222222222222 + int(key.account.split('-')[1]) * 111111111111}"


# Where a series' usage is, in the FOCUS file: (region, usage type, share of the usual cost).
# An injected event's excess all goes to one of them, its labelled root cause.
USAGE_PARTS = (
    ("us-east-1", "USE1-BoxUsage:m5.xlarge", 0.55),
    ("us-west-2", "USW2-BoxUsage:m5.xlarge", 0.30),
    ("us-east-1", "USE1-EBS:VolumeUsage.gp3", 0.15),
)


def write_focus(data: Synthetic, path: Path, seed: int) -> tuple[Path, dict[int, tuple[str, str]]]:
    """The synthetic series as one FOCUS 1.0 CSV (the team's roll-ups are what the store adds
    up, not rows): each series' usual cost split over USAGE_PARTS, and from an event's start
    on, the cost above the 28 days before it (its excess) in one part, chosen at random: the
    event's root cause, returned as {row: (region, usage type)}. Every day's parts add up to
    the series' cost to the cent."""
    sys.path.insert(0, str(REPO / "tests"))
    from focus_rows import focus_row, write_rows

    rng = np.random.default_rng(seed)
    causes: dict[int, tuple[str, str]] = {}
    event_of = {event.row: event for event in data.events}
    rows = []
    series = data.series
    for row, key in enumerate(series.keys):
        if key.is_rollup:
            continue
        account = _account(key)
        event = event_of.get(row)
        cause = int(rng.integers(len(USAGE_PARTS)))
        usual = 0
        if event is not None:
            causes[row] = USAGE_PARTS[cause][:2]
            before = series.cost[row, max(event.start - 28, 0) : event.start]
            usual = round(float(np.median(before)) * 100) if len(before) else 0
        for column in np.flatnonzero(series.cost[row] > 0):
            total = round(float(series.cost[row, column]) * 100)  # cents
            excess = 0
            if event is not None and column >= event.start:
                excess = max(total - usual, 0)
            rest = total - excess
            cents = [int(rest * share) for _, _, share in USAGE_PARTS]
            cents[0] += rest - sum(cents)
            cents[cause] += excess
            for (region, usage, _), amount in zip(USAGE_PARTS, cents, strict=True):
                if amount == 0:
                    continue
                charge = focus_row(
                    series.day_of(column),
                    f"{amount / 100:.2f}",
                    service=key.service,
                    team=key.team,
                    sub_account=(account, f"acct-{account[-4:]}"),
                    resource=f"{key.service}-{account}-{region}",
                )
                charge |= {"RegionId": region, "RegionName": region, "ChargeDescription": usage}
                rows.append(charge)
    return write_rows(path, rows), causes


def whole_path(quick: bool, seed: int = RESULTS_SEED) -> tuple[list[Figure], list[str]]:
    """FOCUS files through `costbot ingest focus`, then `costbot run anomalies --date D
    --json` for each day of the window against the fake Slack (tests/fake_slack.py), scored
    per event like `score`: what was alerted, what was posted, where, how often."""
    settings = AnomalySettings()
    n = QUICK_WHOLE_SERIES if quick else WHOLE_SERIES
    window = QUICK_WHOLE_DAYS if quick else WHOLE_DAYS
    days = HISTORY_DAYS + window
    data = generate(n, seed + 1, settings, days=days, events_from=HISTORY_DAYS)
    work = OUT / "anomaly-whole-path"
    work.mkdir(parents=True, exist_ok=True)
    db, config = work / "costbot.db", work / "costbot.yml"
    for stale in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        stale.unlink(missing_ok=True)
    # Each team has its channel (at most one message a day each); untagged spend would go to
    # #finops.
    teams = sorted({k.team for k in data.series.keys if k.team})
    config.write_text(
        "teams:\n"
        + "".join(f'  - name: {team}\n    channel: "#{team}"\n' for team in teams)
        + 'anomalies:\n  channel: "#finops"\n'
    )
    focus, causes = write_focus(data, work / "focus.csv", seed)
    event_of = {event.row: event for event in data.events}
    cause_checks: list[bool] = []
    sys.path.insert(0, str(REPO / "tests"))
    from fake_slack import FakeSlack

    rows_of = {
        (k.team, k.service, _account(k) if k.account else None): r
        for r, k in enumerate(data.series.keys)
    }
    notes: list[str] = []
    with FakeSlack() as slack:
        env = dict(
            os.environ,
            COSTBOT_DB=str(db),
            COSTBOT_CONFIG=str(config),
            SLACK_BOT_TOKEN="xoxb-test",
            SLACK_API_URL=slack.url,
        )
        ingest = subprocess.run(
            [_costbot(), "ingest", "focus", str(focus)], env=env, capture_output=True, text=True
        )
        if ingest.returncode != 0:
            return [], [
                f"Whole path not run: `costbot ingest focus` failed: {ingest.stderr[-300:]}"
            ]
        posted_per_day: list[int] = []
        most_in_a_channel: list[int] = []
        unmatched = 0
        seconds: list[float] = []

        def finder(cut: SeriesSet, _settings: AnomalySettings) -> list[tuple[int, date]]:
            nonlocal unmatched
            before = len(slack.channel_messages())
            started = time.perf_counter()
            run = subprocess.run(
                [_costbot(), "run", "anomalies", "--date", cut.last_day.isoformat(), "--json"],
                env=env,
                capture_output=True,
                text=True,
            )
            seconds.append(time.perf_counter() - started)
            if run.returncode != 0:
                raise RuntimeError(run.stderr.strip()[-300:] or f"exit {run.returncode}")
            answer = json.loads(run.stdout)
            posted = slack.channel_messages()[before:]
            posted_per_day.append(len(posted))
            per_channel = Counter(message.channel for message in posted)
            most_in_a_channel.append(max(per_channel.values(), default=0))
            found = []
            for alert in answer.get("alerts", []):
                account = alert.get("account")
                row = rows_of.get((alert.get("team"), alert.get("service"), account))
                if row is None:
                    unmatched += 1
                    continue
                start = date.fromisoformat(alert["start"])
                found.append((row, start))
                right = _root_cause_right(alert, row, start, data, event_of, causes)
                if right is not None:
                    cause_checks.append(right)
            return found

        try:
            result = score(data, settings, finder, "whole path", eval_from=days - window)
        except RuntimeError as error:
            return [], [f"Whole path not run: `costbot run anomalies` failed: {error}"]
        channels = {m.channel for m in slack.channel_messages()}
    figures = [
        Figure(
            "whole path: precision",
            f"{result.precision:.3f} ({result.true_alerts}/{result.alerts})",
            goal=">= 0.90",
            passed=result.precision >= GOALS["precision"],
        ),
        *(
            Figure(
                f"whole path: recall, {kind}s",
                f"{result.recall(kind):.3f} ({result.detected.get(kind, 0)}/"
                f"{result.eligible.get(kind, 0)})",
            )
            for kind in ("spike", "shift", "drift", "new")
        ),
        Figure(
            "whole path: false alerts per 10,000 series-days",
            f"{result.false_per_10k:.2f} ({result.false_alerts} in {result.series_days:,})",
            goal="<= 1",
            passed=result.false_per_10k <= GOALS["false per 10k"],
        ),
        Figure(
            "whole path: top-1 root cause right",
            f"{_share_of(cause_checks):.3f} ({sum(cause_checks)}/{len(cause_checks)})",
            goal=">= 0.80",
            passed=bool(cause_checks) and _share_of(cause_checks) >= 0.80,
        ),
        Figure(
            "whole path: messages posted a day",
            f"max {max(posted_per_day, default=0)} (at most"
            f" {max(most_in_a_channel, default=0)} in one channel), total {sum(posted_per_day)}",
            goal="<= 1 per channel",
            passed=max(most_in_a_channel, default=0) <= 1,
        ),
        Figure("whole path: `costbot run anomalies` per day", secs(median(seconds))),
    ]
    notes.append(
        f"Whole path: {n} series as one FOCUS CSV ({days} days) through `costbot ingest focus`,"
        f" then `costbot run anomalies --date D --json` for each of the last {window} days"
        f" against the fake Slack; channels posted to: {', '.join(sorted(channels)) or 'none'};"
        f" alerts not matching a series: {unmatched}."
    )
    return figures, notes


def _share_of(checks: list[bool]) -> float:
    return sum(checks) / len(checks) if checks else 0.0


def _root_cause_right(
    alert: dict,
    row: int,
    start: date,
    data: Synthetic,
    event_of: dict[int, Event],
    causes: dict[int, tuple[str, str]],
) -> bool | None:
    """Whether the alert's first root cause names where its event's excess was put: region and
    usage type for a series; service, account, region and usage type for a team's total. None
    when the alert is not about an injected event (a false alert: no cause to name)."""
    series = data.series
    if not alert.get("root_cause"):
        return None
    top = alert["root_cause"][0]
    key = series.keys[row]
    candidates = [row] if not key.is_rollup else [r for r in event_of if series.team_row[r] == row]
    for candidate in candidates:
        event = event_of.get(candidate)
        if event is None or candidate not in causes:
            continue
        event_start = series.day_of(event.start)
        if not (event_start - timedelta(days=3) <= start <= series.day_of(event.end + 3)):
            continue
        region, usage = causes[candidate]
        named = (top.get("region"), top.get("sku"))
        if key.is_rollup:
            candidate_key = series.keys[candidate]
            named = (top.get("service"), top.get("account"), *named)
            region_usage = (candidate_key.service, _account(candidate_key), region, usage)
            return named == region_usage
        return named == (region, usage)
    return None


# --- the section --------------------------------------------------------------------------

GOALS = {
    "precision": 0.90,
    "recall spike": 0.95,
    "recall shift": 0.95,
    "recall drift": 0.85,
    "false per 10k": 1.0,
    "fee share": 0.005,
    "runtime": 5.0,
}


def _delay_text(values: list[int]) -> str:
    if not values:
        return "-"
    return f"median {median(values):.0f}, p90 {percentile(values, 90):.0f}"


def measure(
    quick: bool,
    seed: int = RESULTS_SEED,
    n_series: int | None = None,
    with_whole_path: bool = True,
) -> Section:
    settings = AnomalySettings()
    n = n_series or (QUICK_SERIES if quick else FULL_SERIES)
    data = generate(n, seed, settings)
    rows = data.series.cost.shape[0]
    log(f"{rows:,} series ({len(data.rollups)} roll-ups), {len(data.events)} events")
    ours = score(data, settings, detector_finder, "detector")
    log(f"detector replayed in {ours.seconds:.1f} s")
    base = score(data, settings, baseline_finder, "rolling mean / 3 sigma")
    runtime_series = 5_000 if quick else RUNTIME_SERIES
    seconds, found = runtime(settings, runtime_series, RUNTIME_DAYS, seed)
    log(f"runtime {seconds:.2f} s ({found} findings)")

    def ratio(a: float, b: float) -> float | None:
        return a / b if a and b else None

    section = Section(
        key="anomalies",
        title="9. Anomaly detection (labelled synthetic series)"
        if not quick
        else "9. Anomaly detection (quick)",
        setup=[
            f"Series from `bench/anomaly_bench.py` `generate` (seed {seed}): {n:,} service x"
            f" account series in teams of {TEAM_SIZE} plus each team's roll-up ({rows:,} rows),"
            f" {HISTORY_DAYS} days of history then {EVAL_DAYS} days replayed. Daily levels"
            " $5-$5,000 (log-uniform), noise 3-20% (lognormal), weekend dips up to 35%, trends"
            " -20% to +60% a year, month-start fees on 15% of series (1-10 days of spend),"
            " 10% sparse series (cost on 5-40% of days).",
            f"Injected in the replayed window, on a quarter of the series: {_counts(data)};"
            " sizes 3-30 times the noise on the log scale (the noise counted as at least the"
            " configured `noise_floor`), log-uniform, at most +900%. Recall counts the events"
            " at least"
            f" {ELIGIBLE_NOISE_MULTIPLE:.0f}x the noise and above the dollar floor and"
            " `min_increase_percent` (the smaller ones are still true when alerted).",
            "Scoring: each day D the detector sees the series cut at D (as `costbot run"
            " anomalies --date D`); a finding opens an alert unless it continues its series'"
            f" episode (same start, or a finding on it in the last {EPISODE_GAP} days). An"
            f" alert is true when it comes from an event's start to {MATCH_AFTER} days after"
            " its end (a drift or a shift: 28 more) on its series, or for a roll-up on one of"
            " the team's."
            " Delay: days from the event's first day to its first alert (0 = the day the"
            " spend lands).",
            "Baseline: a rolling mean / 3-sigma rule (the 28 days before, the same dollar"
            " floor), scored the same way in the same run. Default `anomalies:` settings.",
            f"Runtime: one `detect` over {runtime_series:,} series x {RUNTIME_DAYS} days"
            " (best of 3, one process).",
        ],
    )
    figures = section.figures
    figures.append(
        Figure(
            "precision (true alerts / alerts)",
            f"{ours.precision:.3f} ({ours.true_alerts}/{ours.alerts})",
            base.name,
            f"{base.precision:.3f} ({base.true_alerts}/{base.alerts})",
            ratio(ours.precision, base.precision),
            ">= 0.90",
            ours.precision >= GOALS["precision"],
        )
    )
    for kind in ("spike", "shift", "drift", "new"):
        goal = GOALS.get(f"recall {kind}")
        figures.append(
            Figure(
                f"recall, {kind}s",
                f"{ours.recall(kind):.3f} ({ours.detected.get(kind, 0)}/"
                f"{ours.eligible.get(kind, 0)})",
                base.name,
                f"{base.recall(kind):.3f}",
                ratio(ours.recall(kind), base.recall(kind)),
                f">= {goal:.2f}" if goal else "-",
                ours.recall(kind) >= goal if goal else None,
            )
        )
    for kind, (mid, p90) in {"spike": (0, 2), "shift": (0, 2), "drift": (10, None)}.items():
        delays = ours.delays.get(kind, [])
        passed = (
            bool(delays)
            and median(delays) <= mid
            and (p90 is None or percentile(delays, 90) <= p90)
        )
        figures.append(
            Figure(
                f"delay, {kind}s (days)",
                _delay_text(delays),
                base.name,
                _delay_text(base.delays.get(kind, [])),
                None,
                f"median <= {mid}" + (f", p90 <= {p90}" if p90 is not None else ""),
                passed,
            )
        )
    figures += [
        Figure(
            "false alerts per 10,000 series-days",
            f"{ours.false_per_10k:.2f} ({ours.false_alerts} in {ours.series_days:,})",
            base.name,
            f"{base.false_per_10k:.2f} ({base.false_alerts})",
            ratio(ours.false_per_10k, base.false_per_10k),
            "<= 1",
            ours.false_per_10k <= GOALS["false per 10k"],
        ),
        Figure(
            "true alerts repeating an event already alerted",
            f"{ours.repeats} of {ours.true_alerts}",
            base.name,
            f"{base.repeats} of {base.true_alerts}",
        ),
        Figure(
            "month-start fees flagged",
            f"{ours.fee_share:.2%} ({ours.fee_flagged}/{ours.fee_days} fee-months)",
            base.name,
            f"{base.fee_share:.2%} ({base.fee_flagged})",
            ratio(ours.fee_share, base.fee_share),
            "<= 0.5%",
            ours.fee_share <= GOALS["fee share"],
        ),
        Figure(
            f"daily scoring, {runtime_series:,} series x {RUNTIME_DAYS} days",
            secs(seconds),
            "-",
            "-",
            None,
            "< 5 s",
            seconds < GOALS["runtime"],
        ),
        Figure(
            f"replay of {EVAL_DAYS} days x {rows:,} series",
            secs(ours.seconds),
            base.name,
            secs(base.seconds),
            ratio(ours.seconds, base.seconds),
        ),
    ]
    if with_whole_path:
        extra, notes = whole_path(quick, seed)
        figures += extra
        section.notes += notes
    missed = [e for e in ours.missed]
    if missed:
        sizes = ", ".join(
            f"new spend ${e.increase:,.0f}/day"
            if e.kind == "new"
            else f"{e.kind} +{e.size:.0%} (+${e.increase:,.0f}/day, noise {data.noise[e.row]:.0%})"
            for e in missed[:8]
        )
        section.notes.append(
            f"Missed events ({len(missed)}): {sizes}{' ...' if len(missed) > 8 else ''}."
        )
    return section


def _counts(data: Synthetic) -> str:
    counts: dict[str, int] = {}
    eligible: dict[str, int] = {}
    for event in data.events:
        counts[event.kind] = counts.get(event.kind, 0) + 1
        eligible[event.kind] = eligible.get(event.kind, 0) + event.eligible
    return ", ".join(f"{counts[k]} {k}s ({eligible[k]} counted)" for k in sorted(counts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seed", type=int, default=RESULTS_SEED)
    parser.add_argument("--series", type=int)
    parser.add_argument(
        "--no-whole-path", action="store_true", help="the detector alone, not the CLI"
    )
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    measure(args.quick, args.seed, args.series, not args.no_whole_path).print()


if __name__ == "__main__":
    main()
