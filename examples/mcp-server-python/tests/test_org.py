"""The org of a request: a verified bearer JWT's `org` claim, else `x-org-id`, else none."""

from __future__ import annotations

import time

import jwt
import pytest

from mcp_config_example.org import Unauthorized, org_of

SECRET = "a-test-secret-of-at-least-32-bytes!"


def token(claims: dict[str, object], secret: str = SECRET) -> str:
    return jwt.encode({"exp": int(time.time()) + 60, **claims}, secret, algorithm="HS256")


def test_a_verified_token_names_the_org_whatever_the_header_says() -> None:
    headers = {"authorization": f"Bearer {token({'org': 'acme'})}", "x-org-id": "globex"}
    assert org_of(headers, SECRET) == "acme"


def test_the_header_names_the_org_without_a_token() -> None:
    assert org_of({"x-org-id": "globex"}, SECRET) == "globex"
    assert org_of({}, None) == "", "no org: defaults only"


@pytest.mark.parametrize(
    ("bearer", "secret"),
    [
        (token({"org": "acme"}, secret="another-secret-of-at-least-32-bytes"), SECRET),
        (token({"org": "acme"}), None),
    ],
    ids=["forged", "no secret configured"],
)
def test_a_token_that_cannot_be_verified_is_refused(bearer: str, secret: str | None) -> None:
    with pytest.raises(Unauthorized):
        org_of({"authorization": f"Bearer {bearer}"}, secret)
