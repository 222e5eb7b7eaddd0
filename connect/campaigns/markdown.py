"""Campaign briefs: Markdown rendered safely.

markdown-it-py with raw HTML switched off: `<script>` in a brief is shown as text, never run.
Links must be absolute `http:`, `https:` or `mailto:` URLs: anything else (`javascript:`,
`data:`, relative paths, obfuscated schemes) stays as plain text, never a link. Images are off
too: a brief must not make every creator's browser fetch third-party pixels.
Links carry `rel="nofollow ugc noopener noreferrer"`.
"""

from __future__ import annotations

from functools import cache
from typing import Any
from urllib.parse import urlsplit

from markdown_it import MarkdownIt
from markupsafe import Markup

MAX_BRIEF = 20_000
_REL = "nofollow ugc noopener noreferrer"
_SCHEMES = frozenset({"http", "https", "mailto"})


def safe_link(url: str) -> bool:
    """True for an absolute http(s) or mailto URL; markdown-it asks before making a link."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return False
    if parts.scheme.lower() not in _SCHEMES:
        return False
    return parts.scheme.lower() == "mailto" or bool(parts.netloc)


@cache
def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    md.disable("image")
    md.validateLink = safe_link  # type: ignore[method-assign]

    def link_open(renderer: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        tokens[idx].attrSet("rel", _REL)
        return renderer.renderToken(tokens, idx, options, env)

    md.add_render_rule("link_open", link_open)
    return md


def render_brief(text: str | None) -> Markup:
    """The brief as safe HTML for a template (`{{ campaign.brief|brief }}`)."""
    if not text:
        return Markup("")
    return Markup(_parser().render(text[:MAX_BRIEF]))  # noqa: S704 - html is off, see above
