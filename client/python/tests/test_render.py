"""Local rendering with Jinja2 produces the text the service's GetPrompt produces."""

from __future__ import annotations

import pytest

from mcp_config_client import ConfigClient, InvalidArgument, render_locally
from mcp_config_client.testing import ConfigService

#: Arguments for every prompt of the example bundle, optional ones both given and left out.
CASES = [
    ("acme", "github", "review-pr", {"repo": "acme/api", "number": "42"}),
    ("globex", "github", "review-pr", {"repo": "globex/web", "number": "7"}),
    ("globex", "github", "review-pr", {"repo": "globex/web", "number": "7", "focus": "SQL"}),
    ("acme", "github", "triage-issue", {"repo": "acme/api", "issue": "13"}),
    ("acme", "github", "release-notes", {"repo": "acme/api", "since": "v1.2.0"}),
    ("acme", "github", "security-review", {"repo": 'acme/<api> & "co"'}),
    ("acme", "slack", "summarize-channel", {"channel": "general"}),
    ("acme", "slack", "summarize-channel", {"channel": "general", "hours": "6"}),
    ("acme", "slack", "draft-announcement", {"topic": "the new office"}),
    ("acme", "postgres", "explain-query", {"query": "SELECT *\nFROM users"}),
]


@pytest.mark.parametrize(("org", "server", "name", "arguments"), CASES)
async def test_local_rendering_equals_the_services(
    service: ConfigService, org: str, server: str, name: str, arguments: dict[str, str]
) -> None:
    async with ConfigClient(service.endpoint, source=None) as client:
        prompts = await client.prompts(org, server)
        by_service = await client.prompt(org, server, name, arguments)

    prompt = next(p for p in prompts.items if p.name == name)
    local = render_locally(prompt, arguments)
    assert [(m.role, m.text) for m in local] == [(m.role, m.text) for m in by_service.messages]


async def test_a_missing_argument_is_named_as_the_service_names_it(
    service: ConfigService,
) -> None:
    async with ConfigClient(service.endpoint, source=None) as client:
        prompts = await client.prompts("acme", "github")
        with pytest.raises(InvalidArgument) as by_service:
            await client.prompt("acme", "github", "review-pr", {"repo": "acme/api"})

    review = next(p for p in prompts.items if p.name == "review-pr")
    with pytest.raises(InvalidArgument) as local:
        render_locally(review, {"repo": "acme/api"})
    assert local.value.field == "arguments.number"
    assert local.value.message == by_service.value.message
