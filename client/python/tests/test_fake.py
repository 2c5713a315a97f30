"""`FakeConfigClient`: the in-memory stand-in for the client in users' unit tests answers what
the test set as the service would (an unknown org reads the defaults, flagged), announces every
set as a change, renders by the service's rules, and fails as the client does in an outage.
No service, no network."""

from __future__ import annotations

import asyncio

import pytest
from mcp_config.v1 import config_pb2

from mcp_config_client import (
    Changed,
    ConfigReader,
    InvalidArgument,
    NotFound,
    StatusEvent,
    Unavailable,
    ViewKind,
)
from mcp_config_client.testing import FakeConfigClient

REVIEW = config_pb2.Prompt(
    name="review-pr",
    description="Reviews a pull request.",
    arguments=[config_pb2.PromptArgument(name="repo", required=True)],
    messages=[config_pb2.PromptMessage(role="user", text="Review {{ repo }}.")],
)
ACME_REVIEW = config_pb2.Prompt(
    name="review-pr",
    arguments=[config_pb2.PromptArgument(name="repo", required=True)],
    messages=[config_pb2.PromptMessage(role="user", text="Review {{ repo }}, Acme's way.")],
)
GUIDE = config_pb2.Resource(
    uri="file:///guide.md", name="guide", mime_type="text/markdown", text="# Guide"
)
LOGO = config_pb2.Resource(uri="file:///logo.png", name="logo", mime_type="image/png", blob=b"PNG")
ITEMS = config_pb2.Resource(
    uri="test://items/{id}", name="items", text="Item {{ id }}", is_template=True
)


def github_fake() -> FakeConfigClient:
    """Defaults on `github` (a prompt; a text resource, a blob and a template), and acme's own
    prompts."""
    fake = FakeConfigClient()
    fake.set_prompts("", "github", [REVIEW])
    fake.set_resources("", "github", [GUIDE, LOGO, ITEMS])
    fake.set_prompts("acme", "github", [ACME_REVIEW])
    return fake


async def test_each_org_reads_its_view_and_an_unknown_org_the_defaults_flagged() -> None:
    fake = github_fake()

    acme = await fake.prompts("acme", "github")
    acme_resources = await fake.resources("acme", "github")
    defaults = await fake.prompts("", "github")
    unknown = await fake.prompts("nobody", "github")
    elsewhere = await fake.prompts("acme", "slack")

    assert list(acme.items) == [ACME_REVIEW] and not acme.org_unknown
    assert list(acme_resources.items) == [GUIDE, LOGO, ITEMS], "acme has none of its own"
    assert not acme_resources.org_unknown, "acme is registered: its prompts were set"
    assert list(defaults.items) == [REVIEW] and not defaults.org_unknown
    assert list(unknown.items) == [REVIEW] and unknown.org_unknown
    assert unknown.revision == defaults.revision
    assert list(elsewhere.items) == [] and elsewhere.revision == 0
    assert acme.stale is None and unknown.stale is None


async def test_every_set_and_registration_is_announced_with_its_revision() -> None:
    fake = github_fake()
    async with fake.changes() as changes:
        revision = fake.set_prompts("acme", "github", [REVIEW])
        registered = fake.register_org("initech")
        again = fake.register_org("initech")
        fake.set_resources("", "github", [GUIDE])
        await fake.aclose()
        announced = [change async for change in changes]

    assert announced == [
        Changed("acme", "github", ViewKind.PROMPTS),
        Changed("initech", "github", ViewKind.PROMPTS),
        Changed("initech", "github", ViewKind.RESOURCES),
        Changed("", "github", ViewKind.RESOURCES),
    ]
    assert [c.revision for c in announced if isinstance(c, Changed)] == [
        revision,
        registered,
        registered,
        registered + 1,
    ]
    assert again == 0, "already registered: nothing happened"


async def test_registering_an_org_makes_the_defaults_its_own() -> None:
    fake = github_fake()
    before = await fake.prompts("initech", "github")
    revision = fake.register_org("initech")
    after = await fake.prompts("initech", "github")

    assert before.org_unknown and not after.org_unknown
    assert list(after.items) == list(before.items) == [REVIEW]
    assert after.revision == revision > before.revision, "its views moved"


async def test_a_prompt_renders_by_the_services_rules() -> None:
    fake = github_fake()

    acme = await fake.prompt("acme", "github", "review-pr", {"repo": "acme/api"})
    unknown = await fake.prompt("nobody", "github", "review-pr", {"repo": "x/y"})
    with pytest.raises(InvalidArgument) as missing:
        await fake.prompt("acme", "github", "review-pr")
    with pytest.raises(NotFound) as no_prompt:
        await fake.prompt("acme", "github", "no-such-prompt")

    assert [m.text for m in acme.messages] == ["Review acme/api, Acme's way."]
    assert acme.revision == (await fake.prompts("acme", "github")).revision
    assert unknown.description == "Reviews a pull request."
    assert [m.text for m in unknown.messages] == ["Review x/y."]
    assert missing.value.message == 'arguments.repo: missing argument "repo"'
    assert no_prompt.value.message == (
        'name "no-such-prompt" of server github in org acme not found'
    )


async def test_a_resource_is_read_by_its_exact_uri() -> None:
    fake = github_fake()

    guide = await fake.read_resource("acme", "github", "file:///guide.md")
    logo = await fake.read_resource("", "github", "file:///logo.png")
    with pytest.raises(NotFound):
        await fake.read_resource("acme", "github", "test://items/7")  # templates: not expanded
    with pytest.raises(NotFound):
        await fake.read_resource("acme", "github", "file:///missing.md")

    assert list(guide.contents) == [
        config_pb2.ResourceContents(
            uri="file:///guide.md", mime_type="text/markdown", text="# Guide"
        )
    ]
    assert list(logo.contents) == [
        config_pb2.ResourceContents(uri="file:///logo.png", mime_type="image/png", blob=b"PNG")
    ]


async def test_an_outage_fails_every_call_and_the_status_tells_it() -> None:
    fake = github_fake()
    events: list[StatusEvent] = []
    fake.on_status(events.append)
    assert fake.status.state == "starting"
    await fake.prompts("acme", "github")

    fake.fail_with(Unavailable("the mcp-config service is unreachable"))
    for call in (
        fake.prompts("acme", "github"),
        fake.resources("acme", "github"),
        fake.prompt("acme", "github", "review-pr", {"repo": "x"}),
        fake.read_resource("acme", "github", "file:///guide.md"),
    ):
        with pytest.raises(Unavailable) as failed:
            await call
        assert failed.value.message == "the mcp-config service is unreachable"
    stale = fake.status
    fake.fail_with(None)
    view = await fake.prompts("acme", "github")

    assert stale.state == "stale" and stale.why == "the service is unreachable"
    assert [e.type for e in events] == ["ready", "stale", "recovered"]
    assert view.stale is None and fake.status.state == "ready"


async def test_an_outage_with_held_views_serves_them_stale() -> None:
    fake = github_fake()
    fake.fail_with(Unavailable("the mcp-config service is unreachable"), stale=30.0)

    prompts = await fake.prompts("acme", "github")
    unknown = await fake.prompts("nobody", "github")
    rendered = await fake.prompt("acme", "github", "review-pr", {"repo": "acme/api"})
    guide = await fake.read_resource("acme", "github", "file:///guide.md")
    with pytest.raises(Unavailable):
        await fake.prompts("acme", "slack")  # nothing held
    with pytest.raises(Unavailable):
        await fake.prompt("acme", "github", "no-such-prompt")  # not in the held view
    with pytest.raises(Unavailable):
        await fake.read_resource("acme", "github", "test://items/7")  # only a template

    assert prompts.stale == 30.0 and list(prompts.items) == [ACME_REVIEW]
    assert unknown.stale == 30.0 and unknown.org_unknown
    assert [m.text for m in rendered.messages] == ["Review acme/api, Acme's way."]
    assert guide.contents[0].text == "# Guide"
    assert fake.status.state == "stale"


async def test_a_refusal_fails_every_call_and_counts_as_reaching_the_service() -> None:
    fake = github_fake()
    fake.fail_with(NotFound("label staging not found"))

    with pytest.raises(NotFound) as refused:
        await fake.prompts("acme", "github")

    assert refused.value.message == "label staging not found"
    assert fake.status.state == "ready"
    with pytest.raises(ValueError):
        fake.fail_with(NotFound("x"), stale=1.0)


async def test_closing_it_ends_every_change_iteration() -> None:
    async with FakeConfigClient() as fake:
        await fake.wait_for_source(0)
        changes = fake.changes()
        listening = asyncio.create_task(anext(changes, None))
        await asyncio.sleep(0)
    assert await asyncio.wait_for(listening, 1.0) is None


def test_it_is_what_code_typed_on_config_reader_takes() -> None:
    reader: ConfigReader = FakeConfigClient()
    assert reader.status.state == "starting"
