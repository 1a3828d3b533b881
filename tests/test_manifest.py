"""manifest.yml is a valid Slack app manifest and declares exactly the commands the code answers."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from handlers import SLASH_COMMANDS

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "manifest.yml"
SCHEMA = Path(__file__).parent / "data" / "slack-app-manifest" / "manifest.schema.1.0.0.json"
# Each bot scope, and what in the code needs it: a scope nothing calls must not be asked for.
SCOPE_USED_BY = {
    "commands": "app.command(",
    "chat:write": "chat_postMessage(",
    "files:write": "files_upload_v2(",
    "usergroups:read": "usergroups_users_list(",
    "channels:history": "conversations_history(",
    "groups:history": "conversations_history(",
    "channels:read": "conversations_list(",
    "groups:read": "conversations_list(",
}
SOURCE_DIRS = ("bot", "handlers", "jobs")
EVENTS_URL = "https://costbot.example.com/slack/events"


def load_manifest() -> dict[str, Any]:
    return yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))


def schema_errors(manifest: dict[str, Any]) -> list[str]:
    """Every schema violation, one readable line each (not just the first one jsonschema finds)."""
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    validator = jsonschema.Draft7Validator(schema)
    return sorted(
        f"{'/'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}"
        for error in validator.iter_errors(manifest)
    )


def test_manifest_validates_against_slacks_schema() -> None:
    errors = schema_errors(load_manifest())
    assert not errors, "manifest.yml does not match Slack's schema:\n" + "\n".join(errors)


def test_slash_commands_match_the_handlers_with_help_text() -> None:
    commands = load_manifest()["features"]["slash_commands"]
    declared = [command["command"] for command in commands]
    assert len(declared) == len(set(declared)), f"duplicate commands in manifest: {declared}"
    assert set(declared) == set(SLASH_COMMANDS), (
        f"manifest.yml declares {sorted(declared)}, handlers.SLASH_COMMANDS has "
        f"{sorted(SLASH_COMMANDS)}"
    )
    for command in commands:
        help_text = SLASH_COMMANDS[command["command"]]
        assert help_text.strip(), f"{command['command']} has no help text in handlers"
        assert " ".join(command["description"].split()) == " ".join(help_text.split())
        assert command.get("usage_hint", "").strip()
        assert command["url"] == EVENTS_URL
        # /kudos needs the user ids of the people mentioned: Slack escapes them only when asked.
        assert command["should_escape"] is (command["command"] == "/kudos")


def source_text() -> str:
    return "\n".join(
        path.read_text(encoding="utf-8")
        for folder in SOURCE_DIRS
        for path in sorted((ROOT / folder).rglob("*.py"))
    )


def test_bot_scopes_are_exactly_what_the_code_uses() -> None:
    scopes = load_manifest()["oauth_config"]["scopes"]["bot"]
    assert sorted(scopes) == sorted(SCOPE_USED_BY), "a scope added or dropped: update SCOPE_USED_BY"
    code = source_text()
    unused = [scope for scope, call in SCOPE_USED_BY.items() if call not in code]
    assert not unused, f"manifest.yml asks for scopes no code uses: {unused}"


def test_each_scope_says_why() -> None:
    lines = MANIFEST.read_text(encoding="utf-8").splitlines()
    for scope in SCOPE_USED_BY:
        (index,) = [i for i, line in enumerate(lines) if line.strip() == f"- {scope}"]
        assert lines[index - 1].strip().startswith("#"), f"no comment saying why {scope}"


def test_dms_are_answered_or_read_only() -> None:
    app_home = load_manifest()["features"]["app_home"]
    # No message listener exists, so a typed DM would go unanswered: the tab must be read-only.
    assert not app_home["messages_tab_enabled"] or app_home["messages_tab_read_only_enabled"]


def test_interactivity_is_on_when_the_code_has_buttons() -> None:
    if "app.action(" in source_text():  # the Share button, later alert and tagging buttons
        assert load_manifest()["settings"]["interactivity"]["is_enabled"] is True


def test_settings_for_http_mode() -> None:
    manifest = load_manifest()
    assert manifest["_metadata"] == {"major_version": 1, "minor_version": 1}
    assert manifest["display_information"]["name"] == "Costbot"
    assert manifest["features"]["bot_user"] == {"display_name": "costbot", "always_online": True}
    settings = manifest["settings"]
    assert settings["interactivity"] == {"is_enabled": True, "request_url": EVENTS_URL}
    assert settings["socket_mode_enabled"] is False
    assert settings["org_deploy_enabled"] is False
    assert settings["token_rotation_enabled"] is False


def _without_description(manifest: dict[str, Any]) -> None:
    del manifest["features"]["slash_commands"][0]["description"]


def _bad_command_name(manifest: dict[str, Any]) -> None:
    manifest["features"]["slash_commands"][0]["command"] = "cost"


def _unknown_setting(manifest: dict[str, Any]) -> None:
    manifest["settings"]["socket_mode"] = True


def _name_too_long(manifest: dict[str, Any]) -> None:
    manifest["display_information"]["name"] = "C" * 36


@pytest.mark.parametrize(
    ("break_it", "expected"),
    [
        (_without_description, "'description' is a required property"),
        (_bad_command_name, "does not match"),
        (_unknown_setting, "Additional properties are not allowed"),
        (_name_too_long, "is too long"),
    ],
)
def test_the_schema_check_catches_a_broken_manifest(break_it, expected: str) -> None:
    broken = copy.deepcopy(load_manifest())
    break_it(broken)
    errors = schema_errors(broken)
    assert any(expected in error for error in errors), errors
