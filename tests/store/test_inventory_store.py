"""The inventory's writer and queries on hand-made snapshots: a snapshot replaces only the
reads that succeeded, in its own account and region; what a read could not see is kept."""

from __future__ import annotations

import json

import pytest

from bot.store import open_store, queries
from bot.store.writers import InventorySnapshot, write_inventory_snapshot

ACCOUNT = "111111111111"


def _resource(resource_id: str, read_by: str = "ec2", **values) -> dict:
    kind = {"ec2": "ec2:instance", "rds": "rds:db", "tagging": "ec2:volume"}[read_by]
    return {
        "arn": f"arn:aws:{kind.split(':')[0]}:us-east-1:{ACCOUNT}:{resource_id}",
        "resource_id": resource_id,
        "resource_type": kind,
        "account_id": values.pop("account_id", ACCOUNT),
        "region": "us-east-1",
        "name": resource_id,
        "state": "running" if read_by == "ec2" else None,
        "tags": {"Team": "payments"},
        "team": "payments",
        "idle": 0,
        "read_by": read_by,
        **values,
    }


def _snapshot(when: str, reads: set[str], *resources: dict, region: str = "us-east-1"):
    return InventorySnapshot(
        ACCOUNT, region, f"2026-11-{when}T06:00:00+00:00", reads, list(resources)
    )


@pytest.fixture
def db():
    store = open_store(":memory:")
    yield store
    store.close()


def _stored(db) -> dict[str, dict]:
    return {row["resource_id"]: row for row in queries.resources(db)}


def test_a_snapshot_replaces_its_reads_and_keeps_first_seen(db):
    write_inventory_snapshot(
        db,
        _snapshot(
            "20", {"ec2", "rds"}, _resource("i-1"), _resource("i-2"), _resource("db-1", "rds")
        ),
    )
    write_inventory_snapshot(
        db, _snapshot("21", {"ec2", "rds"}, _resource("i-1"), _resource("db-1", "rds"))
    )

    stored = _stored(db)
    assert set(stored) == {"i-1", "db-1"}  # i-2 is gone
    assert stored["i-1"]["first_seen"] == "2026-11-20T06:00:00+00:00"
    assert stored["i-1"]["last_seen"] == "2026-11-21T06:00:00+00:00"
    assert json.loads(stored["i-1"]["tags"]) == {"Team": "payments"}


def test_a_failed_read_keeps_its_rows_and_other_regions_are_untouched(db):
    write_inventory_snapshot(
        db, _snapshot("20", {"ec2", "rds"}, _resource("i-1"), _resource("db-1", "rds"))
    )
    write_inventory_snapshot(db, _snapshot("20", {"ec2"}, _resource("i-eu"), region="eu-west-1"))
    before = _stored(db)

    # EC2 could not be read in us-east-1: its instance stays exactly as stored.
    write_inventory_snapshot(db, _snapshot("21", {"rds"}, _resource("db-2", "rds")))

    after = _stored(db)
    assert set(after) == {"i-1", "db-2", "i-eu"}
    assert after["i-1"] == before["i-1"]
    assert after["i-eu"] == before["i-eu"]


def test_unknown_tags_and_idleness_keep_what_was_stored(db):
    write_inventory_snapshot(
        db,
        _snapshot("20", {"ec2"}, _resource("i-1", idle=1, cpu_daily={"2026-11-19": 1.5})),
    )
    write_inventory_snapshot(
        db, _snapshot("21", {"ec2"}, _resource("i-1", tags=None, team=None, idle=None))
    )
    row = _stored(db)["i-1"]
    assert (row["team"], row["idle"]) == ("payments", 1)
    assert json.loads(row["cpu_daily"]) == {"2026-11-19": 1.5}


def test_rows_of_a_read_that_failed_are_refused(db):
    with pytest.raises(ValueError, match="not among the snapshot's successful reads"):
        write_inventory_snapshot(db, _snapshot("20", {"rds"}, _resource("i-1")))
    assert queries.resources(db) == []


def test_counts_and_filters(db):
    write_inventory_snapshot(
        db,
        _snapshot(
            "20",
            {"ec2", "tagging"},
            _resource("i-1", idle=1),
            _resource("i-2", tags={}, team=None),
            _resource("vol-1", "tagging", tags={"team": "search"}, team="search"),
        ),
    )
    by_type = {
        c.name: (c.resources, c.untagged, c.idle) for c in queries.resource_counts(db, "type")
    }
    assert by_type == {"ec2:instance": (2, 1, 1), "ec2:volume": (1, 0, 0)}
    assert [r["resource_id"] for r in queries.resources(db, team=queries.UNTAGGED)] == ["i-2"]
    assert [r["resource_id"] for r in queries.resources(db, resource_type="ec2:volume")] == [
        "vol-1"
    ]
    assert [r["resource_id"] for r in queries.idle_resources(db, account=ACCOUNT)] == ["i-1"]
    assert queries.inventory_seen_at(db) == "2026-11-20T06:00:00+00:00"
    with pytest.raises(ValueError):
        queries.resource_counts(db, "colour")
