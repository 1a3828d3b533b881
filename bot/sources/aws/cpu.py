"""EC2 CPU from CloudWatch for the inventory's idle check: one daily average per instance
over a window of whole UTC days, read with GetMetricData (up to 500 instances a call), and
the rule that calls an instance idle."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

# GetMetricData takes at most 500 queries a call.
METRIC_QUERIES_PER_CALL = 500
DAY = timedelta(days=1)


@dataclass(frozen=True)
class IdleWindow:
    """The last `days` whole UTC days before `now` (today, still running, is left out)."""

    start: datetime
    end: datetime

    @classmethod
    def ending(cls, now: datetime, days: int) -> IdleWindow:
        end = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        return cls(end - days * DAY, end)

    @property
    def days(self) -> list[str]:
        count = (self.end - self.start) // DAY
        return [(self.start + n * DAY).date().isoformat() for n in range(count)]

    def is_idle(self, daily: dict[str, float], launched_at: str | None, threshold: float) -> bool:
        """Idle: running since before the window, a datapoint for every day, each day's
        average under `threshold`. A younger instance, or a day missing, is not enough to
        say so."""
        old_enough = launched_at is not None and launched_at <= self.start.isoformat()
        days = self.days
        return (
            old_enough
            and all(day in daily for day in days)
            and all(daily[day] < threshold for day in days)
        )


def daily_cpu(client, instance_ids: Sequence[str], window: IdleWindow) -> list[dict[str, float]]:
    """For each instance (at most METRIC_QUERIES_PER_CALL), its average CPUUtilization per
    UTC day of the window: {"YYYY-MM-DD": percent}, days without data left out."""
    if len(instance_ids) > METRIC_QUERIES_PER_CALL:
        raise ValueError(f"GetMetricData takes at most {METRIC_QUERIES_PER_CALL} queries")
    queries = [
        {
            "Id": f"cpu{index}",
            "MetricStat": {
                "Metric": {
                    "Namespace": "AWS/EC2",
                    "MetricName": "CPUUtilization",
                    "Dimensions": [{"Name": "InstanceId", "Value": instance_id}],
                },
                "Period": int(DAY.total_seconds()),
                "Stat": "Average",
            },
            "ReturnData": True,
        }
        for index, instance_id in enumerate(instance_ids)
    ]
    wanted = set(window.days)
    series: list[dict[str, float]] = [{} for _ in instance_ids]
    request = {"MetricDataQueries": queries, "StartTime": window.start, "EndTime": window.end}
    while True:
        page = client.get_metric_data(**request)
        # A query's datapoints may come over several pages: merged by its Id.
        for result in page.get("MetricDataResults", []):
            values = series[int(result["Id"].removeprefix("cpu"))]
            stamps, averages = result.get("Timestamps", []), result.get("Values", [])
            for stamp, value in zip(stamps, averages, strict=True):
                day = stamp.astimezone(UTC).date().isoformat()
                if day in wanted:
                    values[day] = float(value)
        if not page.get("NextToken"):
            return series
        request["NextToken"] = page["NextToken"]
