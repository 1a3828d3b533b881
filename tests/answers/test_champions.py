"""`/champions` answers: this month so far, a past month, a team's record, help, bad input as
a one-line notice (exit 2 in `costbot ask`), escaping of what users typed, Block Kit limits
with many winners, the demo preview."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date

import pytest
import yaml
from champions_world import CONFIG, CONFIG_DATA, add_kudos, build

from bot.answers.champions import answer_champions, preview_champions
from bot.store import open_reader, open_store

TODAY = date(2026, 11, 20)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return build(tmp_path_factory.mktemp("champions-answers"))


@pytest.fixture
def ask(store):
    def asking(text, today=TODAY):
        db = open_reader(store)
        try:
            return answer_champions(text, db=db, config=CONFIG, today=today)
        finally:
            db.close()

    return asking


def test_bare_champions_is_this_month_so_far(ask):
    reply = ask("")
    assert not reply.is_error
    assert "November 2026: Nov 1 – Nov 20, 2026 (so far)" in str(reply.payload["blocks"])
    assert "How to get on the board" in reply.text  # nothing won in November yet


def test_last_month_is_the_month_before(ask):
    assert ask("last-month").text == ask("2026-10").text
    assert ask("2026-10").text.startswith("Cost champions, October 2026: payments leads")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("2026-13", "'2026-13' is not a month"),
        ("october", "'october' is not a month"),
        ("2026-10 2026-11", "/champions takes one month"),
        ("2027-01", "January 2027 has not started yet"),
        ("team", "which team?"),
        ("team paymnts", "Did you mean `payments`?"),
        ("team payments 99", "months must be 1 to 24"),
    ],
)
def test_bad_input_is_a_one_line_ephemeral_notice(ask, text, says):
    reply = ask(text)
    assert reply.is_error
    assert reply.payload["response_type"] == "ephemeral"
    assert says in reply.text
    assert "\n" not in reply.text


def test_help(ask):
    reply = ask("help")
    assert not reply.is_error
    assert "`/champions team <team> [months]`" in str(reply.payload["blocks"])


def test_what_users_typed_is_escaped_and_many_winners_fit_the_block_kit_limits(tmp_path):
    path = build(tmp_path)
    db = open_store(path)
    try:
        add_kudos(db, "U0MAL", "payments", "<!channel> & <https://evil|click>", 10**10, "confirmed")
        for n in range(300):
            add_kudos(db, f"U{n:04d}", "payments", "x" * 500 + f" {n}", 1_000_000, "confirmed")
        reply = answer_champions("2026-10", db=db, config=CONFIG, today=TODAY, with_chart=False)
    finally:
        db.close()
    payload = json.dumps(reply.payload, ensure_ascii=False)
    assert (
        "<!channel>" not in payload
        and "&lt;!channel&gt; &amp; &lt;https://evil|click&gt;" in payload
    )
    blocks = reply.payload["blocks"]
    assert len(blocks) <= 50
    for block in blocks:
        assert len(block.get("text", {}).get("text", "")) <= 3000
    assert "…and 295 more" in payload  # 10 of 305 people shown


def test_costbot_ask(store, tmp_path):
    config_path = tmp_path / "costbot.yml"
    config_path.write_text(yaml.safe_dump(CONFIG_DATA))
    env = {"COSTBOT_DB": str(store), "COSTBOT_CONFIG": str(config_path), "PATH": ""}
    command = [sys.executable, "-m", "bot.cli", "ask", "--today", "2026-11-20"]
    done = subprocess.run([*command, "/champions 2026-10"], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert "$2,554.56 a month is $30,654.72 a year: less than one engineer" in done.stdout
    assert "1. payments" in done.stdout
    bad = subprocess.run([*command, "/champions 2026-13"], capture_output=True, text=True, env=env)
    assert bad.returncode == 2
    assert bad.stderr.splitlines()[0] == "'2026-13' is not a month: use YYYY-MM, e.g. 2026-10"


def test_preview_for_the_demo(store):
    db = open_reader(store)
    try:
        previews = preview_champions(db, CONFIG, TODAY)
    finally:
        db.close()
    assert [p.title for p in previews] == [
        "/champions last-month", "/champions team payments", "/champions 2026-13",
    ]  # fmt: skip
    for preview in previews:
        for key in preview.images:
            assert key in json.dumps(preview.payload)
