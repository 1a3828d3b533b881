"""`unit_metrics:` in costbot.yml: the shapes that read naturally, and one clear line for each
mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, UnitMetricSetting, load_config, parse_config

ROOT = Path(__file__).resolve().parent.parent


def test_the_example_config_defines_unit_metrics():
    settings = load_config(ROOT / "costbot.example.yml").unit_metrics
    assert settings[0] == UnitMetricSetting(
        name="cost_per_api_request",
        per="api_requests",
        cost_kind="product",
        cost_value="api-gateway",
        unit="API request",
    )
    assert settings[1].cost_kind == "service" and settings[1].cost_value == "ec2"
    assert settings[2].as_percent and settings[2].cost_kind == "all"


def test_defaults_and_team_names_normalised():
    (setting,) = parse_config(
        {
            "unit_metrics": [
                {
                    "name": "per_order",
                    "per": "orders",
                    "cost": {"team": " Payments "},
                    "scope": "Payments",
                }
            ]
        }
    ).unit_metrics
    assert (setting.cost_kind, setting.cost_value, setting.scope) == (
        "team",
        "payments",
        "payments",
    )
    assert parse_config({}).unit_metrics == ()
    assert (
        parse_config({"unit_metrics": [{"name": "x", "per": "m"}]}).unit_metrics[0].cost_kind
        == "all"
    )


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ({"name": "x", "per": "m", "cost": {"team": "a", "product": "b"}}, "unit_metrics.0.cost"),
        ({"name": "x", "per": "m", "cost": {"account": "a"}}, "unit_metrics.0.cost"),
        ({"name": "x", "per": "m", "cost": "everything"}, "unit_metrics.0.cost"),
        ({"name": "x", "per": "m", "as": "ratio"}, "unit_metrics.0.as"),
        ({"name": "x", "per": "m", "reference": "gaming"}, "unit_metrics.0.reference"),
        ({"name": "Has Spaces", "per": "m"}, "unit_metrics.0.name"),
        ({"name": "x"}, "'per' is a required property"),
        ({"name": "x", "per": "m", "colour": "red"}, "unit_metrics.0"),
    ],
)
def test_mistakes_are_one_line_naming_the_field(entry, says):
    with pytest.raises(ConfigError, match=None) as raised:
        parse_config({"unit_metrics": [entry]})
    assert says in str(raised.value) and "\n" not in str(raised.value)


def test_a_name_defined_twice():
    with pytest.raises(ConfigError, match="'x' is defined twice"):
        parse_config({"unit_metrics": [{"name": "x", "per": "a"}, {"name": "x", "per": "b"}]})
