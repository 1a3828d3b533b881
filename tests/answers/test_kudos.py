"""`/kudos` as a plain function over a real store: the text as Slack sends it (should_escape:
mentions as <@U..|name>, typed text entity-escaped), the rows written to the cent, refusals
that write nothing, duplicates merged, and who may confirm; `costbot ask --user` records it."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from bot.answers.common import Asker, UsageError
from bot.answers.kudos import (
    SELF_KUDOS_NOTE,
    answer_kudos,
    normalised_what,
    parse_kudos,
    split_evenly,
)
from bot.answers.kudos_confirm import (
    GAVE_IT_NOTE,
    ONLY_CONFIRMERS_NOTE,
    OWN_WIN_NOTE,
    decide_kudos,
)
from bot.cli import main
from bot.config import ChampionSettings, Config, TagPolicySettings, Team
from bot.store import open_store

TODAY = date(2026, 11, 12)
NOW = datetime(2026, 11, 12, 15, 30, tzinfo=UTC)
GIVER, MARIA, OMAR, LEAD, APPROVER, STRANGER = (
    "U0GIVER",
    "U0MARIA",
    "U0OMAR",
    "U0LEAD",
    "U0APPR",
    "U0X",
)
BOT_USER = "U000BOT"
CONFIG = Config(
    teams=(
        Team(name="payments", channel="#team-payments", members=(MARIA,), leads=(LEAD,)),
        Team(name="search", channel="#team-search"),
    ),
    tag_policy=TagPolicySettings(approvers=(APPROVER,)),
    champions=ChampionSettings(confirmers=("S0FINOPS",)),
)
IN_PAYMENTS = Asker(user_id=GIVER, channel_id="C0PAY", channel_name="team-payments")
IN_SEARCH = Asker(user_id=GIVER, channel_id="C0SEARCH", channel_name="team-search")


@pytest.fixture
def db(tmp_path: Path):
    store = open_store(tmp_path / "costbot.db")
    yield store
    store.close()


def give(db, text, asker=IN_PAYMENTS, today=TODAY):
    return answer_kudos(
        text, db=db, config=CONFIG, today=today, asker=asker, bot_user_id=BOT_USER, now=NOW
    )


def wins(db):
    return list(db.query("SELECT * FROM wins ORDER BY id"))


def reporters(db):
    return [(r["win_id"], r["user_id"]) for r in db.query("SELECT * FROM win_reporters")]


# ---- parsing


@pytest.mark.parametrize(
    ("text", "people", "what", "micros"),
    [
        (
            "<@U0MARIA|maria> moved the batch jobs to spot $1,200/month",
            ("U0MARIA",),
            "moved the batch jobs to spot",
            1_200_000_000,
        ),
        ("<@U0MARIA> rightsized RDS $1200.50", ("U0MARIA",), "rightsized RDS", 1_200_500_000),
        ("<@U0MARIA> cut logs $1.2k a month", ("U0MARIA",), "cut logs", 1_200_000_000),
        ("<@U0MARIA> cut logs $2k per month.", ("U0MARIA",), "cut logs", 2_000_000_000),
        ("<@U0MARIA> cut logs, saving $950 /mo", ("U0MARIA",), "cut logs", 950_000_000),
        ("<@U0MARIA> cut logs ($0.05/month)", ("U0MARIA",), "cut logs", 50_000),
        (
            "<@U0MARIA> <@U0OMAR|omar> migrated search to Graviton $900/month",
            ("U0MARIA", "U0OMAR"),
            "migrated search to Graviton",
            900_000_000,
        ),
        (
            "<@U0MARIA> and <@U0OMAR> fixed it",
            ("U0MARIA", "U0OMAR"),
            "fixed it",
            None,
        ),
        ("<@U0MARIA> reduced replicas to 3", ("U0MARIA",), "reduced replicas to 3", None),
        (
            "<@U0MARIA> with help from <@U0OMAR|omar> dropped &lt;old&gt; NAT &amp; egress",
            ("U0MARIA",),
            "with help from <@U0OMAR> dropped <old> NAT & egress",
            None,
        ),
        (
            "<@U0MARIA> wrote <https://wiki.example.com/spot|the spot guide>",
            ("U0MARIA",),
            "wrote the spot guide",
            None,
        ),
    ],
)
def test_what_slack_sends_is_read_as_people_what_and_a_monthly_amount(text, people, what, micros):
    request = parse_kudos(text)
    assert (request.people, request.what, request.monthly_micros) == (people, what, micros)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("moved the batch jobs to spot", "Who do you thank?"),
        ("@maria moved the batch jobs", "pick the person from the @ menu"),
        ("&lt;@U0MARIA&gt; typed brackets are not a mention", "Who do you thank?"),
        ("<@U0MARIA>", "What did they do?"),
        ("<@U0MARIA> $500/month", "What did they do?"),
        ("<!subteam^S0SRE|@sre> fixed the NAT bill", "`@sre` is a user group"),
        ("<#C0GENERAL|general> fixed the NAT bill", "`general` is a channel"),
        ("<!here> fixed the NAT bill", "@here is everyone"),
        ("<@B0OTHERBOT> fixed it", "not bots"),
        ("<@U0MARIA> cut logs -$100/month", "a saving is a positive amount"),
        ("<@U0MARIA> cut logs $-100", "a saving is a positive amount"),
        ("<@U0MARIA> cut logs $12,00/month", "is not an amount I can read"),
        ("<@U0MARIA> cut logs $1.2.3", "is not an amount I can read"),
        ("<@U0MARIA> cut logs $abc", "is not an amount I can read"),
        ("<@U0MARIA> cut logs $0.001/month", "amounts are to the cent"),
        ("<@U0MARIA> cut logs $0/month", "leave the amount out"),
        ("<@U0MARIA> cut logs $14,400/year", "monthly run-rates"),
        ("<@U0MARIA> cut logs 1200/month", "with its currency"),
        ("<@U0MARIA> cut logs €1,200/month", "amounts are in USD"),
        ("<@U0MARIA> " + "x" * 301, "at most 300 characters"),
        (" ".join(f"<@U0P{i:03d}>" for i in range(11)) + " all of them", "At most 10 people"),
    ],
)
def test_what_cannot_be_recorded_is_a_one_line_usage_notice(text, says):
    with pytest.raises(UsageError) as problem:
        parse_kudos(text)
    assert says in str(problem.value)


def test_bad_input_answers_with_the_notice_and_writes_nothing(db):
    for text in ("<@U0MARIA> cut logs -$100/month", "<!subteam^S0SRE|@sre> fixed it", "fixed it"):
        answer = give(db, text)
        assert answer.reply.is_error and answer.new_win_ids == ()
        assert answer.reply.payload["response_type"] == "ephemeral"
        assert "/kudos help" in json.dumps(answer.reply.payload["blocks"])
    help_answer = give(db, "help")
    assert not help_answer.reply.is_error
    assert "/kudos @someone" in json.dumps(help_answer.reply.payload)
    assert wins(db) == [] and reporters(db) == []


def test_amounts_in_another_configured_currency():
    request = parse_kudos("<@U0MARIA> cut logs EUR 1,234.56/month", "EUR")
    assert (request.what, request.monthly_micros) == ("cut logs", 1_234_560_000)
    with pytest.raises(UsageError, match="amounts are in EUR"):
        parse_kudos("<@U0MARIA> cut logs $100/month", "EUR")


def test_duplicates_are_spotted_whatever_the_case_spaces_and_punctuation():
    assert normalised_what("Moved the batch-jobs  to Spot!") == normalised_what(
        "moved the batch jobs to spot"
    )


def test_an_amount_split_between_people_sums_exactly_to_the_cent():
    shares = split_evenly(1_000_010_000, 3)
    assert shares == [333_340_000, 333_340_000, 333_330_000]
    assert sum(shares) == 1_000_010_000


# ---- recording


def test_a_kudos_is_recorded_to_the_cent_with_the_recipients_team(db):
    answer = give(db, "<@U0MARIA|maria> moved the batch jobs to spot $1,200/month")
    (win,) = wins(db)
    assert answer.new_win_ids == (win["id"],)
    assert {k: win[k] for k in win if k not in ("id", "created_at", "updated_at")} == {
        "month": "2026-11",
        "source": "kudos",
        "status": "reported",
        "team": "payments",
        "person": MARIA,
        "what": "moved the batch jobs to spot",
        "monthly_savings_micros": 1_200_000_000,
        "currency": "USD",
        "dedupe_key": "kudos:2026-11:U0MARIA:moved the batch jobs to spot",
        "reported_by": GIVER,
        "reported_at": "2026-11-12T15:30:00+00:00",
        "confirmed_by": None,
        "confirmed_at": None,
        "mentions": 1,
        "channel": "C0PAY",
        "message_ts": None,
        "detail": None,
    }
    assert reporters(db) == [(win["id"], GIVER)]
    message = json.dumps(answer.message)
    assert "$1,200.00/month, $14,400.00/year" in message
    assert f"<@{GIVER}> thanks <@{MARIA}> (payments)" in message
    assert '"action_id": "kudos_confirm"' in message and '"action_id": "kudos_decline"' in message
    assert answer.reply.payload["response_type"] == "in_channel"


def test_the_team_is_the_recipients_else_the_channels_else_none(db):
    give(db, "<@U0OMAR> tuned the search cluster", asker=IN_SEARCH)
    give(db, "<@U0MARIA> tuned the search cluster", asker=IN_SEARCH)
    give(db, "<@U0OMAR> tuned it", asker=Asker(user_id=GIVER, channel_id="D0DM"))
    assert [(w["person"], w["team"]) for w in wins(db)] == [
        (OMAR, "search"),
        (MARIA, "payments"),  # her own team, wherever she is thanked
        (OMAR, None),
    ]


def test_several_people_get_one_win_each_sharing_the_amount(db):
    answer = give(db, "<@U0MARIA> <@U0OMAR> migrated search to Graviton $900.01/month")
    rows = wins(db)
    assert [(w["person"], w["monthly_savings_micros"]) for w in rows] == [
        (MARIA, 450_010_000),
        (OMAR, 450_000_000),
    ]
    assert answer.new_win_ids == tuple(w["id"] for w in rows)
    assert "$900.01/month, $10,800.12/year" in json.dumps(answer.message)


def test_self_kudos_and_bots_are_refused_and_nothing_is_written(db):
    own = give(db, "<@U0GIVER> fixed my own NAT bill $100/month")
    assert own.reply.is_error and SELF_KUDOS_NOTE.split(":")[0] in own.reply.text
    also_me = give(db, "<@U0MARIA> <@U0GIVER> fixed the NAT bill")
    assert also_me.reply.is_error
    costbot = give(db, f"<@{BOT_USER}> posts the digests")
    assert costbot.reply.is_error and "not bots" in costbot.reply.text
    assert wins(db) == [] and reporters(db) == []


def test_the_same_reporter_twice_changes_nothing(db):
    give(db, "<@U0MARIA> moved the batch jobs to spot $1,200/month")
    before = wins(db)
    again = give(db, "<@U0MARIA> Moved the batch-jobs to Spot!  $1,200/month")
    assert again.new_win_ids == () and not again.reply.is_error
    assert "You already gave" in again.reply.text and "Nothing changed" in again.reply.text
    assert wins(db) == before


def test_another_reporter_adds_a_mention_to_the_same_win(db):
    give(db, "<@U0MARIA> moved the batch jobs to spot $1,200/month")
    (first,) = wins(db)
    other = Asker(user_id=OMAR, channel_id="C0PAY")
    merged = give(db, "<@U0MARIA> moved the batch jobs to spot $1,500/month", asker=other)
    assert merged.new_win_ids == ()
    assert "Added your thanks" in merged.reply.text
    assert "keeps the $1,200.00/month recorded first" in merged.reply.text
    (win,) = wins(db)
    assert win["mentions"] == 2 and win["monthly_savings_micros"] == 1_200_000_000
    assert reporters(db) == [(first["id"], GIVER), (first["id"], OMAR)]
    give(db, "<@U0MARIA> moved the batch jobs to spot", asker=other)  # Omar again: no change
    assert wins(db)[0]["mentions"] == 2


def test_an_amount_given_later_completes_a_kudos_that_had_none(db):
    give(db, "<@U0MARIA> moved the batch jobs to spot")
    later = give(db, "<@U0MARIA> moved the batch jobs to spot $1,200/month")
    assert "Added $1,200.00/month" in later.reply.text
    (win,) = wins(db)
    assert win["monthly_savings_micros"] == 1_200_000_000 and win["mentions"] == 1


def test_the_same_kudos_next_month_is_a_new_win(db):
    give(db, "<@U0MARIA> moved the batch jobs to spot $1,200/month")
    give(db, "<@U0MARIA> moved the batch jobs to spot $1,200/month", today=date(2026, 12, 1))
    assert [w["month"] for w in wins(db)] == ["2026-11", "2026-12"]


def test_a_mixed_kudos_records_the_new_and_notes_the_merged(db):
    give(db, "<@U0MARIA> fixed the NAT bill")
    both = give(db, "<@U0MARIA> <@U0OMAR> fixed the NAT bill", asker=Asker(user_id=LEAD))
    assert len(both.new_win_ids) == 1 and len(both.notes) == 1
    assert "Added your thanks" in both.notes[0]


# ---- confirming


def judge(db, ids, user, *, confirm=True, groups=()):
    def is_confirmer(user_id, allowed):
        return user_id in allowed or any(g in allowed for g in groups)

    return decide_kudos(db, CONFIG, ids, user, confirm=confirm, is_confirmer=is_confirmer, now=NOW)


def test_a_lead_confirms_once_and_the_message_says_so(db):
    (win_id,) = give(db, "<@U0MARIA> moved the batch jobs to spot $1,200/month").new_win_ids
    decision = judge(db, [win_id], LEAD)
    assert decision.changed == (win_id,) and decision.note is None
    (win,) = wins(db)
    assert (win["status"], win["confirmed_by"], win["confirmed_at"]) == (
        "confirmed",
        LEAD,
        "2026-11-12T15:30:00+00:00",
    )
    shown = json.dumps(decision.message)
    assert f"confirmed by <@{LEAD}> on Nov 12, 2026" in shown
    assert "kudos_confirm" not in shown  # the buttons are gone
    again = judge(db, [win_id], APPROVER, confirm=False)
    assert again.changed == () and "already confirmed" in again.note
    assert wins(db)[0]["status"] == "confirmed"


def test_who_may_not_judge_is_told_why_and_nothing_changes(db):
    (win_id,) = give(db, "<@U0MARIA> moved the batch jobs to spot").new_win_ids
    assert judge(db, [win_id], STRANGER).note == ONLY_CONFIRMERS_NOTE
    assert judge(db, [win_id], MARIA).note == OWN_WIN_NOTE
    assert judge(db, [win_id], GIVER).note == GAVE_IT_NOTE
    assert wins(db)[0]["status"] == "reported"


def test_a_lead_who_gave_the_kudos_may_not_confirm_it(db):
    (win_id,) = give(db, "<@U0MARIA> moved it", asker=Asker(user_id=LEAD)).new_win_ids
    assert judge(db, [win_id], LEAD).note == GAVE_IT_NOTE
    assert wins(db)[0]["status"] == "reported"


def test_approvers_and_confirmer_groups_judge_any_team_and_decline(db):
    ids = give(db, "<@U0OMAR> tuned search", asker=IN_SEARCH).new_win_ids
    assert judge(db, ids, LEAD).note == ONLY_CONFIRMERS_NOTE  # payments' lead, a search win
    decision = judge(db, ids, "U0FINOPS", confirm=False, groups=("S0FINOPS",))
    assert decision.changed == ids
    assert wins(db)[0]["status"] == "declined"
    assert "declined by <@U0FINOPS>" in json.dumps(decision.message)


def test_a_lead_judges_only_the_people_of_their_team(db):
    ids = give(db, "<@U0MARIA> <@U0OMAR> migrated search", asker=IN_SEARCH).new_win_ids
    decision = judge(db, ids, LEAD)
    assert decision.changed == ids[:1] and "others wait" in decision.note
    assert [w["status"] for w in wins(db)] == ["confirmed", "reported"]
    assert "kudos_confirm" in json.dumps(decision.message)  # Omar's still waits


# ---- costbot ask


def test_costbot_ask_records_a_kudos(tmp_path, monkeypatch, capsys):
    db_path = tmp_path / "ask.db"
    open_store(db_path).close()
    config = tmp_path / "costbot.yml"
    config.write_text("teams:\n  - name: payments\n    members: [U456]\n", encoding="utf-8")
    monkeypatch.setenv("COSTBOT_DB", str(db_path))
    monkeypatch.setenv("COSTBOT_CONFIG", str(config))
    text = "/kudos <@U456> moved the batch jobs to spot $1,200/month"
    assert main(["ask", "--json", "--user", "U123", "--today", "2026-11-12", text]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["response_type"] == "in_channel"
    assert "$1,200.00/month, $14,400.00/year" in json.dumps(payload)
    assert main(["ask", "--user", "U123", "--today", "2026-11-12", text]) == 0
    assert "You already gave" in capsys.readouterr().out
    assert main(["ask", "--user", "U456", "/kudos <@U456> me again"]) == 2
    assert "Kudos are for others" in capsys.readouterr().err
    assert main(["ask", "/kudos <@U456> no giver"]) == 2
    store = open_store(db_path)
    rows = list(store.query("SELECT person, team, monthly_savings_micros, month FROM wins"))
    store.close()
    assert rows == [
        {"person": "U456", "team": "payments", "monthly_savings_micros": 1_200_000_000,
         "month": "2026-11"}
    ]  # fmt: skip


def test_what_people_typed_is_escaped_in_the_message_and_its_fallback(db):
    answer = give(
        db,
        "<@U0MARIA> fixed &lt;!channel&gt; pings <!channel> &amp; <https://x.example|*links*> $5",
    )
    what = "fixed &lt;!channel&gt; pings @channel &amp; *links*"
    assert wins(db)[0]["what"] == "fixed <!channel> pings @channel & *links*"
    assert f"for: {what} ($5.00/month)" in answer.message["text"]
    shown = json.dumps(answer.message["blocks"])
    assert what in shown and "<!channel>" not in shown and "<https" not in shown


def test_the_same_kudos_from_many_people_at_once_is_one_win(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from bot.store import open_writer

    path = tmp_path / "busy.db"
    open_store(path).close()
    people = [f"U0FAN{i:02d}" for i in range(8)]

    def thank(user: str) -> tuple[int, ...]:
        db = open_writer(path)
        try:
            return give(
                db, "<@U0MARIA> moved the batch jobs to spot", Asker(user_id=user)
            ).new_win_ids
        finally:
            db.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        recorded = list(pool.map(thank, people))
    db = open_store(path)
    try:
        (win,) = wins(db)
        assert sum(1 for ids in recorded if ids) == 1  # one message, the others merged
        assert win["mentions"] == 8
        assert sorted(u for _, u in reporters(db)) == people
    finally:
        db.close()
