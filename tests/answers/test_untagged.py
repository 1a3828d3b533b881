"""`/untagged` over a store built through the real ingest and the inventory's writer
(tests/untagged_store.py): every figure compared with sums of the FOCUS rows made by hand,
scopes and periods, bad input, hostile tag values, trend, and Slack's limits with 10,000
resources."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date
from decimal import Decimal

import pytest
import untagged_store as u

from bot.analytics.tag_compliance import ComplianceReport, compliance
from bot.answers.common import Asker
from bot.answers.untagged import answer_untagged
from bot.cli import main
from bot.money import format_usd
from bot.render.plaintext import payload_as_text
from bot.render.untagged import CLAIM_ACTION_ID
from bot.store import open_reader, open_store
from bot.store.writers import write_compliance

CONFIG = u.config()


@pytest.fixture(scope="module")
def db_path(tmp_path_factory):
    return u.build_store(tmp_path_factory.mktemp("untagged"))


@pytest.fixture
def db(db_path):
    db = open_reader(db_path)
    yield db
    db.close()


def ask(db, text: str, **kwargs):
    return answer_untagged(text, db=db, config=CONFIG, today=u.TODAY, **kwargs)


def figures(reply) -> dict:
    return reply.payload["metadata"]["event_payload"]


def all_text(payload: dict) -> str:
    return json.dumps(payload, ensure_ascii=False)


def claim_buttons(payload: dict) -> dict[str, dict]:
    """ARN -> the section block carrying its Claim button."""
    return {
        block["accessory"]["value"]: block
        for block in payload["blocks"]
        if (block.get("accessory") or {}).get("action_id") == CLAIM_ACTION_ID
    }


def check(reply, expected: dict) -> None:
    """The answer's figures, in its metadata and its text, equal the hand-made sums."""
    found = figures(reply)
    noncompliant = sum(v[0] for v in expected["noncompliant"].values())
    assert found["cost_micros"] == expected["cost"]
    assert found["noncompliant_cost_micros"] == noncompliant
    assert Decimal(found["noncompliant_cost"]) * 1_000_000 == noncompliant
    assert found["resources"] == expected["resources"]
    assert found["compliant_resources"] == expected["compliant"]
    assert found["exempt_resources"] == expected["exempt"]
    assert found["noncompliant_total"] == len(expected["noncompliant"])
    share = Decimal(expected["compliant_cost"]) / Decimal(expected["cost"])
    assert Decimal(found["cost_share"]) == share.quantize(Decimal("0.000001"))
    assert found["target_met"] is (share >= Decimal("0.98"))
    text = payload_as_text(reply.payload)
    assert f"{format_usd(noncompliant)} of {format_usd(expected['cost'])}" in text
    # Costliest first (ties by account, then id): ids, costs to the micro, missing keys.
    ranked = sorted(expected["noncompliant"].values(), key=lambda v: (-v[0], v[2], v[3]))
    listed = [
        (r["resource_id"], Decimal(r["cost"]), tuple(r["missing"])) for r in found["costliest"]
    ]
    assert listed == [(rid, Decimal(m) / 1_000_000, miss) for m, miss, _, rid in ranked[:10]]


def test_the_organisation_month_to_date_agrees_with_the_bill(db) -> None:
    reply = ask(db, "")
    assert not reply.is_error
    check(reply, u.expected_figures(("2026-11",)))
    found = figures(reply)
    assert found["period"] == {
        "start": "2026-11-01",
        "end": "2026-11-20",
        "months_counted": ["2026-11"],
        "whole_months": True,
    }
    text = payload_as_text(reply.payload)
    assert "Month to date: Nov 1 – Nov 20, 2026" in text
    assert "target 98.0% not met" in text
    # $32.40 x 3 days billed to a NAT gateway the inventory does not hold: no Claim button.
    assert "`nat-0abc` *$97.20* _billed only_" in text
    assert "cannot be tagged from here" in text
    buttons = claim_buttons(reply.payload)
    assert u.arn_of("db-exempt") in buttons and "_exempt_" in json.dumps(buttons)
    assert all(len(arn) <= 2000 for arn in buttons)
    assert len(buttons) == len(found["costliest"]) - 1


def test_the_same_figures_as_the_daily_compliance_report(db) -> None:
    """The sync job's stored figures and /untagged's month to date are one computation."""
    report: ComplianceReport = compliance(db, CONFIG, date(2026, 11, 20))
    found = figures(ask(db, "all mtd"))
    organisation = report.organisation
    assert found["cost_micros"] == organisation.cost_micros
    assert found["noncompliant_cost_micros"] == organisation.noncompliant_cost_micros
    assert found["resources"] == organisation.resources
    assert [g["key"] for g in found["missing"]] == [g.key for g in organisation.missing]


@pytest.mark.parametrize(
    ("text", "belongs"),
    [
        (
            "team payments",
            lambda r, a: r in ("i-full", "i-noproduct", "i-emptycc", (u.B, "nat-0abc")),
        ),
        ("team PAY", lambda r, a: r in ("i-full", "i-noproduct", "i-emptycc", (u.B, "nat-0abc"))),
        (
            "payments mtd",
            lambda r, a: r in ("i-full", "i-noproduct", "i-emptycc", (u.B, "nat-0abc")),
        ),
        ("team untagged", lambda r, a: r == "i-bare"),
        ("account 333333333333", lambda r, a: a == u.B),
        ("account acme-data", lambda r, a: a == u.C),
        ("team search", lambda r, a: r in ("db-exempt", "i-search", "i-c-full")),
    ],
)
def test_each_scope_agrees_with_the_bill(db, text, belongs) -> None:
    reply = ask(db, text)
    assert not reply.is_error, payload_as_text(reply.payload)
    check(reply, u.expected_figures(("2026-11",), belongs))


def test_a_period_over_two_months_counts_both_and_says_so(db) -> None:
    reply = ask(db, "all 30d")  # Oct 22 - Nov 20
    check(reply, u.expected_figures(("2026-10", "2026-11")))
    found = figures(reply)
    assert found["period"]["months_counted"] == ["2026-10", "2026-11"]
    assert found["period"]["whole_months"] is False
    assert "counts the whole of October 2026 and November 2026" in payload_as_text(reply.payload)

    october = ask(db, "team payments 2026-10")
    # The NAT gateway is billed only in November: in October it is nowhere.
    payments = ("i-full", "i-noproduct", "i-emptycc")
    check(october, u.expected_figures(("2026-10",), lambda r, a: r in payments))
    assert figures(october)["period"]["whole_months"] is True


def test_bare_untagged_in_a_team_channel_is_that_team(db) -> None:
    in_channel = ask(db, "", asker=Asker(user_id="U1", channel_name="team-search"))
    assert figures(in_channel)["scope"] == {"kind": "team", "value": "search"}
    elsewhere = ask(db, "7d", asker=Asker(user_id="U1", channel_name="random"))
    assert figures(elsewhere)["scope"] == {"kind": "org", "value": "all"}


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("team paymnts", "Did you mean `payments`"),
        ("team payments fortnight", "`fortnight` is not a period"),
        ("team payments last month", "periods are one word"),
        ("all 2026-13", "is not a month"),
        ("all yesterday", "`yesterday` is not a period"),
        ("all 7d extra words", "but not `7d extra words`"),
        ("account 999999999999", "I don't know the account `999999999999`"),
        ("account acme", "names 3 accounts"),
        ("everything", "is not an `/untagged` scope"),
        ("team", "Which team?"),
    ],
)
def test_bad_input_is_one_clear_private_line_and_changes_nothing(db_path, text, says) -> None:
    before = hashlib.sha256(db_path.read_bytes()).hexdigest()
    db = open_reader(db_path)
    try:
        reply = ask(db, text)
    finally:
        db.close()
    assert reply.is_error
    assert reply.payload["response_type"] == "ephemeral"
    assert says in payload_as_text(reply.payload)
    assert "/untagged help" in payload_as_text(reply.payload)
    assert hashlib.sha256(db_path.read_bytes()).hexdigest() == before


def test_help(db) -> None:
    reply = ask(db, "help")
    assert not reply.is_error
    assert "/untagged team &lt;team&gt; [period]" in all_text(reply.payload)


def _raw_mentions(payload: dict) -> list[str]:
    """`<...>` that Slack would read as a mention or link, in any text field (fallback
    included); our own `<@U...>` claim notes are the only ones allowed."""
    found = []
    for text in re.findall(r'"text": "((?:[^"\\]|\\.)*)"', json.dumps(payload, ensure_ascii=False)):
        found += re.findall(r"<[^>]*>", text)
    return found


def test_hostile_tag_values_are_escaped_everywhere(db) -> None:
    payload = ask(db, "account 333333333333").payload
    assert _raw_mentions({"text": payload["text"], "blocks": payload["blocks"]}) == []
    shown = all_text(payload["blocks"])
    assert "&lt;!channel&gt; *bold* &amp; 'tick'" in shown
    # A team named by a hostile value, asked for by that value, still answers escaped.
    hostile = ask(db, "team <!channel> *bold* & `tick`")
    assert not hostile.is_error
    assert (
        _raw_mentions({"text": hostile.payload["text"], "blocks": hostile.payload["blocks"]}) == []
    )


def test_the_trend_appears_once_days_are_stored(db_path, tmp_path) -> None:
    path = tmp_path / "trend.db"
    path.write_bytes(db_path.read_bytes())
    db = open_store(path)
    try:
        assert "Trend" not in payload_as_text(ask(db, "").payload)
        for day in (date(2026, 11, 10), date(2026, 11, 20)):
            write_compliance(db, day, compliance(db, CONFIG, day))
        text = payload_as_text(ask(db, "").payload)
    finally:
        db.close()
    assert "📈 Trend, share of cost compliant: Nov 10" in text
    assert "2 days stored" in text


def test_limits_hold_for_ten_thousand_resources(tmp_path) -> None:
    db = open_store(tmp_path / "many.db")
    account = "555555555555"
    db["resources"].insert_all(
        {
            "arn": f"arn:aws:ec2:us-east-1:{account}:instance/i-{n:05d}" + "x" * 60,
            "resource_id": f"i-{n:05d}<!channel>" + "&" * 200,
            "resource_type": "ec2:instance",
            "account_id": account,
            "region": "us-east-1",
            "tags": json.dumps({"Team": f"team-{n % 300}" + "*" * 300}),
            "team": f"team-{n % 300}",
            "first_seen": "2026-11-01T00:00:00+00:00",
            "snapshot_region": "us-east-1",
            "read_by": "ec2",
        }
        for n in range(10_000)
    )
    db["resource_cost"].insert_all(
        {
            "month": "2026-11",
            "account_id": account,
            "resource_id": f"arn:aws:ec2:us-east-1:{account}:instance/i-{n:05d}" + "x" * 60,
            "effective_micros": 1_000_000 * (n + 1),
            "billed_micros": 0,
            "list_micros": 0,
        }
        for n in range(10_000)
    )
    reply = answer_untagged("", db=db, config=CONFIG, today=u.TODAY)
    payload = reply.payload
    assert len(payload["blocks"]) <= 50
    for block in payload["blocks"]:
        for text in [block.get("text") or {}, *(block.get("fields") or [])]:
            assert len(text.get("text", "")) <= (150 if block["type"] == "header" else 3000)
        accessory = block.get("accessory") or {}
        assert len(accessory.get("value", "")) <= 2000
        assert len((accessory.get("text") or {}).get("text", "")) <= 75
    assert len(payload["text"]) <= 3000
    text = payload_as_text(payload)
    assert "…and 9,990 more" in text
    # $1 + $2 + ... + $10,000, all non-compliant.
    assert "$50,005,000.00 of $50,005,000.00" in text
    assert _raw_mentions({"text": payload["text"], "blocks": payload["blocks"]}) == []
    db.close()


def test_costbot_ask_json_carries_the_figures(db_path, monkeypatch, capsys, tmp_path) -> None:
    config_path = tmp_path / "costbot.yml"
    config_path.write_text(json.dumps(u.CONFIG_DATA))
    monkeypatch.setenv("COSTBOT_DB", str(db_path))
    monkeypatch.setenv("COSTBOT_CONFIG", str(config_path))
    assert main(["ask", "--json", "--today", "2026-11-21", "/untagged team payments"]) == 0
    payload = json.loads(capsys.readouterr().out)
    expected = u.expected_figures(
        ("2026-11",), lambda r, a: r in ("i-full", "i-noproduct", "i-emptycc", (u.B, "nat-0abc"))
    )
    found = payload["metadata"]["event_payload"]
    assert found["noncompliant_cost_micros"] == sum(v[0] for v in expected["noncompliant"].values())
    assert found["scope"] == {"kind": "team", "value": "payments"}

    assert main(["ask", "--today", "2026-11-21", "/untagged team nobody"]) == 2
    assert "I don't know the team `nobody`" in capsys.readouterr().err
    assert main(["ask", "--today", "2026-11-21", "/untagged all"]) == 0
    assert "Tagging: the organisation" in capsys.readouterr().out
