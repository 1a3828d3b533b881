"""The anomaly chart: read back from the figure's artists (the daily bars with the anomalous
days in red, the expected line, the shaded band, the last 60 days on a date axis from $0), and
rendered to the same 1200x500 PNG as every other chart, with alt text in words."""

from __future__ import annotations

import struct
from datetime import date, timedelta

import numpy as np
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.colors import to_hex
from matplotlib.dates import num2date

from bot.analytics.anomalies import Alert, Band, SeriesKey
from bot.render.charts import (
    ANOMALY_COLOR,
    COST_COLOR,
    NO_COST_TEXT,
    anomaly_chart,
    anomaly_figure,
    to_png,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
EXPECTED_SIZE = (1200, 500)  # as every chart (tests/render/test_charts.py)
FIRST = date(2026, 1, 4)
KEY = SeriesKey("payments", "Amazon EC2", "111122223333", "USD")


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, which the PNG format requires to come first."""
    assert png[:8] == PNG_SIGNATURE, "not a PNG"
    length, chunk_type = struct.unpack(">I4s", png[8:16])
    assert chunk_type == b"IHDR" and length == 13
    return struct.unpack(">II", png[16:24])


def weekly_band(days: int = 90, first: date = FIRST, spike_days: int = 3) -> Band:
    calendar = [first + timedelta(days=offset) for offset in range(days)]
    expected = np.array([120.0 if day.weekday() < 5 else 80.0 for day in calendar])
    actual = expected * (1 + 0.04 * np.sin(np.arange(days)))
    anomalous = np.zeros(days, dtype=bool)
    if spike_days:
        actual[-spike_days:] = 480.0
        anomalous[-spike_days:] = True
    return Band(first, actual, expected, expected * 0.85, expected * 1.15, anomalous)


def spike(band: Band | None, key: SeriesKey = KEY, **fields) -> Alert:
    last = band.first_day + timedelta(days=len(band.actual) - 1) if band else date(2026, 4, 3)
    return Alert(
        key=key,
        kind="spike",
        start=fields.pop("start", last - timedelta(days=2)),
        day=last,
        expected_micros=120_000_000,
        actual_micros=480_004_999,
        channel="#team-payments",
        episode_id=1,
        band=band,
        **fields,
    )


def bars(axes) -> tuple[list[float], list[str]]:
    """Each daily bar's height and colour, left to right."""
    collection = next(
        c
        for c in axes.collections
        if isinstance(c, PolyCollection) and c.get_label() != "Usual range"
    )
    heights = [max(y for _, y in path.vertices) for path in collection.get_paths()]
    return heights, [to_hex(color) for color in collection.get_facecolors()]


def line_days(line) -> list[date]:
    return [num2date(x).date() for x in line.get_xdata()]


def test_the_last_60_days_with_the_anomalous_days_in_red():
    band = weekly_band(90)
    axes = anomaly_figure(band, "payments").axes[0]
    heights, colors = bars(axes)
    assert heights == pytest.approx(list(band.actual[-60:]))
    assert colors[-3:] == [ANOMALY_COLOR] * 3
    assert colors[:-3] == [COST_COLOR] * 57
    (expected,) = [line for line in axes.get_lines() if line.get_label() == "Expected"]
    assert list(expected.get_ydata()) == pytest.approx(list(band.expected[-60:]))
    shown = line_days(expected)
    assert shown[0] == FIRST + timedelta(days=30) and shown[-1] == FIRST + timedelta(days=89)
    assert axes.get_ylim()[0] == 0 and axes.get_ylim()[1] >= 480
    legend = [text.get_text() for text in axes.get_legend().get_texts()]
    assert legend == ["Daily cost", "Anomalous days", "Usual range", "Expected"]


def test_the_band_is_shaded_between_low_and_high():
    band = weekly_band(60)
    axes = anomaly_figure(band, "payments").axes[0]
    (shaded,) = [c for c in axes.collections if c.get_label() == "Usual range"]
    ys = [y for path in shaded.get_paths() for _, y in path.vertices]
    assert min(ys) == pytest.approx(min(band.low)) and max(ys) == pytest.approx(max(band.high))


def test_a_short_new_series_and_days_without_an_expectation_still_draw():
    band = weekly_band(10)
    expected = band.expected.copy()
    expected[:4] = np.nan  # no baseline yet
    band = Band(
        band.first_day, band.actual, expected, expected * 0.8, expected * 1.2, band.anomalous
    )
    figure = anomaly_figure(band, "new")
    heights, _ = bars(figure.axes[0])
    assert len(heights) == 10
    assert png_size(to_png(figure)) == EXPECTED_SIZE


def test_a_series_without_cost_says_so():
    band = Band(FIRST, np.zeros(60), np.zeros(60), np.zeros(60), np.zeros(60), np.zeros(60, bool))
    axes = anomaly_figure(band, "nothing").axes[0]
    assert [text.get_text() for text in axes.texts] == [NO_COST_TEXT]


def test_the_chart_is_a_1200x500_png_with_title_and_alt_text_in_words():
    alert = spike(weekly_band(90), account_name="prod-payments")
    chart = anomaly_chart(alert)
    assert png_size(chart.png) == EXPECTED_SIZE
    assert chart.png == anomaly_chart(alert).png  # the same input, the same bytes
    assert chart.title == (
        "payments · Amazon EC2 · account prod-payments (111122223333): daily cost vs expected, "
        "Feb 3 – Apr 3, 2026"
    )
    assert chart.alt_text == (
        "Bar chart of daily cost for payments · Amazon EC2 · account prod-payments "
        "(111122223333), Feb 3 – Apr 3, 2026, with the expected level as a line and its usual "
        "range shaded: expected $120.00/day, actual $480.00/day since Apr 1, 2026 "
        "(+$360.00/day, +300%); 3 anomalous days in red: Apr 1, Apr 2, Apr 3."
    )
    assert chart.filename.startswith("anomaly-payments") and chart.filename.endswith(
        "-2026-04-03.png"
    )


def test_the_alt_text_lists_a_few_anomalous_days_then_counts_the_rest():
    band = weekly_band(60, spike_days=8)
    alert = spike(band, SeriesKey(None, None, None, "EUR"))
    chart = anomaly_chart(alert)
    assert "Untagged spend · all services" in chart.alt_text
    assert "expected EUR 120.00/day" in chart.alt_text
    assert "8 anomalous days in red: Feb 25, Feb 26, Feb 27, Feb 28, Mar 1 and 3 more." in (
        chart.alt_text
    )
    assert chart.title.endswith(": daily cost vs expected (EUR), Jan 4 – Mar 4, 2026")


def test_dollar_signs_and_long_names_stay_in_the_title_line():
    key = SeriesKey("$team$ " + "x" * 300, "$5 service", "1", "USD")
    alert = spike(weekly_band(60), key)
    chart = anomaly_chart(alert)
    assert png_size(chart.png) == EXPECTED_SIZE
    figure = anomaly_figure(alert.band, "$team$ costs $5")
    assert figure.axes[0].get_title(loc="left") == r"\$team\$ costs \$5"


def test_an_alert_without_a_band_cannot_be_charted():
    with pytest.raises(ValueError, match="no band"):
        anomaly_chart(spike(None))


def test_names_from_data_never_reach_slack_raw_in_the_title_or_alt_text():
    key = SeriesKey("<!channel> R&D", "<https://evil.test|click>", "1", "USD")
    chart = anomaly_chart(spike(weekly_band(60), key))
    for text in (chart.title, chart.alt_text):
        assert "<" not in text and ">" not in text
    assert chart.title.startswith("‹!channel› R&D · ‹https://evil.test|click› · account 1: ")
