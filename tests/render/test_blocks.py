"""Block Kit builders keep Slack's limits for any data size, and escape what users control."""

from __future__ import annotations

from typing import Any

import pytest

from bot.render import blocks
from bot.render.blocks import (
    actions,
    bulleted_list,
    button,
    context,
    divider,
    escape_mrkdwn,
    header,
    image,
    image_element,
    message,
    mrkdwn_link,
    ranked_table,
    section,
    truncate,
)

SIZES = [0, 1, 10_000]
HUGE_NAME = "n" * 10_000


def assert_within_slack_limits(payload: dict[str, Any]) -> None:
    """Every limit the builders promise, checked on a finished message payload."""
    assert payload["text"].strip()
    assert len(payload["text"]) <= blocks.MESSAGE_TEXT_MAX
    assert len(payload["blocks"]) <= blocks.MESSAGE_BLOCKS_MAX
    for block in payload["blocks"]:
        kind = block["type"]
        if kind == "header":
            assert 0 < len(block["text"]["text"]) <= blocks.HEADER_TEXT_MAX
        elif kind == "section":
            if "text" in block:
                assert 0 < len(block["text"]["text"]) <= blocks.SECTION_TEXT_MAX
            fields = block.get("fields", [])
            assert len(fields) <= blocks.SECTION_FIELDS_MAX
            assert all(0 < len(f["text"]) <= blocks.FIELD_TEXT_MAX for f in fields)
        elif kind == "context":
            assert 0 < len(block["elements"]) <= blocks.CONTEXT_ELEMENTS_MAX
        elif kind == "image":
            assert 0 < len(block["alt_text"]) <= blocks.IMAGE_ALT_TEXT_MAX
        elif kind == "actions":
            assert 0 < len(block["elements"]) <= blocks.ACTIONS_ELEMENTS_MAX
            assert all(len(b["text"]["text"]) <= blocks.BUTTON_TEXT_MAX for b in block["elements"])


@pytest.mark.parametrize("count", SIZES)
def test_bulleted_list_fits_one_section_for_any_number_of_lines(count: int) -> None:
    text = bulleted_list([f"team-{i} spent $1,234.56" for i in range(count)])
    assert 0 < len(text) <= blocks.SECTION_TEXT_MAX
    if count == 10_000:
        shown = text.count("\n• ") + 1
        assert text.endswith(f"_…and {count - shown:,} more_")
    elif count == 0:
        assert text == blocks.EMPTY_LIST_TEXT


@pytest.mark.parametrize("count", SIZES)
def test_bulleted_list_fits_with_10000_character_lines(count: int) -> None:
    text = bulleted_list([HUGE_NAME] * count)
    assert 0 < len(text) <= blocks.SECTION_TEXT_MAX
    if count:
        assert text.startswith("• nnn")
    if count > 1:
        assert text.endswith(f"_…and {count - 1:,} more_")


def test_bulleted_list_keeps_everything_that_fits_and_honours_max_items() -> None:
    assert bulleted_list(["a", "b"]) == "• a\n• b"
    assert bulleted_list(["a", "b", "c"], max_items=2) == "• a\n• b\n_…and 1 more_"


def test_bulleted_list_respects_a_small_max_chars() -> None:
    text = bulleted_list([f"line {i}" for i in range(100)], max_chars=200)
    assert len(text) <= 200
    assert text.endswith("more_")


def test_bulleted_list_escapes_and_keeps_one_item_per_line() -> None:
    text = bulleted_list(["<!channel> & <b>", "two\nlines"])
    assert text == "• &lt;!channel&gt; &amp; &lt;b&gt;\n• two lines"


def test_escape_mrkdwn_and_links() -> None:
    assert escape_mrkdwn("a & <b> c") == "a &amp; &lt;b&gt; c"
    assert mrkdwn_link("https://x.test/?a=1&b=2", "R&D <team>") == (
        "<https://x.test/?a=1&amp;b=2|R&amp;D &lt;team&gt;>"
    )


def test_truncate_never_splits_an_entity_or_a_link() -> None:
    assert truncate("abc", 3) == "abc"
    assert truncate("abcdef", 4) == "abc…"
    assert truncate("ab &amp; cd", 6) == "ab …"
    assert truncate("see <https://example.com|the docs> now", 20) == "see …"
    # Plain text has no entities: an early "&" must not swallow the rest.
    assert truncate("R&D " + "x" * 200, 150, mrkdwn=False).startswith("R&D xxx")


@pytest.mark.parametrize("count", SIZES)
def test_ranked_table_fits_one_section(count: int) -> None:
    rows = [(f"service-{i}", i * 1_000_000, "+$1.00 (+4.5%)") for i in range(count)]
    text = ranked_table(rows)
    assert 0 < len(text) <= blocks.SECTION_TEXT_MAX
    message_payload = message("Top services", [section(text)])
    assert_within_slack_limits(message_payload)


def test_ranked_table_aligns_columns_formats_amounts_and_escapes_names() -> None:
    text = ranked_table(
        [("payments", 1_234_560_000, "+$120.00 (+4.5%)"), ("<search> & co", 5_000_000, "new")]
    )
    lines = text.split("\n")
    assert lines[0] == lines[-1] == "```"
    assert lines[1] == "1. payments       $1,234.56  +$120.00 (+4.5%)"
    assert lines[2] == "2. &lt;search&gt; &amp; co      $5.00  new"


def test_ranked_table_shortens_huge_names_and_cuts_long_lists() -> None:
    rows = [(HUGE_NAME, 10**12, "+$1.00")] * 10_000
    text = ranked_table(rows, name_width=20)
    assert "n" * 19 + "…" in text
    assert "n" * 21 not in text
    assert len(text) <= blocks.SECTION_TEXT_MAX
    assert text.endswith("more_")
    assert text.count("```") == 2


def test_header_is_cut_to_150_characters_with_an_ellipsis() -> None:
    block = header(HUGE_NAME)
    assert len(block["text"]["text"]) == 150
    assert block["text"]["text"].endswith("…")
    assert block["text"]["type"] == "plain_text"


@pytest.mark.parametrize("count", [1, 10, 11, 10_000])
def test_section_fields_and_context_elements_are_capped(count: int) -> None:
    block = section(fields=[HUGE_NAME] * count)
    assert len(block["fields"]) == min(count, 10)
    assert all(len(field["text"]) <= blocks.FIELD_TEXT_MAX for field in block["fields"])
    if count > 10:
        assert block["fields"][-1]["text"] == f"_…and {count - 9:,} more_"
    ctx = context([HUGE_NAME] * count)
    assert len(ctx["elements"]) == min(count, 10)
    assert all(len(e["text"]) <= blocks.CONTEXT_TEXT_MAX for e in ctx["elements"])


def test_section_text_is_cut_and_accessory_kept() -> None:
    accessory = button("Open", "open_report", "r1")
    block = section(HUGE_NAME, accessory=accessory, block_id="summary")
    assert len(block["text"]["text"]) == blocks.SECTION_TEXT_MAX
    assert block["accessory"] == accessory
    assert block["block_id"] == "summary"
    with pytest.raises(ValueError):
        section()


def test_images_always_have_alt_text_in_both_source_forms() -> None:
    by_url = image("Daily cost for payments", image_url="https://x.test/c.png", title="Daily")
    assert by_url["image_url"] == "https://x.test/c.png"
    assert by_url["alt_text"] == "Daily cost for payments"
    assert by_url["title"]["text"] == "Daily"
    by_file = image(HUGE_NAME, slack_file_id="F0123")
    assert by_file["slack_file"] == {"id": "F0123"}
    assert len(by_file["alt_text"]) == blocks.IMAGE_ALT_TEXT_MAX
    assert "title" not in by_file
    assert image_element("logo", slack_file_id="F1")["type"] == "image"
    with pytest.raises(ValueError, match="alt text"):
        image("", image_url="https://x.test/c.png")
    with pytest.raises(ValueError, match="exactly one"):
        image("chart", image_url="https://x.test/c.png", slack_file_id="F1")
    with pytest.raises(ValueError, match="exactly one"):
        image("chart")


def test_buttons_and_actions() -> None:
    ack = button(HUGE_NAME, "anomaly_ack", "anomaly:42", style="primary")
    assert len(ack["text"]["text"]) == blocks.BUTTON_TEXT_MAX
    assert ack["action_id"] == "anomaly_ack"
    assert ack["value"] == "anomaly:42"
    assert ack["style"] == "primary"
    assert "style" not in button("Mute 7 days", "anomaly_mute")
    with pytest.raises(ValueError, match="style"):
        button("Go", "go", style="green")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="action_id"):
        button("Go", "")
    row = actions([button(f"b{i}", f"a{i}") for i in range(40)], block_id="row")
    assert len(row["elements"]) == blocks.ACTIONS_ELEMENTS_MAX
    assert divider() == {"type": "divider"}


@pytest.mark.parametrize("count", SIZES)
def test_message_caps_blocks_and_always_has_fallback_text(count: int) -> None:
    many = [section(f"block {i}") for i in range(count)]
    payload = message("Cost for payments", many, response_type="in_channel")
    assert_within_slack_limits(payload)
    assert payload["response_type"] == "in_channel"
    if count > blocks.MESSAGE_BLOCKS_MAX:
        assert payload["blocks"][48] == many[48]
        assert payload["blocks"][-1]["type"] == "context"
        assert payload["blocks"][-1]["elements"][0]["text"] == f"_…and {count - 49:,} more_"
    else:
        assert payload["blocks"] == many


def test_message_with_exactly_50_blocks_keeps_them_all() -> None:
    fifty = [divider()] * 50
    assert message("x", fifty)["blocks"] == fifty


def test_message_fallback_text_is_never_empty_and_never_too_long() -> None:
    assert message("", [header("Weekly digest")])["text"] == "Weekly digest"
    # A plain_text header standing in for the mrkdwn fallback gets its entities.
    assert message("", [header("R&D <!channel>")])["text"] == "R&amp;D &lt;!channel&gt;"
    assert message("  ", [])["text"] == "Costbot"
    assert len(message(HUGE_NAME, [])["text"]) == blocks.MESSAGE_TEXT_MAX
    assert "response_type" not in message("x", [])
    with pytest.raises(ValueError):
        message("x", [], response_type="public")  # type: ignore[arg-type]


def test_a_full_message_built_from_huge_data_stays_valid() -> None:
    rows = [(HUGE_NAME, 10**9, "+$1.00")] * 10_000
    payload = message(
        HUGE_NAME,
        [
            header(HUGE_NAME),
            section(ranked_table(rows), fields=[HUGE_NAME] * 20),
            image(HUGE_NAME, slack_file_id="F1"),
            context([HUGE_NAME] * 30),
            actions([button(HUGE_NAME, "claim", HUGE_NAME[:2000], style="danger")] * 30),
            *[section(bulleted_list([HUGE_NAME] * 100))] * 100,
        ],
    )
    assert_within_slack_limits(payload)


def test_code_shortens_escapes_and_keeps_one_code_span() -> None:
    assert blocks.code("R&D <!channel>") == "`R&amp;D &lt;!channel&gt;`"
    assert blocks.code("a`b") == "`a'b`"  # a backtick would end the span early
    long = blocks.code("x" * 20_000)
    assert len(long) <= blocks.ECHO_MAX + 2 and long.endswith("…`")
    assert blocks.shorten("two\nlines  here") == "two lines here"


def test_plain_safe_leaves_no_angle_brackets() -> None:
    shown = blocks.plain_safe("<!channel> <https://evil.test|click>")
    assert "<" not in shown and ">" not in shown and "!channel" in shown
