"""What the browser tests share besides fixtures: paths, tokens and screenshots."""

from __future__ import annotations

import os
import time
from pathlib import Path

import jwt

REPO = Path(__file__).resolve().parents[2]
BINARY = Path(os.environ.get("MCP_CONFIG_BIN", REPO / "target" / "debug" / "mcp-config"))
BUNDLE = REPO / "examples" / "bundle.yaml"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SECRET = "a-browser-test-secret-long-enough-for-hs256"
#: Where the tests put their screenshots of the main pages (`docs/ui` refreshes the README's).
SCREENSHOTS = Path(os.environ.get("UI_SCREENSHOTS", REPO / "target" / "ui-screenshots"))


def token(sub: str, org: str | None, roles: list[str]) -> str:
    claims: dict = {"sub": sub, "roles": roles, "exp": int(time.time()) + 3600}
    if org is not None:
        claims["org"] = org
    return jwt.encode(claims, SECRET, algorithm="HS256")


def screenshot(page, name: str) -> None:
    """Saves a full-page screenshot of what the test sees now as `<name>.png`."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
