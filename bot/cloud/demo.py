"""An in-memory cloud for `costbot demo`: `CloudActions` over a few synthetic resources, so the
preview shows the enforcement ladder's real messages (report, stop, approval, termination)
without an AWS account. It also writes its resources into a store as the inventory sync
would, so the job reads them the way it reads AWS's."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime

import sqlite_utils

from bot.cloud.aws import CloudActionFailed, LiveResource
from bot.config import Config
from bot.sources.aws.inventory import team_of
from bot.store.writers import InventorySnapshot, write_inventory_snapshot

DEMO_ACCOUNT = "210987654321"
DEMO_REGION = "eu-west-1"


class DemoCloud:
    """`CloudActions` in memory: stop, terminate (RDS: the final snapshot is kept in
    `snapshots`), tag; `read` answers what those did."""

    def __init__(self, resources: list[LiveResource] | None = None) -> None:
        self.resources: dict[str, LiveResource] = {r.arn: r for r in resources or []}
        self.snapshots: dict[str, str] = {}  # snapshot id -> DB instance id

    def add(
        self,
        resource_type: str,
        resource_id: str,
        tags: Mapping[str, str] | None = None,
        *,
        account: str = DEMO_ACCOUNT,
        region: str = DEMO_REGION,
    ) -> LiveResource:
        service, kind = resource_type.split(":", 1)
        separator = ":" if service == "rds" else "/"
        arn = f"arn:aws:{service}:{region}:{account}:{kind}{separator}{resource_id}"
        state = "available" if service == "rds" else "running"
        live = LiveResource(
            arn, resource_type, resource_id, account, region, state, dict(tags or {})
        )
        self.resources[arn] = live
        return live

    def read(self, arn: str) -> LiveResource | None:
        return self.resources.get(arn)

    def stop(self, arn: str) -> None:
        self._set(arn, state="stopped")

    def terminate(self, arn: str, *, final_snapshot_id: str | None = None) -> None:
        live = self._get(arn)
        if live.resource_type == "rds:db":
            if not final_snapshot_id:
                raise CloudActionFailed(f"{live.resource_id}: no final snapshot named")
            self.snapshots[final_snapshot_id] = live.resource_id
            del self.resources[arn]
        else:
            self._set(arn, state="terminated")

    def tag(self, arn: str, tags: Mapping[str, str]) -> None:
        live = self._get(arn)
        self._set(arn, tags={**live.tags, **{str(k): str(v) for k, v in tags.items()}})

    def sync_into(self, db: sqlite_utils.Database, config: Config, now: datetime) -> int:
        """Write the live resources into the store's inventory, as `costbot sync inventory`
        would (terminated instances drop out)."""
        seen_at = now.isoformat(timespec="seconds")
        by_place: dict[tuple[str, str], list[dict]] = {}
        for live in self.resources.values():
            if live.state == "terminated":
                continue
            by_place.setdefault((live.account, live.region), []).append(
                {
                    "arn": live.arn,
                    "resource_id": live.resource_id,
                    "resource_type": live.resource_type,
                    "account_id": live.account,
                    "region": live.region,
                    "name": live.tags.get("Name"),
                    "state": live.state,
                    "tags": live.tags,
                    "team": team_of(live.tags, config),
                    "idle": 0,
                    "read_by": live.resource_type.split(":", 1)[0],
                }
            )
        places = {(r.account, r.region) for r in self.resources.values()}
        written = 0
        for account, region in sorted(places):
            snapshot = InventorySnapshot(
                account, region, seen_at, {"ec2", "rds"}, by_place.get((account, region), [])
            )
            written += write_inventory_snapshot(db, snapshot)
        return written

    def _get(self, arn: str) -> LiveResource:
        live = self.resources.get(arn)
        if live is None:
            raise CloudActionFailed(f"{arn}: not found")
        return live

    def _set(self, arn: str, **changes: object) -> None:
        self.resources[arn] = replace(self._get(arn), **changes)
