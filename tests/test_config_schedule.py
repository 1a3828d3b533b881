"""The scheduling, reports and champions keys of costbot.yml: defaults, the example file, and
one line naming the field for each mistake."""

import pytest

from bot.config import DEFAULT_CRONS, SCHEDULED_JOBS, ConfigError, load_config, parse_config
from tests.test_config import ROOT


def test_defaults_run_every_job_on_the_documented_cadence():
    config = parse_config({})
    assert set(config.schedule.jobs) == set(SCHEDULED_JOBS)
    assert {job: s.cron for job, s in config.schedule.jobs.items()} == DEFAULT_CRONS
    assert config.schedule.jobs["weekly-digest"].cron == "0 9 * * mon"
    assert config.schedule.grace_hours == 6
    assert config.slack.admin_channel == "#finops"
    assert config.reports.savings_plans_target == (0.70, 0.80)
    assert config.champions.engineer_cost_per_year_micros == 187_500_000_000


def test_example_file_sets_schedule_reports_and_champions():
    config = load_config(ROOT / "costbot.example.yml")
    champions = config.schedule.jobs["champions"]
    assert (champions.cron, champions.timezone) == ("0 10 1 * *", "Europe/Berlin")
    payments = config.team("payments")
    assert payments.leads == ("U0PAYLEAD1",)
    assert config.leads_channel("pay") == "#payments-leads"
    assert config.leads_channel("platform") == "#team-platform"
    assert config.reports.quarterly_channel == "#finops-leadership"
    assert config.champions.weights.compliance_point == 500


def test_a_job_left_out_keeps_its_default_and_one_can_be_switched_off():
    config = parse_config(
        {"timezone": "Asia/Tokyo", "schedule": {"jobs": {"idle": {"enabled": False}}}}
    )
    assert config.schedule.timezone == "Asia/Tokyo"
    assert config.schedule.jobs["idle"].enabled is False
    assert config.schedule.jobs["idle"].cron == DEFAULT_CRONS["idle"]
    assert config.schedule.jobs["sync"].cron == DEFAULT_CRONS["sync"]


def test_leads_are_members_for_the_teams_of_a_user():
    config = parse_config({"teams": [{"name": "a", "leads": ["U1"]}, {"name": "b"}]})
    assert [t.name for t in config.teams_of_user("U1")] == ["a"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"schedule": {"jobs": {"sync": {"cron": "0 6 * *"}}}}, "schedule.jobs.sync: cron"),
        ({"schedule": {"jobs": {"weekly": {"cron": "0 9 * * mon"}}}}, "schedule.jobs"),
        ({"schedule": {"jobs": {"sync": {"timezone": "Mars/Base"}}}}, "unknown time zone"),
        ({"schedule": {"grace_hours": -1}}, "schedule.grace_hours"),
        ({"teams": [{"name": "a", "digest_cron": "99 9 * * mon"}]}, "teams.0 (a): cron"),
        ({"champions": {"engineer_cost_per_year": 0}}, "engineer_cost_per_year must be above 0"),
        ({"champions": {"engineer_cost_per_year": "lots"}}, "is not an amount"),
        ({"reports": {"spot_target": [0.3]}}, "reports.spot_target"),
        ({"slack": {"admin_channel": ""}}, "slack.admin_channel"),
    ],
)
def test_mistakes_are_one_line_naming_the_field(data, message):
    with pytest.raises(ConfigError) as raised:
        parse_config(data)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)
