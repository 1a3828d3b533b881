"""The sync's tagging line rounds the compliant share down, as /untagged does: a share just
under the target never shows as the target."""

from __future__ import annotations

from datetime import date

from bot.analytics.tag_compliance import Compliance, ComplianceReport
from bot.config import Config
from jobs.sync import _compliance_line


def _org(compliant_micros: int, cost_micros: int) -> Compliance:
    return Compliance(
        kind="org",
        value="all",
        resources=10,
        compliant_resources=9,
        exempt_resources=0,
        cost_micros=cost_micros,
        compliant_cost_micros=compliant_micros,
        exempt_cost_micros=0,
        unlisted_cost_micros=0,
        missing=(),
    )


def test_the_share_is_rounded_down():
    config = Config()
    report = ComplianceReport(
        day=date(2026, 11, 20),
        month="2026-11",
        required_tags=tuple(config.tag_policy.required_tags),
        target=config.tag_policy.target,
        organisation=_org(9_796_000, 10_000_000),  # 97.96%
        teams=(),
        accounts=(),
    )
    line = _compliance_line(report, config)
    assert "(97.9%)" in line and "98.0%" not in line
    assert "$9.80 of $10.00" in line
