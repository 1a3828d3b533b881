"""The HTML preview: mrkdwn conversion, escaping, and a real browser loading every chart."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest
from browser import images_loaded

from bot.analytics.anomalies import Alert, Band, SeriesKey
from bot.render import blocks
from bot.render.anomalies import anomaly_message, with_chart_file
from bot.render.charts import anomaly_chart, daily_cost_chart, ranking_bar_chart
from bot.render.preview import PreviewMessage, block_to_html, mrkdwn_to_html, write_preview


def no_images(_element: object) -> None:
    return None


@pytest.mark.parametrize(
    ("mrkdwn", "expected"),
    [
        ("*bold* _italic_ ~strike~", "<b>bold</b> <i>italic</i> <s>strike</s>"),
        ("a*b*c snake_case_name 2*3*4", "a*b*c snake_case_name 2*3*4"),
        ("`x *not bold* <y>`", "<code>x *not bold* &lt;y&gt;</code>"),
        ("```\n1. a &amp; b\n2. *c*\n```", "<pre>1. a &amp; b\n2. *c*</pre>"),
        (
            "<https://x.test/?a=1&amp;b=2|Open &lt;it&gt;>",
            '<a href="https://x.test/?a=1&amp;b=2">Open &lt;it&gt;</a>',
        ),
        ("<https://x.test>", '<a href="https://x.test">https://x.test</a>'),
        ("<#C123|payments>", '<span class="mention">#payments</span>'),
        ("<#C123>", '<span class="mention">#C123</span>'),
        ("<@U123>", '<span class="mention">@U123</span>'),
        ("<!here>", '<span class="mention">@here</span>'),
        ("*see <https://x.test|docs>*", '<b>see <a href="https://x.test">docs</a></b>'),
        ("one\ntwo", "one<br>two"),
        ("• a\n• b", '<span class="bullet">• a</span><span class="bullet">• b</span>'),
        ("&gt; quoted", '<span class="quote">quoted</span>'),
        (":warning: :unknown_emoji:", "⚠️ :unknown_emoji:"),
    ],
)  # fmt: skip
def test_mrkdwn_to_html(mrkdwn: str, expected: str) -> None:
    assert mrkdwn_to_html(mrkdwn) == expected


@pytest.mark.parametrize(
    "hostile",
    [
        "<script>alert(1)</script>",
        "&lt;script&gt;alert(1)&lt;/script&gt;",
        "<javascript:alert(1)|click me>",
        '<https://x.test/" onmouseover="alert(1)|x>',
        "\ue0000\ue001 <img src=x onerror=alert(1)>",
    ],
)
def test_mrkdwn_to_html_never_emits_markup_from_text(hostile: str) -> None:
    rendered = mrkdwn_to_html(hostile)
    assert "<script" not in rendered
    assert "<img" not in rendered
    assert "javascript:" not in rendered or "href" not in rendered
    assert 'onmouseover="' not in rendered


def test_plain_text_blocks_are_escaped_and_not_formatted() -> None:
    rendered = block_to_html(blocks.header("R&D <team> *costs*"), no_images)
    assert rendered == '<div class="header">R&amp;D &lt;team&gt; *costs*</div>'


def test_section_fields_accessory_context_actions_and_divider() -> None:
    section = blocks.section(
        "*Total* $1.00",
        fields=["*Budget*\n$2.00", "*Forecast*\n$3.00"],
        accessory=blocks.button("Details", "details", "x"),
    )
    html = block_to_html(section, no_images)
    assert '<div class="fields"><div><b>Budget</b><br>$2.00</div>' in html
    assert '<div class="accessory"><span class="button">Details</span></div>' in html
    context = block_to_html(blocks.context(["Oct 1 – Oct 31", "_amortized_"]), no_images)
    assert context.startswith('<div class="context">') and "<i>amortized</i>" in context
    row = blocks.actions(
        [
            blocks.button("Acknowledge", "ack", "1", style="primary"),
            blocks.button("Mute 7 days", "mute", "1", style="danger"),
        ]
    )
    html = block_to_html(row, no_images)
    assert '<span class="button primary">Acknowledge</span>' in html
    assert '<span class="button danger">Mute 7 days</span>' in html
    assert block_to_html(blocks.divider(), no_images) == "<hr>"
    assert "unknown" in block_to_html({"type": "video"}, no_images)


def sample_messages() -> list[PreviewMessage]:
    days = [date(2026, 10, 1) + timedelta(days=offset) for offset in range(31)]
    amounts = [(1_000 + 40 * (offset % 7)) * 1_000_000 for offset in range(31)]
    daily = daily_cost_chart(days, amounts, "payments — October 2026", budget_daily_micros=10**9)
    ranking = ranking_bar_chart(["compute", "storage", "db"], [9 * 10**9, 4 * 10**9, 10**9], "Top")
    team_reply = blocks.message(
        "payments spent $32,240.00 in October 2026",
        [
            blocks.header("payments — October 2026 <script>"),
            blocks.section("*Total:* $32,240.00 (+$120.00 vs September)"),
            blocks.image("Daily cost of payments in October 2026", slack_file_id="F0DAILY"),
            blocks.context(["Amortized cost, Oct 1 – Oct 31 2026"]),
        ],
        response_type="ephemeral",
    )
    top_services = blocks.message(
        "Top services",
        [
            blocks.header("Top services"),
            blocks.section(
                blocks.ranked_table([("compute", 9 * 10**9, "+1%"), ("db", 10**9, "-2%")]),
                accessory=blocks.image_element("ranking", image_url="attachment://ranking.png"),
            ),
            blocks.image("Top services by cost", image_url="attachment://ranking.png"),
            blocks.actions([blocks.button("Claim", "claim", "i-123", style="primary")]),
        ],
    )
    return [
        PreviewMessage("/cost team payments", "reply in #payments", team_reply, {"F0DAILY": daily}),
        PreviewMessage("Weekly digest <b>", "Monday 09:00", top_services, {"ranking.png": ranking}),
    ]


def test_write_preview_writes_charts_and_a_self_contained_page(tmp_path: Path) -> None:
    index = write_preview(sample_messages(), tmp_path / "out")
    assert index == tmp_path / "out" / "index.html"
    page = index.read_text(encoding="utf-8")
    charts = sorted(path.name for path in (tmp_path / "out" / "charts").iterdir())
    assert charts == ["m01-F0DAILY.png", "m02-ranking.png"]
    assert 'src="charts/m01-F0DAILY.png" alt="Daily cost of payments in October 2026"' in page
    assert page.count('src="charts/m02-ranking.png"') == 2
    assert '<a href="#msg-1">/cost team payments</a>' in page  # table of contents
    assert "Weekly digest &lt;b&gt;" in page
    assert "October 2026 &lt;script&gt;" in page
    assert page.count("Only visible to you") == 1  # the ephemeral reply, not the digest
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page), "page must work offline"


def test_missing_image_is_shown_not_crashing(tmp_path: Path) -> None:
    payload = blocks.message("x", [blocks.image("lost chart", slack_file_id="F404")])
    page = write_preview([PreviewMessage("t", "d", payload)], tmp_path).read_text()
    assert "image not available: lost chart" in page


@pytest.mark.slow
def test_every_chart_loads_in_a_headless_browser(tmp_path: Path) -> None:
    index = write_preview(sample_messages(), tmp_path / "out")
    loaded, total = images_loaded(index, tmp_path / "profile")
    assert total == 3  # the daily chart, the ranking chart and its accessory thumbnail
    assert loaded == total


def anomaly_alert_payload() -> tuple[dict, bytes]:
    """An anomaly alert as the job renders it, with its chart shown as a preview file."""
    first = date(2026, 1, 4)
    expected = np.full(60, 120.0)
    actual = expected.copy()
    actual[-2:] = 480.0
    flagged = np.zeros(60, dtype=bool)
    flagged[-2:] = True
    band = Band(first, actual, expected, expected * 0.9, expected * 1.1, flagged)
    alert = Alert(
        key=SeriesKey("payments", "Amazon EC2", "111122223333", "USD"),
        kind="spike",
        start=first + timedelta(days=58),
        day=first + timedelta(days=59),
        expected_micros=120_000_000,
        actual_micros=480_000_000,
        channel="#team-payments",
        episode_id=4,
        band=band,
    )
    chart = anomaly_chart(alert)
    message = anomaly_message([alert], alert.day, team_label="payments")
    return with_chart_file(message, chart, "anomaly.png"), chart.png


def test_an_anomaly_alert_shows_its_buttons_and_the_person_picker() -> None:
    payload, _ = anomaly_alert_payload()
    (row,) = [b for b in payload["blocks"] if b["type"] == "actions"]
    html = block_to_html(row, no_images)
    assert html == (
        '<div class="actions"><span class="button primary">Acknowledge</span>'
        '<span class="button" title="Asks first: Adopt as normal?">Expected (adopt as normal)'
        '</span><span class="button">Mute 7 days</span>'
        '<span class="button select" data-type="users_select"><span class="icon">👤</span> '
        "Assign to… ▾</span></div>"
    )
    # Once someone is picked, the picker shows them.
    picked = {**row["elements"][3], "initial_user": "U0BOB"}
    assert '<span class="mention">@U0BOB</span> ▾' in block_to_html(
        blocks.actions([picked]), no_images
    )
    # Other menus keep their placeholder or current option, and unknown ones their type.
    option = {
        "type": "static_select",
        "initial_option": {"text": {"type": "plain_text", "text": "Weekly"}},
    }
    assert "Weekly ▾" in block_to_html(blocks.actions([option]), no_images)
    assert "overflow ▾" in block_to_html(blocks.actions([{"type": "overflow"}]), no_images)


def test_an_anomaly_alert_previews_with_its_chart_and_status_line(tmp_path: Path) -> None:
    payload, png = anomaly_alert_payload()
    page = write_preview(
        [PreviewMessage("Anomaly alert", "#team-payments", payload, {"anomaly.png": png})],
        tmp_path,
    ).read_text(encoding="utf-8")
    assert '<img class="chart" src="charts/m01-anomaly.png" alt="Bar chart of daily cost' in page
    assert (
        "<figcaption>payments · Amazon EC2 · account 111122223333: daily cost vs expected" in page
    )
    assert "Expected $120.00/day, got $480.00/day (+300%, +$360.00/day)" in page
    assert "Open: nobody has acted on it yet." in page
    assert "image not available" not in page
