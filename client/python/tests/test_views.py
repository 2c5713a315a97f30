"""Reads: effective views per org, cheap revalidation, and errors that name the problem."""

from __future__ import annotations

import asyncio
import urllib.request

import pytest

from mcp_config_client import ConfigClient, InvalidArgument, NotFound
from mcp_config_client.testing import ConfigService


async def test_s_view_1_each_org_sees_its_effective_view(service: ConfigService) -> None:
    async with ConfigClient(service.endpoint, source=None) as client:
        acme = await client.prompts("acme", "github")
        globex = await client.prompts("globex", "github")
        defaults = await client.prompts("", "github")
        globex_resources = await client.resources("globex", "github")

    assert [p.name for p in acme.items] == [
        "release-notes",
        "review-pr",
        "security-review",
        "triage-issue",
    ]
    review = next(p for p in acme.items if p.name == "review-pr")
    assert review.title == "Review a pull request (Acme)"
    assert "Acme's checklist" in review.messages[0].text
    assert [p.name for p in globex.items] == ["release-notes", "review-pr"], "triage-issue hidden"
    assert next(p for p in globex.items if p.name == "review-pr").title == "Review a pull request"
    assert [p.name for p in defaults.items] == ["release-notes", "review-pr", "triage-issue"]
    assert [r.uri for r in globex_resources.items] == ["file:///guides/code-review.md"]
    assert acme.stale is None and acme.revision > 0


async def test_s_view_2_an_unchanged_view_is_revalidated_without_being_sent_again(
    service: ConfigService,
) -> None:
    # revalidate_after=0: every read asks the service, with the revision it holds.
    async with ConfigClient(service.endpoint, source=None, revalidate_after=0) as client:
        first = await client.prompts("acme", "github")
        second = await client.prompts("acme", "github")

    assert second.revision == first.revision
    assert second.items is first.items, "not_modified keeps the cached items"
    assert second.stale is None


async def test_s_err_1_bad_requests_raise_errors_naming_the_problem(service: ConfigService) -> None:
    async with ConfigClient(service.endpoint, source=None) as client:
        with pytest.raises(NotFound):
            await client.prompt("acme", "github", "no-such-prompt", {})
        with pytest.raises(InvalidArgument) as bad_org:
            await client.prompts("Not_A_Slug", "github")
        with pytest.raises(InvalidArgument) as missing:
            await client.prompt("acme", "github", "review-pr", {"repo": "acme/api"})

    assert bad_org.value.field == "org_id"
    assert missing.value.field == "arguments.number"
    assert '"number"' in missing.value.message


async def test_s_read_1_read_resource_returns_the_contents(service: ConfigService) -> None:
    async with ConfigClient(service.endpoint, source=None) as client:
        read = await client.read_resource("acme", "github", "file:///acme/oncall.md")

    assert read.contents[0].mime_type == "text/markdown"
    assert read.contents[0].text.startswith("# On call")


async def test_c_trans_3_the_callers_trace_context_goes_with_every_call() -> None:
    from mcp_config_client.transport import Transport

    current = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
    transport = Transport("127.0.0.1:9", "t0ken", 1.0, trace_context=lambda: dict(current))
    try:
        assert transport.metadata == (
            ("authorization", "Bearer t0ken"),
            ("traceparent", current["traceparent"]),
        )
        current["traceparent"] = "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01"
        assert ("traceparent", current["traceparent"]) in transport.metadata, "read at each call"
    finally:
        await transport.close()


def _get_prompts_answered(service: ConfigService) -> float:
    """`GetPrompts` calls the service has answered OK, from its metrics."""
    with urllib.request.urlopen(f"{service.http_url}/metrics") as response:
        text = response.read().decode()
    for line in text.splitlines():
        if (
            line.startswith("mcp_config_grpc_requests_total")
            and 'method="GetPrompts"' in line
            and 'code="OK"' in line
        ):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_s_view_4_concurrent_reads_of_one_view_share_one_request(
    service: ConfigService,
) -> None:
    async with ConfigClient(service.endpoint, source=None) as client:
        await client.start()
        before = _get_prompts_answered(service)
        views = await asyncio.gather(*(client.prompts("globex", "github") for _ in range(100)))
        after = _get_prompts_answered(service)

    assert after - before == 1, "one GetPrompts for 100 concurrent reads"
    assert all(v.revision == views[0].revision and len(v.items) == 2 for v in views)
