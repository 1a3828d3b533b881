"""What users type and what data holds, on the way into and out of `/cost`: Slack's entities
decoded before parsing, words that are not understood named, bad periods answered, hostile
names (mentions, links, `&`, 5,000-character values) escaped in every mrkdwn field while
the amounts stay exact, and `costbot ask` taking text as Slack does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date

import pytest
from focus_rows import dollars_of, focus_row, write_rows
from paths import REPO_ROOT

from bot.answers.cost import Asker, answer_cost
from bot.cli import main
from bot.config import parse_config
from bot.render import blocks
from bot.sources.focus_ingest import ingest_focus
from bot.store import open_store

TODAY = date(2026, 11, 2)
CONFIG = parse_config(
    {
        "teams": [
            {"name": "payments", "members": ["U0BOTH", "U0ONE"]},
            {"name": "research", "members": ["U0BOTH"]},
        ]
    }
)
EVIL_TEAM = "<!channel> <https://evil.test|click>"
EVIL_SERVICE = "<!here> Evil & Co *bold*"
LONG_SERVICE = "S" * 5000
LONG_TEAM = "t" * 5000
EVIL_ACCOUNT = ("444444444444", "<@U0BOSS> & <!everyone>")
EVIL_BILLING = ("999999999999", "<b>Acme</b> & sons")
ROWS = [
    focus_row(date(2026, 10, 2), "1200.10", team="payments"),
    focus_row(date(2026, 10, 3), "310.07", team="R&D", service=EVIL_SERVICE),
    focus_row(date(2026, 10, 3), "99.99", team=EVIL_TEAM, sub_account=EVIL_ACCOUNT),
    focus_row(date(2026, 10, 4), "12.34", team="*bold*", service=LONG_SERVICE),
    focus_row(date(2026, 10, 4), "5.55", team=LONG_TEAM, billing_account=EVIL_BILLING),
    focus_row(date(2026, 10, 5), "42.00", team="o'brien"),
]


def team_dollars(team: str) -> str:
    return dollars_of(ROWS, Tags=json.dumps({"Team": team}))


@pytest.fixture(scope="module")
def db_path(tmp_path_factory):
    folder = tmp_path_factory.mktemp("input")
    ingest_focus([str(write_rows(folder / "focus.csv", ROWS))], CONFIG, folder / "costbot.db")
    return folder / "costbot.db"


def ask(db_path, text, asker=None):
    db = open_store(db_path)
    try:
        return answer_cost(
            text, db=db, config=CONFIG, today=TODAY, asker=asker or Asker(), with_chart=True
        )
    finally:
        db.close()


def slack_sends(text: str) -> str:
    """Command text as Slack posts it: `&`, `<`, `>` as entities."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def rendered_texts(payload, *, mrkdwn_only: bool = False) -> list[str]:
    """Every text Slack shows: fallback (notifications), headers (plain text), sections,
    fields and context (mrkdwn)."""
    texts = [payload["text"]]
    for block in payload["blocks"]:
        text = block.get("text")
        if isinstance(text, dict) and not (mrkdwn_only and text["type"] == "plain_text"):
            texts.append(text["text"])
        texts += [field["text"] for field in block.get("fields", [])]
        texts += [e["text"] for e in block.get("elements", []) if e.get("type") == "mrkdwn"]
    return texts


def assert_nothing_raw(payload) -> None:
    for text in rendered_texts(payload):
        assert "<" not in text and ">" not in text, text[:200]
        assert len(text) <= blocks.MESSAGE_TEXT_MAX
    for text in rendered_texts(payload, mrkdwn_only=True):
        # Every "&" in mrkdwn starts one of the three entities.
        assert "&" not in text.replace("&amp;", "").replace("&lt;", "").replace("&gt;", "")


@pytest.mark.parametrize(
    "text",
    [
        "top teams 2026-10",
        "top services 2026-10",
        "top accounts 2026-10",
        f"team {EVIL_TEAM} 2026-10",
        f"service {EVIL_SERVICE} 2026-10",
        f"service {LONG_SERVICE} 2026-10",
        f"team {LONG_TEAM} 2026-10",
        f"account {EVIL_ACCOUNT[0]} 2026-10",
        f"account billing {EVIL_BILLING[0]} 2026-10",
        "team <!channel>nope",
        f"team payments {EVIL_TEAM}",
        "service <https://evil.test|x>",
        "top <!here>",
        "frob<!channel>",
        "team payments <!channel>-01",
        f"account {EVIL_BILLING[1]}",
    ],
)
def test_no_field_carries_a_raw_mention_link_or_ampersand(db_path, text):
    reply = ask(db_path, slack_sends(text))
    assert_nothing_raw(reply.payload)


def test_hostile_names_keep_their_amounts_to_the_cent(db_path):
    teams = ask(db_path, "top teams 2026-10")
    table = "\n".join(rendered_texts(teams.payload))
    for team in ("payments", "r&d", EVIL_TEAM, "*bold*", LONG_TEAM, "o'brien"):
        assert team_dollars(team.replace("r&d", "R&D")) in table
    assert dollars_of(ROWS) in teams.payload["text"]  # the total, in the notification too
    assert "payments $1,200.10" in teams.payload["text"]

    evil = ask(db_path, slack_sends(f"team {EVIL_TEAM} 2026-10"))
    assert not evil.is_error
    assert f"*{team_dollars(EVIL_TEAM)}*" in evil.payload["blocks"][1]["text"]["text"]
    assert "&lt;!channel&gt;" in evil.payload["text"]
    assert "‹!channel› ‹https://evil.test|click›" in evil.payload["blocks"][0]["text"]["text"]

    long = ask(db_path, slack_sends(f"service {LONG_SERVICE} 2026-10"))
    body = long.payload["blocks"][1]["text"]["text"]
    assert f"*{dollars_of(ROWS, ServiceName=LONG_SERVICE)}*" in body
    # What follows the long name survives it: the period, clipped to the stored days, and why
    # there is nothing to compare with.
    assert "Oct 2 – Oct 5, 2026\nno comparison: the store starts Oct 2, 2026" in body


def test_slack_entities_are_decoded_before_parsing(db_path):
    reply = ask(db_path, "team R&amp;D 2026-10")
    assert not reply.is_error, reply.text
    assert reply.payload["blocks"][0]["text"]["text"].startswith("👥 r&d:")
    assert f"*{team_dollars('R&D')}*" in reply.payload["blocks"][1]["text"]["text"]
    service = ask(db_path, slack_sends(f"service {EVIL_SERVICE.lower()} 2026-10"))
    assert f"*{dollars_of(ROWS, ServiceName=EVIL_SERVICE)}*" in json.dumps(service.payload)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("team payments 0000-01", "'0000-01': there is no cost data before 1970"),
        (
            "team payments last month",
            "I understood `/cost team payments` but not `last month`: periods are one word, "
            "e.g. `/cost team payments last-month`",
        ),
        (
            "team payments last-month extra",
            "I understood `/cost team payments last-month` but not `extra`",
        ),
        ("team payments 2026-10 2026-09", "I understood `/cost team payments 2026-09`"),
        ("payments last month", "I understood `/cost team payments` but not `last month`"),
        ("service ec2 yesterday", "`yesterday` is not a period"),
        ("team payments 2026-13", "'2026-13' is not a month"),
        ("top teams last month", "Periods are one word: `/cost top teams last-month`"),
        ("top services 2026-10 30d", "One period at a time: `2026-10` or `30d`?"),
    ],
)
def test_bad_periods_and_extra_words_get_a_hint_naming_them(db_path, text, expected):
    reply = ask(db_path, text)
    assert reply.is_error and reply.payload["response_type"] == "ephemeral"
    assert expected in reply.text
    assert reply.chart is None


def test_a_20000_character_argument_is_shortened_not_echoed(db_path):
    for text in ("team payments " + "y" * 20_000, "team " + "y" * 20_000, "y" * 20_000):
        reply = ask(db_path, text)
        assert reply.is_error
        everything = json.dumps(reply.payload)
        assert "y" * 61 not in everything and "…" in reply.text
        assert len(everything) < 2_000


def test_bare_cost_for_a_member_of_two_teams_says_which_and_how(db_path):
    reply = ask(db_path, "", Asker(user_id="U0BOTH", channel_id="C0RANDOM"))
    text = reply.payload["blocks"][1]["text"]["text"]
    assert "You are in 2 teams" in text
    assert "`/cost team payments`" in text and "`/cost team research`" in text
    assert not reply.is_error
    one = ask(db_path, "2026-10", Asker(user_id="U0ONE", channel_id="C0RANDOM"))
    assert one.payload["blocks"][0]["text"]["text"].startswith("👥 payments:")


@pytest.fixture
def cli_env(db_path, monkeypatch, tmp_path):
    config = tmp_path / "costbot.yml"
    config.write_text("teams:\n  - name: payments\n")
    monkeypatch.setenv("COSTBOT_DB", str(db_path))
    monkeypatch.setenv("COSTBOT_CONFIG", str(config))
    return {**os.environ, "COSTBOT_DB": str(db_path), "COSTBOT_CONFIG": str(config)}


def test_ask_takes_text_as_slack_does_and_exits_2_on_bad_input(cli_env, capsys):
    assert main(["ask", "--today", "2026-11-02", "/cost team o'brien 2026-10"]) == 0
    assert team_dollars("o'brien") in capsys.readouterr().out

    assert main(["ask", "--today", "2026-11-02", "/cost  team\tR&D 2026-10"]) == 0
    assert team_dollars("R&D") in capsys.readouterr().out

    assert main(["ask", "--today", "2026-11-02", "/cost team nobody"]) == 2
    captured = capsys.readouterr()
    assert "I don't know the team `nobody`" in captured.err and captured.out == ""

    assert main(["ask", "--json", "/cost team payments 0000-01"]) == 2
    captured = capsys.readouterr()
    assert "before 1970" in json.loads(captured.out)["text"]
    assert captured.err == "costbot: '0000-01': there is no cost data before 1970\n"

    assert main(["ask", "/cost help"]) == 0
    assert main(["ask", "/costs team payments"]) == 2


def test_ask_survives_a_reader_that_closes_the_pipe(cli_env):
    # The reader is gone before costbot writes a byte: its write meets a closed pipe.
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "ask", "--today", "2026-10-06", "/cost top teams"],
        cwd=REPO_ROOT,
        env=cli_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    process.stdout.close()
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == 0
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr
