"""Tagging compliance over an inventory written by the inventory's writer and resource-level
cost loaded from a real FOCUS file through the ingest, shaped like real bills: keys spelt
`team`, `user:Team`, `cost-center`, empty values, hostile values, exempt and untagged
resources, two accounts, billed resources the inventory lacks and the reverse. Every figure
is checked against a table written by hand below, summed independently."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest
from focus_rows import focus_row, write_rows

from bot.analytics.tag_compliance import (
    ORGANISATION,
    compliance,
    costliest_noncompliant,
    is_exempt,
    missing_tags,
    months_touched,
)
from bot.config import Config
from bot.sources.aws.inventory import team_of
from bot.sources.focus_ingest import ingest_focus
from bot.store import open_store, queries
from bot.store.queries import UNTAGGED
from bot.store.writers import InventorySnapshot, write_compliance, write_inventory_snapshot

CONFIG = Config()
REQUIRED = ("Team", "Product", "Environment", "CostCenter")
A, B = "222222222222", "333333333333"
DAY = date(2026, 11, 20)
HOSTILE_TEAM = "<!channel> *Pay* & `ments`"

# What the inventory holds: id -> (account, read, type, tags now, launched_at).
INVENTORY = {
    "i-full": (
        A,
        "ec2",
        "ec2:instance",
        {"Team": "payments", "Product": "checkout", "Environment": "prod", "CostCenter": "cc-1"},
        "2026-10-01T08:00:00+00:00",
    ),
    "i-spelt": (
        A,
        "ec2",
        "ec2:instance",
        {
            "user:Team": "payments",
            "product": "checkout",
            "ENVIRONMENT": "dev",
            "cost-center": "cc-2",
        },
        "2026-11-01T00:00:00+00:00",
    ),
    "i-empty": (
        A,
        "ec2",
        "ec2:instance",
        {"team": "payments", "Product": "  ", "Environment": "dev", "Cost_Center": ""},
        None,
    ),
    "db-exempt": (
        A,
        "rds",
        "rds:db",
        {"Team": "search", "costbot:exempt": "true"},
        "2026-09-20T00:00:00+00:00",
    ),
    "i-untagged": (A, "ec2", "ec2:instance", {}, "2026-11-10T12:00:00+00:00"),
    "i-hostile": (
        A,
        "ec2",
        "ec2:instance",
        {
            "Team": HOSTILE_TEAM,
            "Product": "a&b <x>",
            "Environment": "`rm -rf`",
            "CostCenter": "<@U123>",
        },
        None,
    ),
    "i-nocost": (A, "ec2", "ec2:instance", {"Team": "search"}, None),
    "vol-b": (
        B,
        "tagging",
        "ec2:volume",
        {
            "Team": "search",
            "Product": "idx",
            "Environment": "staging",
            "CostCenter": "cc-9",
            "costbot:exempt": "false",
        },
        None,
    ),
    "i-b-noexempt": (B, "ec2", "ec2:instance", {"Team": "search", "COSTBOT:EXEMPT": "no"}, None),
}
# Required keys each lacks and whether it is exempt, decided by reading the tags above.
EXPECTED = {
    "i-full": ((), False),
    "i-spelt": ((), False),
    "i-empty": (("Product", "CostCenter"), False),
    "db-exempt": (("Product", "Environment", "CostCenter"), True),
    "i-untagged": (REQUIRED, False),
    "i-hostile": ((), False),
    "i-nocost": (("Product", "Environment", "CostCenter"), False),
    "vol-b": ((), False),
    "i-b-noexempt": (("Product", "Environment", "CostCenter"), False),
    # billed, not in the inventory: judged by the bill's tags
    (B, "nat-0abc"): (("Product", "Environment", "CostCenter"), False),
    (B, "i-empty"): ((), False),  # the same id in another account is another resource
}
TEAM_OF = {
    "i-full": "payments",
    "i-spelt": "payments",
    "i-empty": "payments",
    "db-exempt": "search",
    "i-untagged": UNTAGGED,
    "i-hostile": None,  # the config's rules on a hostile value: asked of team_of below
    "i-nocost": "search",
    "vol-b": "search",
    "i-b-noexempt": "search",
    (B, "nat-0abc"): "network",
    (B, "i-empty"): "payments",
}
FULL_BILL_TAGS = {"Team": "payments", "Product": "p", "Environment": "dev", "CostCenter": "c"}


def _arn(account: str, kind: str, resource_id: str) -> str:
    service, what = kind.split(":")
    separator = ":" if service == "rds" else "/"
    return f"arn:aws:{service}:us-east-1:{account}:{what}{separator}{resource_id}"


def _charge(day: date, cost: str, account: str, resource: str, tags: dict | None) -> dict:
    row = focus_row(day, cost, sub_account=(account, f"acct-{account}"), resource=resource)
    row["Tags"] = json.dumps(tags) if tags is not None else ""
    return row


def _charges() -> list[tuple[object, dict]]:
    """(the resource it is for, FOCUS row): ResourceIds as ARNs for some, bare ids for
    others; the bill's tags differ from the inventory's where it matters."""
    nov = [date(2026, 11, d) for d in (1, 7, 19)]
    out = []
    for n, day in enumerate(nov):
        out += [
            (
                "i-full",
                _charge(
                    day,
                    f"10.12345{n}",
                    A,
                    _arn(A, "ec2:instance", "i-full"),
                    INVENTORY["i-full"][3],
                ),
            ),
            ("i-spelt", _charge(day, "3.5", A, "i-spelt", {"team": "payments"})),
            # the bill says fully tagged; the inventory (now) says otherwise, and wins
            ("i-empty", _charge(day, "7.000001", A, "i-empty", FULL_BILL_TAGS)),
            ("db-exempt", _charge(day, "20.25", A, _arn(A, "rds:db", "db-exempt"), None)),
            ("i-untagged", _charge(day, "0.333333", A, "i-untagged", None)),
            ("i-hostile", _charge(day, "1.01", A, "i-hostile", {"Team": HOSTILE_TEAM})),
            ("vol-b", _charge(day, "2.2", B, _arn(B, "ec2:volume", "vol-b"), None)),
            ("i-b-noexempt", _charge(day, "4.04", B, "i-b-noexempt", {"Team": "search"})),
            (
                (B, "nat-0abc"),
                _charge(day, "32.4", B, "nat-0abc", {"user:Team": "Network", "Product": ""}),
            ),
            ((B, "i-empty"), _charge(day, "0.5", B, "i-empty", FULL_BILL_TAGS)),
        ]
    # October: outside the month of DAY, inside a period that starts in October.
    out += [
        ("i-full", _charge(date(2026, 10, 30), "100", A, _arn(A, "ec2:instance", "i-full"), None)),
        ("i-untagged", _charge(date(2026, 10, 31), "55.55", A, "i-untagged", None)),
    ]
    return out


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("compliance")
    charges = _charges()
    db_path = folder / "costbot.db"
    ingest_focus(
        [str(write_rows(folder / "focus.csv", [row for _, row in charges]))], CONFIG, db_path
    )
    db = open_store(db_path)
    for account in (A, B):
        reads = {read for acct, read, *_ in INVENTORY.values() if acct == account}
        resources = [
            {
                "arn": _arn(account, kind, resource_id),
                "resource_id": resource_id,
                "resource_type": kind,
                "account_id": account,
                "region": "us-east-1",
                "name": resource_id,
                "launched_at": launched,
                "tags": tags,
                "team": team_of(tags, CONFIG),
                "idle": 0,
                "read_by": read,
            }
            for resource_id, (acct, read, kind, tags, launched) in INVENTORY.items()
            if acct == account
        ]
        write_inventory_snapshot(
            db,
            InventorySnapshot(account, "us-east-1", "2026-11-15T06:00:00+00:00", reads, resources),
        )
    yield db, charges
    db.close()


def _micros(charges, months: tuple[str, ...]) -> dict[object, int]:
    """Cost per resource in `months`: Decimal sums of the FOCUS rows, no Costbot code."""
    sums: dict[object, Decimal] = {}
    for resource, row in charges:
        if row["ChargePeriodStart"][:7] in months:
            sums[resource] = sums.get(resource, Decimal(0)) + Decimal(row["EffectiveCost"])
    return {resource: int(total * 1_000_000) for resource, total in sums.items()}


def _team(resource) -> str:
    team = TEAM_OF[resource]
    return team if team is not None else team_of({"Team": HOSTILE_TEAM}, CONFIG)


def _account(resource) -> str:
    return resource[0] if isinstance(resource, tuple) else INVENTORY[resource][0]


def _expected(charges, belongs) -> dict:
    """The figures of the resources for which `belongs(resource)` holds, summed by hand."""
    cost = _micros(charges, ("2026-11",))
    figures = dict.fromkeys(
        ("resources", "compliant", "exempt", "cost", "compliant_cost", "exempt_cost", "unlisted"), 0
    )
    gaps: dict[str, list[int]] = {}
    for resource, (missing, exempt) in EXPECTED.items():
        if not belongs(resource):
            continue
        listed = not isinstance(resource, tuple)
        micros = cost.get(resource, 0)
        figures["resources"] += listed
        figures["cost"] += micros
        figures["unlisted"] += 0 if listed else micros
        if not missing:
            figures["compliant"] += listed
            figures["compliant_cost"] += micros
        if missing and exempt:
            figures["exempt"] += listed
            figures["exempt_cost"] += micros
        for key in missing:
            gap = gaps.setdefault(key, [0, 0])
            gap[0] += listed
            gap[1] += micros
    figures["missing"] = gaps
    return figures


def _assert_scope(figure, expected) -> None:
    assert figure.resources == expected["resources"]
    assert figure.compliant_resources == expected["compliant"]
    assert figure.exempt_resources == expected["exempt"]
    assert figure.cost_micros == expected["cost"]
    assert figure.compliant_cost_micros == expected["compliant_cost"]
    assert figure.noncompliant_cost_micros == expected["cost"] - expected["compliant_cost"]
    assert figure.exempt_cost_micros == expected["exempt_cost"]
    assert figure.unlisted_cost_micros == expected["unlisted"]
    assert {g.key: [g.resources, g.cost_micros] for g in figure.missing} == expected["missing"]
    if expected["resources"]:
        assert figure.resource_share == Decimal(expected["compliant"]) / expected["resources"]
    if expected["cost"]:
        assert figure.cost_share == Decimal(expected["compliant_cost"]) / expected["cost"]


# ---- one resource's tags


def test_missing_tags_match_keys_like_the_team_tag():
    tags = {"user:Team": "x", "product": "y", "ENVIRONMENT": " ", "cost-center": "z"}
    assert missing_tags(tags, REQUIRED) == ("Environment",)
    assert missing_tags({"Cost_Center": "1", "TEAM": ""}, REQUIRED) == REQUIRED[:3]
    assert missing_tags(None, REQUIRED) == REQUIRED
    assert missing_tags({}, ()) == ()


def test_exemption_is_the_tag_with_any_value_but_an_explicit_no():
    assert is_exempt({"costbot:exempt": "true"}, "costbot:exempt")
    assert is_exempt({"user:Costbot:Exempt": ""}, "costbot:exempt")
    assert not is_exempt({"costbot:exempt": "False "}, "costbot:exempt")
    assert not is_exempt({"Team": "x"}, "costbot:exempt")
    assert not is_exempt(None, "costbot:exempt")


# ---- a day's compliance


def test_the_organisation_teams_and_accounts_against_a_hand_count(store):
    db, charges = store
    report = compliance(db, CONFIG, DAY)

    assert report.month == "2026-11"
    assert report.required_tags == REQUIRED
    _assert_scope(report.organisation, _expected(charges, lambda r: True))
    # exact micros, checked once more against the literal FOCUS amounts
    assert report.organisation.unlisted_cost_micros == 3 * (32_400_000 + 500_000)
    assert report.organisation.resources == 9
    assert report.organisation.compliant_resources == 4
    assert report.organisation.exempt_resources == 1

    teams = {figure.value: figure for figure in report.teams}
    assert set(teams) == {_team(r) for r in EXPECTED}
    assert UNTAGGED in teams
    for name, figure in teams.items():
        _assert_scope(figure, _expected(charges, lambda r, name=name: _team(r) == name))
    accounts = {figure.value: figure for figure in report.accounts}
    assert set(accounts) == {A, B}
    for account, figure in accounts.items():
        _assert_scope(figure, _expected(charges, lambda r, a=account: _account(r) == a))


def test_the_keys_missing_most_come_first(store):
    db, _ = store
    gaps = compliance(db, CONFIG, DAY).organisation.missing
    # Product and CostCenter: 5 listed resources each, the same cost (ties go by key);
    # Environment: 4; Team: 1 (i-untagged)
    assert [(gap.key, gap.resources) for gap in gaps] == [
        ("CostCenter", 5),
        ("Product", 5),
        ("Environment", 4),
        ("Team", 1),
    ]


def test_a_required_list_from_the_config_changes_what_complies(store):
    db, charges = store
    config = Config(tag_policy=type(CONFIG.tag_policy)(required_tags=("team",)))
    report = compliance(db, config, DAY)
    cost = _micros(charges, ("2026-11",))
    untagged = cost["i-untagged"]
    assert report.organisation.resources == 9
    assert report.organisation.compliant_resources == 8
    assert report.organisation.noncompliant_cost_micros == untagged
    assert [(g.key, g.resources, g.cost_micros) for g in report.organisation.missing] == [
        ("team", 1, untagged)
    ]


# ---- the costliest non-compliant resources of a period


def test_costliest_noncompliant_month_to_date(store):
    db, charges = store
    found = costliest_noncompliant(db, CONFIG, date(2026, 11, 1), DAY, limit=3, month_to_date=True)
    cost = _micros(charges, ("2026-11",))
    noncompliant = [r for r, (missing, _) in EXPECTED.items() if missing]
    assert found.total == len(noncompliant)
    assert found.cost_micros == sum(cost.get(r, 0) for r in noncompliant)
    assert found.period.months == ("2026-11",) and found.period.whole_months
    top = found.resources
    assert [(r.account_id, r.resource_id) for r in top] == [
        (B, "nat-0abc"),
        (A, "db-exempt"),
        (A, "i-empty"),
    ]
    nat, db_exempt, empty = top
    assert nat.cost_micros == 3 * 32_400_000 and not nat.in_inventory and nat.arn is None
    assert nat.age_days(DAY) is None and nat.team == "network"
    assert db_exempt.exempt and db_exempt.missing == ("Product", "Environment", "CostCenter")
    assert db_exempt.resource_type == "rds:db" and db_exempt.region == "us-east-1"
    assert db_exempt.age_days(DAY) == 61  # launched September 20
    assert empty.cost_micros == 21_000_003
    assert empty.age_days(DAY) == 5  # never launched: first seen on November 15


def test_a_period_across_months_counts_the_months_it_touches(store):
    db, charges = store
    found = costliest_noncompliant(
        db, CONFIG, date(2026, 10, 25), date(2026, 11, 5), scope="team", value=UNTAGGED
    )
    assert found.period.months == ("2026-10", "2026-11") and not found.period.whole_months
    [untagged] = found.resources
    assert untagged.resource_id == "i-untagged"
    assert untagged.cost_micros == _micros(charges, ("2026-10", "2026-11"))["i-untagged"]
    assert untagged.cost_micros == 55_550_000 + 999_999


def test_scopes_team_and_account(store):
    db, _ = store
    by_account = costliest_noncompliant(
        db, CONFIG, date(2026, 11, 1), DAY, scope="account", value=B
    )
    assert [r.resource_id for r in by_account.resources] == ["nat-0abc", "i-b-noexempt"]
    search = costliest_noncompliant(
        db, CONFIG, date(2026, 11, 1), DAY, scope="team", value="search"
    )
    assert [r.resource_id for r in search.resources] == ["db-exempt", "i-b-noexempt", "i-nocost"]
    assert search.resources[-1].cost_micros == 0
    assert months_touched(date(2025, 12, 31), date(2026, 1, 1)) == ("2025-12", "2026-01")
    with pytest.raises(ValueError):
        costliest_noncompliant(db, CONFIG, date(2026, 11, 1), DAY, scope="team")


# ---- stored daily


def test_a_day_written_twice_leaves_one_set_and_the_trend_shows(tmp_path, store):
    db, _ = store
    report = compliance(db, CONFIG, DAY)
    days = [date(2026, 11, 18), date(2026, 11, 19), date(2026, 11, 20)]
    trend_db = open_store(tmp_path / "trend.db")
    try:
        for day in days:
            write_compliance(trend_db, day, compliance(db, CONFIG, day))
        before = list(trend_db.query("SELECT * FROM tag_compliance ORDER BY day, kind, value"))
        written = write_compliance(trend_db, DAY, report)
        after = list(trend_db.query("SELECT * FROM tag_compliance ORDER BY day, kind, value"))
        assert written == 1 + len(report.teams) + len(report.accounts)
        assert len(after) == len(before) == 3 * written
        strip = [{k: v for k, v in row.items() if k != "computed_at"} for row in after]
        assert strip == [{k: v for k, v in row.items() if k != "computed_at"} for row in before]

        trend = queries.compliance_trend(trend_db, "org", ORGANISATION, date(2026, 11, 19))
        assert [row["day"] for row in trend] == ["2026-11-19", "2026-11-20"]
        organisation = report.organisation
        assert trend[-1]["cost_micros"] == organisation.cost_micros
        assert trend[-1]["compliant_resources"] == organisation.compliant_resources
        assert trend[-1]["missing"]["CostCenter"] == {
            "resources": next(g.resources for g in organisation.missing if g.key == "CostCenter"),
            "cost_micros": next(
                g.cost_micros for g in organisation.missing if g.key == "CostCenter"
            ),
        }
        team = queries.compliance_trend(trend_db, "team", "search", date(2026, 11, 1))
        assert len(team) == 3 and team[0]["exempt_resources"] == 1
    finally:
        trend_db.close()
