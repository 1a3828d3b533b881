from pathlib import Path

import pytest

from bot.config import Config, ConfigError, TagPolicySettings, load_config, parse_config

ROOT = Path(__file__).parent.parent


def test_example_config_is_valid_and_documented():
    config = load_config(ROOT / "costbot.example.yml")
    payments = config.team("PAY")
    assert payments is not None and payments.name == "payments"
    assert payments.monthly_budget_micros == 42_000_000_000
    assert config.canonical_team("Platform  Engineering") == "platform"
    assert config.cost_metric == "effective"
    assert config.team_for_channel(None, "#team-platform").name == "platform"


def test_no_config_file_means_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("COSTBOT_CONFIG", raising=False)
    config = load_config()
    assert config == Config()
    assert config.tag_keys == ("Team",)
    assert config.canonical_team("Some-Team") == "some-team"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"teams": [{"name": "a", "budget": 1}]}, "teams.0: Additional properties"),
        ({"cost_metric": "blended"}, "cost_metric: 'blended' is not one of"),
        ({"teams": [{"name": "a", "timezone": "Mars/Base"}]}, "unknown time zone 'Mars/Base'"),
        ({"teams": [{"name": "a", "monthly_budget": "lots"}]}, "monthly_budget 'lots' is not"),
        (
            {"teams": [{"name": "a", "aliases": ["x"]}, {"name": "b", "aliases": ["X"]}]},
            "'X' already names team 'a'",
        ),
        ({"shared_costs": {"allocation": "usage"}}, "usage_metric is required"),
    ],
)
def test_bad_config_fails_with_one_line_naming_the_field(data, message):
    with pytest.raises(ConfigError) as caught:
        parse_config(data, "costbot.yml")
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_bad_yaml_and_missing_explicit_file(tmp_path, monkeypatch):
    broken = tmp_path / "broken.yml"
    broken.write_text("teams:\n  - name: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(broken)
    monkeypatch.setenv("COSTBOT_CONFIG", str(tmp_path / "missing.yml"))
    with pytest.raises(ConfigError, match="config file not found"):
        load_config()


def test_budget_currency_defaults_to_usd_and_takes_an_iso_code():
    assert parse_config({}).currency == "USD"
    assert parse_config({"currency": "eur"}).currency == "EUR"
    with pytest.raises(ConfigError, match="currency"):
        parse_config({"currency": "euro"})


def test_answers_are_private_by_default_and_the_switch_is_validated():
    assert Config().slack.answer_response_type == "ephemeral"
    public = parse_config({"slack": {"answer_visibility": "channel"}})
    assert public.slack.answer_response_type == "in_channel"
    assert load_config(ROOT / "costbot.example.yml").slack.answer_visibility == "private"
    with pytest.raises(ConfigError, match=r"slack\.answer_visibility: 'everyone' is not one of"):
        parse_config({"slack": {"answer_visibility": "everyone"}})
    with pytest.raises(ConfigError, match="slack: Additional properties"):
        parse_config({"slack": {"answers": "channel"}})


def test_tag_policy_defaults_never_surprise_and_the_example_matches_them():
    policy = load_config(ROOT / "costbot.example.yml").tag_policy
    assert policy == TagPolicySettings()
    assert policy.enforce is False and policy.auto_terminate is False
    assert policy.exempt_tag == "costbot:exempt"
    assert policy.protected_environments == ("prod", "production")


def test_a_bad_tag_policy_is_one_line_naming_the_field():
    with pytest.raises(ConfigError, match=r"tag_policy\.approvers\.0"):
        parse_config({"tag_policy": {"approvers": ["alice"]}})
