"""A static HTML page showing Block Kit messages roughly as Slack renders them.

`costbot demo` writes every message type here so people can review the bot's output without a
Slack workspace. The page is self-contained (inline CSS, charts as files next to it) and works
offline; a small inline script records how many images loaded, which the browser test reads.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

ATTACHMENT_PREFIX = "attachment://"
SAFE_LINK_SCHEMES = ("http://", "https://", "mailto:")
# A few shortcodes the bot uses; others stay as `:name:` text, which is still readable.
EMOJI = {
    "warning": "⚠️", "white_check_mark": "✅", "x": "❌", "rotating_light": "🚨",
    "chart_with_upwards_trend": "📈", "chart_with_downwards_trend": "📉", "moneybag": "💰",
    "money_with_wings": "💸", "trophy": "🏆", "tada": "🎉", "label": "🏷️", "bulb": "💡",
    "calendar": "📅", "mag": "🔍", "red_circle": "🔴", "large_green_circle": "🟢",
    "large_yellow_circle": "🟡", "arrow_up": "⬆️", "arrow_down": "⬇️", "clap": "👏",
    "small_red_triangle": "🔺", "small_red_triangle_down": "🔻", "sparkles": "✨",
    "first_place_medal": "🥇", "second_place_medal": "🥈", "third_place_medal": "🥉",
}  # fmt: skip


@dataclass
class PreviewMessage:
    """One message as it would be posted: `images` maps the keys used by the payload's image
    blocks (`slack_file: {"id": KEY}` or `image_url: "attachment://KEY"`) to PNG bytes."""

    title: str
    description: str
    payload: Mapping[str, Any]
    images: dict[str, bytes] = field(default_factory=dict)


# --- mrkdwn -> HTML -----------------------------------------------------------------------------

# Private-use characters mark where already-rendered HTML goes back in; input never keeps them.
_HOLE_OPEN, _HOLE_CLOSE = "\ue000", "\ue001"
_HOLE = re.compile(f"{_HOLE_OPEN}(\\d+){_HOLE_CLOSE}")
_PRE = re.compile(r"```\n?(.*?)\n?```", re.DOTALL)
_CODE = re.compile(r"`([^`\n]+)`")
_ANGLE = re.compile(r"<([^<>\n]+)>")
_EMOJI = re.compile(r":([a-z0-9_+-]+):")


def _styled(marker: str, tag: str) -> tuple[re.Pattern[str], str]:
    # Slack only formats markers at word boundaries: `a*b*c` and `snake_case_name` stay literal.
    m = re.escape(marker)
    pattern = rf"(?<![\w{m}]){m}(?=\S)([^{m}\n]*?\S){m}(?![\w{m}])"
    return re.compile(pattern), rf"<{tag}>\1</{tag}>"


_STYLES = [_styled("*", "b"), _styled("_", "i"), _styled("~", "s")]


def _unescape_slack(text: str) -> str:
    """Slack's three entities back to characters (only those: `&copy;` stays literal in Slack)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _text(text: str) -> str:
    """Slack-escaped text to HTML-escaped text."""
    return html.escape(_unescape_slack(text), quote=False)


def emojize(escaped_html: str) -> str:
    return _EMOJI.sub(lambda m: EMOJI.get(m.group(1), m.group(0)), escaped_html)


def _angle_token(inner: str) -> str:
    """`<...>`: a link, a channel/user mention or a special mention, as HTML."""
    target, _, label = inner.partition("|")
    if target.startswith("#"):
        return f'<span class="mention">#{_text(label or target[1:])}</span>'
    if target.startswith("@"):
        return f'<span class="mention">@{_text(label or target[1:])}</span>'
    if target.startswith("!"):
        name = target[1:].split("^")[0]
        shown = label or ("@" + name if name in ("here", "channel", "everyone") else name)
        return f'<span class="mention">{_text(shown)}</span>'
    url = _unescape_slack(target)
    shown = _text(label) if label else html.escape(url, quote=False)
    if not url.lower().startswith(SAFE_LINK_SCHEMES):
        return shown  # never emit javascript: or other active URLs
    return f'<a href="{html.escape(url, quote=True)}">{shown}</a>'


def _format_lines(escaped: str) -> str:
    """Newlines, "•" bullets and "> " quotes, on text that is already HTML."""
    rendered = []
    for line in escaped.split("\n"):
        if line.startswith(("• ", "◦ ")):
            rendered.append(f'<span class="bullet">{line}</span>')
        elif line.startswith("&gt; ") or line == "&gt;":
            rendered.append(f'<span class="quote">{line[5:]}</span>')
        else:
            rendered.append(line + "<br>")
    return "".join(rendered).removesuffix("<br>")


def mrkdwn_to_html(text: str) -> str:
    """Slack mrkdwn (with its `&amp; &lt; &gt;` escaping) to safe HTML."""
    holes: list[str] = []

    def hole(rendered: str) -> str:
        holes.append(rendered)
        return f"{_HOLE_OPEN}{len(holes) - 1}{_HOLE_CLOSE}"

    text = text.replace(_HOLE_OPEN, "").replace(_HOLE_CLOSE, "")
    text = _PRE.sub(lambda m: hole(f"<pre>{_text(m.group(1))}</pre>"), text)
    text = _CODE.sub(lambda m: hole(f"<code>{_text(m.group(1))}</code>"), text)
    text = _ANGLE.sub(lambda m: hole(_angle_token(m.group(1))), text)
    escaped = _text(text)
    for pattern, replacement in _STYLES:
        escaped = pattern.sub(replacement, escaped)
    escaped = _format_lines(emojize(escaped))
    # Twice: a formatted span or link label may itself contain a hole.
    for _ in range(2):
        escaped = _HOLE.sub(lambda m: holes[int(m.group(1))], escaped)
    return escaped


def text_object_to_html(obj: Mapping[str, Any] | None) -> str:
    """A Block Kit text object (`plain_text` or `mrkdwn`) as HTML."""
    if not obj:
        return ""
    if obj.get("type") == "mrkdwn":
        return mrkdwn_to_html(str(obj.get("text", "")))
    escaped = html.escape(str(obj.get("text", "")), quote=False)
    return emojize(escaped).replace("\n", "<br>")


# --- blocks -> HTML -----------------------------------------------------------------------------

ImageResolver = Callable[[Mapping[str, Any]], str | None]


def _image_key(element: Mapping[str, Any]) -> str | None:
    slack_file = element.get("slack_file")
    if isinstance(slack_file, Mapping) and slack_file.get("id"):
        return str(slack_file["id"])
    url = str(element.get("image_url", ""))
    return url.removeprefix(ATTACHMENT_PREFIX) if url.startswith(ATTACHMENT_PREFIX) else None


def _img(element: Mapping[str, Any], resolve: ImageResolver, css_class: str) -> str:
    alt = html.escape(str(element.get("alt_text", "")), quote=True)
    src = resolve(element)
    if src is None:
        return f'<span class="missing-image {css_class}">image not available: {alt}</span>'
    return f'<img class="{css_class}" src="{html.escape(src, quote=True)}" alt="{alt}">'


def _button(element: Mapping[str, Any]) -> str:
    style = element.get("style")
    css = f"button {style}" if style in ("primary", "danger") else "button"
    confirm = element.get("confirm")
    # Slack asks before acting on a button with `confirm`: say so on hover.
    asks = (
        f' title="Asks first: {html.escape(str(confirm["title"].get("text", "")), quote=True)}"'
        if isinstance(confirm, Mapping) and isinstance(confirm.get("title"), Mapping)
        else ""
    )
    return f'<span class="{css}"{asks}>{text_object_to_html(element.get("text"))}</span>'


# Select menus: what Slack shows in front of the choice, by menu type.
_SELECT_ICONS = {
    "users_select": "👤",
    "multi_users_select": "👤",
    "conversations_select": "#",
    "channels_select": "#",
}


def _select(element: Mapping[str, Any]) -> str:
    """A select menu as Slack shows it closed: its current choice, else its placeholder."""
    kind = str(element.get("type"))
    chosen = element.get("initial_user") or element.get("initial_conversation")
    chosen = chosen or element.get("initial_channel")
    if chosen:
        shown = f'<span class="mention">@{html.escape(str(chosen), quote=False)}</span>'
        css = "button select chosen"
    else:
        option = element.get("initial_option")
        text = option.get("text") if isinstance(option, Mapping) else None
        text = text or element.get("placeholder") or {"type": "plain_text", "text": kind}
        shown = text_object_to_html(text)
        css = "button select"
    icon = _SELECT_ICONS.get(kind)
    icon_html = f'<span class="icon">{icon}</span> ' if icon else ""
    return f'<span class="{css}" data-type="{html.escape(kind)}">{icon_html}{shown} ▾</span>'


def _element(element: Mapping[str, Any], resolve: ImageResolver, image_class: str) -> str:
    kind = element.get("type")
    if kind == "button":
        return _button(element)
    if kind == "image":
        return _img(element, resolve, image_class)
    if kind in ("plain_text", "mrkdwn"):
        return f"<span>{text_object_to_html(element)}</span>"
    return _select(element)  # select menus, and anything else with a placeholder


def _section(block: Mapping[str, Any], resolve: ImageResolver) -> str:
    parts = []
    if block.get("text"):
        parts.append(f'<div class="text">{text_object_to_html(block["text"])}</div>')
    if block.get("fields"):
        cells = "".join(f"<div>{text_object_to_html(f)}</div>" for f in block["fields"])
        parts.append(f'<div class="fields">{cells}</div>')
    body = f'<div class="body">{"".join(parts)}</div>'
    accessory = block.get("accessory")
    if accessory:
        body += f'<div class="accessory">{_element(accessory, resolve, "thumb")}</div>'
    return f'<div class="section">{body}</div>'


def _image_block(block: Mapping[str, Any], resolve: ImageResolver) -> str:
    caption = text_object_to_html(block.get("title")) or html.escape(str(block.get("alt_text", "")))
    image = _img(block, resolve, "chart")
    return f'<figure class="image">{image}<figcaption>{caption}</figcaption></figure>'


def block_to_html(block: Mapping[str, Any], resolve: ImageResolver) -> str:
    kind = block.get("type")
    if kind == "header":
        return f'<div class="header">{text_object_to_html(block.get("text"))}</div>'
    if kind == "section":
        return _section(block, resolve)
    if kind == "divider":
        return "<hr>"
    if kind == "image":
        return _image_block(block, resolve)
    if kind == "context":
        items = "".join(_element(e, resolve, "tiny") for e in block.get("elements", []))
        return f'<div class="context">{items}</div>'
    if kind == "actions":
        items = "".join(_element(e, resolve, "thumb") for e in block.get("elements", []))
        return f'<div class="actions">{items}</div>'
    return f'<div class="unknown">[{html.escape(str(kind))} block]</div>'


# --- the page -----------------------------------------------------------------------------------

_CSS = """
body{margin:0;background:#f4f4f5;color:#1d1c1d;font:15px/1.47 -apple-system,BlinkMacSystemFont,
 "Segoe UI",Roboto,Helvetica,Arial,sans-serif}
main{max-width:860px;margin:0 auto;padding:24px}
h1{font-size:22px}nav ol{padding-left:20px}nav li{margin:4px 0}nav .where{color:#616061}
article{background:#fff;border:1px solid #ddd;border-radius:8px;margin:28px 0;padding:16px 20px}
article>h2{font-size:17px;margin:0}article>.where{color:#616061;font-size:13px;margin:2px 0 12px}
.msg{display:flex;gap:10px;border-top:1px solid #eee;padding-top:12px}
.avatar{flex:none;width:36px;height:36px;border-radius:6px;background:#3b6fb6;color:#fff;
 font-weight:700;display:flex;align-items:center;justify-content:center}
.who{font-weight:900}.who .app{font-size:10px;font-weight:700;background:#e8e8e8;color:#616061;
 padding:1px 3px;border-radius:2px;margin-left:4px}.who .eph{font-weight:400;color:#616061;
 font-size:12px;margin-left:6px}.blocks{flex:1;min-width:0}.blocks>*{margin:6px 0}
.header{font-size:18px;font-weight:900}.section{display:flex;gap:12px}.section .body{flex:1}
.fields{display:grid;grid-template-columns:1fr 1fr;gap:8px 16px;margin-top:4px}
.accessory img.thumb{width:88px;height:88px;object-fit:cover;border-radius:6px}
.context{font-size:12px;color:#616061;display:flex;flex-wrap:wrap;align-items:center;gap:6px}
img.tiny{width:16px;height:16px;border-radius:3px}
figure.image{margin:8px 0}img.chart{max-width:100%;border:1px solid #eee;border-radius:6px}
figcaption{font-size:12px;color:#616061}hr{border:0;border-top:1px solid #ddd}
.actions{display:flex;flex-wrap:wrap;gap:8px}
.button{display:inline-block;border:1px solid #bbb;border-radius:4px;padding:3px 12px;
 font-size:14px;font-weight:700;background:#fff}.button.primary{background:#007a5a;color:#fff;
 border-color:#007a5a}.button.danger{background:#e01e5a;color:#fff;border-color:#e01e5a}
.button.select{font-weight:400;color:#616061}.button.select.chosen{color:#1d1c1d}
.button .icon{font-weight:400}.button[title]{cursor:help}
code{font:12px Menlo,Consolas,monospace;color:#c01343;background:#f6f6f6;border:1px solid #ddd;
 border-radius:3px;padding:1px 3px}pre{font:12px/1.5 Menlo,Consolas,monospace;background:#f8f8f8;
 border:1px solid #ddd;border-radius:4px;padding:8px;white-space:pre-wrap;margin:4px 0}
.mention{background:#e8f5fa;color:#1264a3;border-radius:3px;padding:0 2px}a{color:#1264a3}
.bullet{display:block;padding-left:14px;text-indent:-14px}
.quote{display:block;border-left:4px solid #ddd;padding-left:10px}
.missing-image{display:inline-block;border:2px dashed #e01e5a;color:#e01e5a;padding:12px}
.unknown{color:#e01e5a}details{font-size:12px;color:#616061;margin-top:8px}
"""

# Reports "<loaded>/<total>" on <body data-images-loaded> once every image has settled.
_SCRIPT = """
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var loaded = images.filter(function (img) { return img.complete && img.naturalWidth > 0; });
  document.body.dataset.imagesLoaded = loaded.length + "/" + images.length;
});
"""


def _safe_file_name(key: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", key).strip("._") or "image"
    return stem[:80] if stem.lower().endswith(".png") else stem[:76] + ".png"


def _write_images(message: PreviewMessage, number: int, charts_dir: Path) -> dict[str, str]:
    """Write the message's PNGs; return key -> path relative to index.html."""
    paths = {}
    for key, png in message.images.items():
        # The message number keeps two messages using the same key from overwriting each other.
        name = f"m{number:02d}-{_safe_file_name(key)}"
        (charts_dir / name).write_bytes(png)
        paths[key] = f"{charts_dir.name}/{name}"
    return paths


def _resolver(paths: Mapping[str, str], title: str) -> ImageResolver:
    def resolve(element: Mapping[str, Any]) -> str | None:
        key = _image_key(element)
        if key is not None:
            if key not in paths:
                logger.warning("preview %r: no image for key %r", title, key)
            return paths.get(key)
        url = element.get("image_url") or (element.get("slack_file") or {}).get("url")
        return str(url) if url else None

    return resolve


def _message_html(message: PreviewMessage, number: int, paths: Mapping[str, str]) -> str:
    payload = message.payload
    resolve = _resolver(paths, message.title)
    blocks = payload.get("blocks") or []
    if blocks:
        body = "".join(block_to_html(block, resolve) for block in blocks)
    else:
        body = f'<div class="text">{mrkdwn_to_html(str(payload.get("text", "")))}</div>'
    ephemeral = payload.get("response_type") == "ephemeral"
    badge = '<span class="eph">Only visible to you</span>' if ephemeral else ""
    fallback = html.escape(str(payload.get("text", "")))
    return (
        f'<article id="msg-{number}"><h2>{html.escape(message.title)}</h2>'
        f'<p class="where">{html.escape(message.description)}</p>'
        '<div class="msg"><div class="avatar">C</div><div class="blocks">'
        f'<div class="who">Costbot<span class="app">APP</span>{badge}</div>{body}'
        f"<details><summary>Notification text</summary>{fallback}</details>"
        "</div></div></article>"
    )


def render_preview_html(messages: list[PreviewMessage], image_paths: list[dict[str, str]]) -> str:
    """The whole page; `image_paths[i]` maps message i's image keys to relative paths."""
    toc = "".join(
        f'<li><a href="#msg-{number}">{html.escape(message.title)}</a> '
        f'<span class="where">— {html.escape(message.description)}</span></li>'
        for number, message in enumerate(messages, start=1)
    )
    articles = "".join(
        _message_html(message, number, paths)
        for number, (message, paths) in enumerate(zip(messages, image_paths, strict=True), 1)
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Costbot message preview</title><style>{_CSS}</style></head>"
        f"<body><main><h1>Costbot message preview</h1><nav><ol>{toc}</ol></nav>{articles}</main>"
        f"<script>{_SCRIPT}</script></body></html>\n"
    )


def write_preview(messages: list[PreviewMessage], out_dir: Path) -> Path:
    """Write `out_dir/index.html` and the messages' charts under `out_dir/charts/`."""
    out_dir = Path(out_dir)
    charts_dir = out_dir / "charts"
    charts_dir.mkdir(parents=True, exist_ok=True)
    image_paths = [
        _write_images(message, number, charts_dir)
        for number, message in enumerate(messages, start=1)
    ]
    index = out_dir / "index.html"
    index.write_text(render_preview_html(messages, image_paths), encoding="utf-8")
    return index
