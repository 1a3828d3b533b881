"""A Slack payload as terminal text, for `costbot ask` without `--json`."""

from __future__ import annotations

import re
from typing import Any

_LINK = re.compile(r"<([^|>]+)\|([^>]+)>")


def _mrkdwn_to_text(text: str) -> str:
    text = _LINK.sub(r"\2 (\1)", text)
    text = text.replace("```", "")
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _element_text(element: dict[str, Any]) -> str:
    if element.get("type") == "image":
        return f"[image: {element.get('alt_text', '')}]"
    return _mrkdwn_to_text(element.get("text", ""))


def payload_as_text(payload: dict[str, Any]) -> str:
    lines: list[str] = []
    for block in payload.get("blocks", []):
        kind = block.get("type")
        if kind == "header":
            title = block["text"]["text"]
            lines += [title, "=" * len(title)]
        elif kind == "section":
            if block.get("text"):
                lines.append(_mrkdwn_to_text(block["text"]["text"]))
            for field in block.get("fields", []):
                lines.append(_mrkdwn_to_text(field["text"]))
        elif kind == "context":
            lines.append(" · ".join(_element_text(e) for e in block.get("elements", [])))
        elif kind == "image":
            lines.append(f"[chart: {block.get('alt_text', '')}]")
        elif kind == "divider":
            lines.append("-" * 40)
        elif kind == "actions":
            lines.append(" ".join(f"[{e['text']['text']}]" for e in block.get("elements", [])))
        lines.append("")
    return "\n".join(lines).rstrip() or payload.get("text", "")
