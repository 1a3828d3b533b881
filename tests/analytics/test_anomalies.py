"""The anomaly detector on constructed series: what it finds (spikes on their day, shifts once,
new spend, drifts), what it leaves alone (noise, month-start fees, sparse charges, raised
levels adopted as normal), its three gates each on their own, one alert per event between a
team's roll-up and its series, and no look into the future (a run cut at D is the run of D)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import numpy as np
import pytest

from bot.analytics.anomalies import SeriesKey, SeriesSet, detect, expected_band
from bot.config import AnomalySettings

FIRST = date(2026, 1, 1)
DAYS = 200
SETTINGS = AnomalySettings()


def noisy(level: float, noise: float, seed: int, days: int = DAYS, weekend: float = 0.2):
    """A daily series: `level` dollars on weekdays, `weekend` less on weekends, multiplicative
    lognormal noise."""
    rng = np.random.default_rng(seed)
    weekday = np.array([(FIRST + timedelta(days=d)).weekday() for d in range(days)])
    season = np.where(weekday >= 5, 1 - weekend, 1.0)
    return np.round(level * season * rng.lognormal(0, noise, days), 2)


def team(*series: np.ndarray, name: str = "payments") -> SeriesSet:
    """The series of one team (service-i / account) and, last, the team's roll-up."""
    cost = np.vstack([*series, np.sum(series, axis=0)])
    keys = [SeriesKey(name, f"service-{i}", "111111111111", "USD") for i in range(len(series))]
    keys.append(SeriesKey(name, None, None, "USD"))
    return SeriesSet(keys, FIRST, cost, np.full(len(keys), len(series), dtype=np.int64))


def cut(series: SeriesSet, day: int) -> SeriesSet:
    """The series as a run with `--date` on column `day` sees them."""
    return SeriesSet(series.keys, series.first_day, series.cost[:, : day + 1], series.team_row)


def findings_on(series: SeriesSet, day: int, settings=SETTINGS, **kwargs):
    return detect(cut(series, day), settings, **kwargs)


def of_row(findings, row):
    return [f for f in findings if f.row == row]


def test_a_spike_is_found_on_its_day_with_its_start_and_amounts():
    cost = noisy(1000, 0.05, seed=1)
    day = 150
    cost[day] = 3000.00
    series = team(cost, noisy(500, 0.05, seed=2))

    found = of_row(findings_on(series, day), 0)

    assert len(found) == 1
    finding = found[0]
    assert finding.kind == "spike"
    assert finding.start == FIRST + timedelta(days=day)
    assert finding.actual_per_day == pytest.approx(3000.00)
    weekday_level = 1000 if (FIRST + timedelta(days=day)).weekday() < 5 else 800
    assert finding.expected_per_day == pytest.approx(weekday_level, rel=0.1)
    assert finding.score >= SETTINGS.min_score
    # The roll-up rose by the same dollars, but its series explains it: one alert, not two.
    assert of_row(findings_on(series, day), 2) == []


def test_a_level_shift_is_alerted_once_then_is_the_new_normal():
    cost = noisy(1000, 0.05, seed=3)
    start = 140
    cost[start:] *= 2
    series = team(cost, noisy(500, 0.05, seed=4))
    shift_day = FIRST + timedelta(days=start)

    by_day = {day: of_row(findings_on(series, day), 0) for day in range(start - 5, start + 20)}

    assert all(by_day[day] == [] for day in range(start - 5, start))
    alerted = range(start, start + SETTINGS.shift_days)
    assert all(len(by_day[day]) == 1 for day in alerted)
    assert {f.start for day in alerted for f in by_day[day]} == {shift_day}  # one episode
    assert by_day[start][0].kind == "spike"  # on its first day a shift is a spike
    assert by_day[start + 3][0].kind == "shift"
    assert by_day[start + 3][0].actual_per_day == pytest.approx(cost[start : start + 4].mean())
    # After shift_days days the new level is normal: no more findings.
    assert all(by_day[day] == [] for day in range(start + SETTINGS.shift_days, start + 20))


def test_expected_adopts_a_level_at_once_and_a_larger_rise_later_is_new():
    cost = noisy(1000, 0.05, seed=5)
    start = 140
    cost[start:] *= 2
    cost[start + 10 :] *= 3
    series = team(cost, noisy(500, 0.05, seed=6))
    adopted = {0: FIRST + timedelta(days=start)}

    quiet = [of_row(findings_on(series, day, adopted_from=adopted), 0) for day in range(141, 150)]
    later = of_row(findings_on(series, start + 10, adopted_from=adopted), 0)

    assert quiet == [[]] * 9
    assert len(later) == 1
    assert later[0].start == FIRST + timedelta(days=start + 10)
    weekend = (FIRST + timedelta(days=start + 10)).weekday() >= 5
    assert later[0].expected_per_day == pytest.approx(2000 * (0.8 if weekend else 1), rel=0.15)


def test_month_start_fees_are_expected_when_past_months_had_them():
    cost = noisy(1000, 0.08, seed=7)
    month_starts = [d for d in range(DAYS) if (FIRST + timedelta(days=d)).day == 1]
    for day in month_starts[1:]:  # from February on: a support fee on the 1st
        cost[day] += 5000 * (1 + 0.02 * (day % 3))
    series = team(cost, noisy(500, 0.05, seed=8))

    first_fee = of_row(findings_on(series, month_starts[1]), 0)
    later = [of_row(findings_on(series, day), 0) for day in month_starts[3:]]

    assert [f.kind for f in first_fee] == ["spike"]  # no month had one before: unusual
    assert later == [[]] * len(month_starts[3:])
    # Nor does the team's roll-up alert on them.
    assert all(of_row(findings_on(series, day), 2) == [] for day in month_starts[3:])


def test_a_sparse_series_does_not_fire_on_its_charges():
    rng = np.random.default_rng(9)
    charges = rng.random(DAYS) < 0.15
    cost = np.where(charges, np.round(400 * rng.lognormal(0, 0.3, DAYS), 2), 0.0)
    series = team(cost, noisy(5000, 0.05, seed=10))

    found = [of_row(findings_on(series, day), 0) for day in range(100, DAYS)]

    assert sum(len(f) for f in found) == 0
    # ... but a charge far above any it had is found.
    spiky = cost.copy()
    spiky[180] = 20 * cost[:180].max()
    assert [f.kind for f in of_row(findings_on(team(spiky), 180), 0)] == ["spike"]


def test_brand_new_spend_is_new():
    cost = np.zeros(DAYS)
    cost[170:] = noisy(300, 0.05, seed=11)[170:]
    series = team(cost, noisy(2000, 0.05, seed=12))

    found = of_row(findings_on(series, 170), 0)

    assert [(f.kind, f.start, f.expected_per_day) for f in found] == [
        ("new", FIRST + timedelta(days=170), 0.0)
    ]
    # New spend under the dollar floor is not.
    small = np.where(cost > 0, 10.0, 0.0)
    assert of_row(findings_on(team(small, noisy(2000, 0.05, seed=12)), 170), 0) == []


def test_a_slow_drift_is_found_as_a_drift():
    days = np.arange(DAYS)
    ramp_start, ramp_days = 120, 35
    rise = np.clip((days - ramp_start) / ramp_days, 0, 1)
    cost = np.round(noisy(1000, 0.05, seed=13) * (1 + 1.0 * rise), 2)
    series = team(cost, noisy(500, 0.05, seed=14))

    first = {}
    for day in range(ramp_start, DAYS):
        for finding in of_row(findings_on(series, day), 0):
            first.setdefault(finding.kind, (day, finding))

    assert "drift" in first
    day, drift = first["drift"]
    assert day <= ramp_start + ramp_days + 14
    assert abs((drift.start - (FIRST + timedelta(days=ramp_start))).days) <= 14
    assert drift.actual_per_day > drift.expected_per_day * 1.2


def test_noise_alone_is_quiet():
    rng = np.random.default_rng(15)
    rows = []
    for i in range(2000):
        level = float(np.exp(rng.uniform(np.log(30), np.log(5000))))
        trend = np.exp(np.log1p(rng.uniform(-0.2, 0.5)) * np.arange(DAYS) / 365)
        rows.append(noisy(level, rng.uniform(0.03, 0.20), seed=100 + i, weekend=0.3) * trend)
    cost = np.vstack(rows)
    keys = [SeriesKey(f"team-{i // 20}", f"s{i}", "1", "USD") for i in range(len(rows))]
    series = SeriesSet(keys, FIRST, cost, np.arange(len(rows), dtype=np.int64))

    found = [f for day in range(DAYS - 10, DAYS) for f in detect(cut(series, day), SETTINGS)]

    assert found == []  # 20,000 series-days


@pytest.mark.parametrize(
    "change",
    [
        {"min_score": 50.0},
        {"min_increase_per_day_micros": 2_000_000_000},  # $2,000 a day
        {"min_increase_percent": 150.0},
        {"team_floor_share": 0.5},  # half of the team's ~$11,000 day
    ],
)
def test_each_gate_alone_blocks_an_alert(change):
    cost = noisy(1000, 0.05, seed=16, weekend=0.0)
    cost[150] = 2000.00  # +100%, +$1,000, ~20 noise scales
    series = team(cost, noisy(10000, 0.05, seed=17, weekend=0.0))

    assert len(of_row(findings_on(series, 150), 0)) == 1
    assert of_row(findings_on(series, 150, replace(SETTINGS, **change)), 0) == []


def test_a_rise_spread_over_a_teams_series_is_alerted_on_its_roll_up():
    # Each series rises by $20 a day (under the $25 floor), the team by $80: the roll-up
    # alerts, and names the team.
    series = [noisy(60, 0.03, seed=20 + i, weekend=0.0) for i in range(4)]
    for cost in series:
        cost[150:] += 20.0
    rolled = team(*series)

    found = findings_on(rolled, 150)

    assert [(f.row, f.kind) for f in found] == [(4, "spike")]
    assert rolled.keys[found[0].row].is_rollup


def test_a_run_cut_at_a_day_sees_nothing_after_it():
    cost = noisy(1000, 0.05, seed=21)
    cost[150] = 4000.0
    series = team(cost, noisy(500, 0.05, seed=22))
    later = series.cost.copy()
    later[:, 151:] = 50_000.0  # whatever comes after cannot change the run of day 150

    live = findings_on(series, 150)
    replayed = detect(cut(SeriesSet(series.keys, FIRST, later, series.team_row), 150), SETTINGS)

    assert replayed == live and len(live) == 1


def test_the_band_is_what_the_detector_judged_each_day():
    cost = noisy(1000, 0.05, seed=23)
    cost[190] = 4000.0

    band = expected_band(cost, FIRST, SETTINGS, days=60)

    assert band.first_day == FIRST + timedelta(days=DAYS - 60)
    assert len(band.actual) == len(band.expected) == len(band.low) == len(band.high) == 60
    assert np.all(band.low < band.expected) and np.all(band.expected < band.high)
    marked = [int(day) + DAYS - 60 for day in np.flatnonzero(band.anomalous)]
    assert marked[0] == 190 and marked[-1] <= 192  # the spike (and the event's tail, if any)
    assert band.actual[-10] == 4000.0 and band.high[-10] < 4000.0


def test_the_band_rises_to_the_series_own_dollar_floor():
    """A big team's floor (its share of the team's spend) is above the configured minimum:
    the chart's band shows the threshold the alert was judged against."""
    cost = noisy(1000, 0.05, seed=23)

    default = expected_band(cost, FIRST, SETTINGS, days=60)
    teams = expected_band(cost, FIRST, SETTINGS, days=60, floor=800.0)

    assert np.all(teams.high >= teams.expected + 800.0)
    assert np.all(teams.high >= default.high)
    assert np.array_equal(teams.expected, default.expected)


def test_a_store_whose_data_began_two_weeks_ago_alerts_nothing_in_a_long_window():
    """The job reads a fixed window, mostly empty before the first ingested day: the first
    days are judged by how long the data has run, not by their column."""
    short = team(noisy(1000, 0.05, seed=24, days=30), noisy(500, 0.05, seed=25, days=30))
    padded = SeriesSet(
        short.keys,
        FIRST - timedelta(days=370),
        np.hstack([np.zeros((len(short.keys), 370)), short.cost]),
        short.team_row,
    )
    first_data = 370
    assert [findings_on(padded, first_data + day) for day in range(14)] == [[]] * 14


def test_the_first_two_weeks_of_data_alert_nothing():
    # A store just filled: every series would be "new" spend on its first days.
    series = team(noisy(1000, 0.05, seed=24, days=30), noisy(500, 0.05, seed=25, days=30))

    assert [findings_on(series, day) for day in range(14)] == [[]] * 14


def test_a_charge_after_months_of_quiet_is_not_new_spend():
    cost = np.zeros(DAYS)
    cost[[10, 40, 75]] = 900.0  # a quarterly-ish charge, then nothing for over 8 weeks
    cost[190] = 950.0
    series = team(cost, noisy(3000, 0.05, seed=26))

    assert of_row(findings_on(series, 190), 0) == []
