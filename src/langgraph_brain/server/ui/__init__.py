"""The memory inspector page: `GET /brain/ui`, one static HTML file with its script and style inline.

The page is a shell with no data in it. Its script asks for an API key, keeps it in the tab's
`sessionStorage` and calls the `/brain/*` JSON routes with `Authorization: Bearer <key>`, so it
sees exactly what that key may see. A browser cannot send that header when it navigates, so
`langgraph_brain.server.auth.authenticate` lets `GET`/`HEAD` of this one path through without
credentials (as a user with no identity that no handler accepts).

Memories are text anyone may have written: the script puts them into the page with `textContent`
only, and the response's Content-Security-Policy allows the page's own inline script and style
(by hash) and requests to this server, nothing else, so markup inside a memory stays text.

The HTTP app (`langgraph_brain.server.api.app`) includes `routes`:

    from langgraph_brain.server import ui
    app = Starlette(routes=[*api_routes, *ui.routes])
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import cache
from importlib import resources

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import BaseRoute, Route

from ..auth import UI_SHELL_PATH

#: Where the page is served; the auth handler's credential-free path is the same constant.
UI_PATH = UI_SHELL_PATH
PAGE_FILE = "inspector.html"


def _inline_hashes(html: str, tag: str) -> str:
    """CSP source expressions ('sha256-…') for every inline <tag>…</tag> block of the page."""
    blocks = re.findall(rf"<{tag}>(.*?)</{tag}>", html, flags=re.DOTALL)
    if not blocks:
        return "'none'"
    digests = (base64.b64encode(hashlib.sha256(b.encode("utf-8")).digest()).decode("ascii") for b in blocks)
    return " ".join(f"'sha256-{d}'" for d in digests)


@cache
def page() -> tuple[str, dict[str, str]]:
    """The page's HTML and its response headers (read from package data once)."""
    html = resources.files(__name__).joinpath(PAGE_FILE).read_text(encoding="utf-8")
    policy = "; ".join(
        (
            "default-src 'none'",
            f"script-src {_inline_hashes(html, 'script')}",
            f"style-src {_inline_hashes(html, 'style')}",
            "connect-src 'self'",
            "img-src data:",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        )
    )
    headers = {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    }
    return html, headers


async def inspector_page(request: Request) -> HTMLResponse:
    """Serve the inspector shell; it holds no data, whoever asks."""
    html, headers = page()
    return HTMLResponse(html, headers=headers)


#: The page's routes (GET, and HEAD which Starlette adds), for the HTTP app's route list.
routes: list[BaseRoute] = [Route(UI_PATH, inspector_page, methods=["GET"], name="brain-ui")]

__all__ = ["PAGE_FILE", "UI_PATH", "inspector_page", "page", "routes"]
