"""Local rendering with Jinja2 produces the messages the service's GetPrompt produces, whatever
their content."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from mcp_config.v1 import config_pb2

from mcp_config_client import ConfigClient, InvalidArgument, RenderError, render_locally
from mcp_config_client.testing import ConfigService

#: The server `conformance`'s defaults: prompts with an image, an embedded resource (its URI
#: an argument) and argument choices.
CONFORMANCE_BUNDLE = Path(__file__).resolve().parents[3] / "tests" / "conformance" / "bundle.yaml"

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5E"
    "rkJggg=="
)

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
    assert local == list(by_service.messages)


@pytest.mark.parametrize(
    ("name", "arguments"),
    [
        ("test_prompt_with_image", {}),
        ("test_prompt_with_embedded_resource", {"resourceUri": "test://given/{{ verbatim }}"}),
        ("test_prompt_with_arguments", {"arg1": "paris", "arg2": "{{ arg1 }}"}),
    ],
)
async def test_local_rendering_of_other_content_equals_the_services(
    service: ConfigService, name: str, arguments: dict[str, str]
) -> None:
    service.import_bundle(CONFORMANCE_BUNDLE)
    async with ConfigClient(service.endpoint, source=None) as client:
        prompts = await client.prompts("acme", "conformance")
        by_service = await client.prompt("acme", "conformance", name, arguments)

    prompt = next(p for p in prompts.items if p.name == name)
    assert render_locally(prompt, arguments) == list(by_service.messages)


def test_every_template_of_every_content_is_rendered_and_the_rest_copied() -> None:
    prompt = config_pb2.Prompt(
        name="mixed",
        arguments=[config_pb2.PromptArgument(name="id", required=True)],
        messages=[
            config_pb2.PromptMessage(role="user", text="Look at {{ id }}:"),
            config_pb2.PromptMessage(
                role="user", image=config_pb2.Media(data=PNG, mime_type="image/png")
            ),
            config_pb2.PromptMessage(
                role="assistant", audio=config_pb2.Media(data=b"RIFF{{ id }}", mime_type="audio/x")
            ),
            config_pb2.PromptMessage(
                role="user",
                resource=config_pb2.ResourceContents(
                    uri="test://items/{{ id }}", mime_type="text/plain", text="Item {{ id }}"
                ),
            ),
            config_pb2.PromptMessage(
                role="user",
                resource=config_pb2.ResourceContents(uri="test://blobs/{{ id }}", blob=b"{{ id }}"),
            ),
            config_pb2.PromptMessage(
                role="user", resource=config_pb2.ResourceContents(uri="test://own/{{ id }}")
            ),
            config_pb2.PromptMessage(
                role="user",
                resource_link=config_pb2.ResourceLink(
                    uri="test://items/{{ id }}/raw", name="{{ id }}", mime_type="text/plain"
                ),
            ),
        ],
    )

    rendered = render_locally(prompt, {"id": "7"})

    assert rendered == [
        config_pb2.PromptMessage(role="user", text="Look at 7:"),
        config_pb2.PromptMessage(
            role="user", image=config_pb2.Media(data=PNG, mime_type="image/png")
        ),
        config_pb2.PromptMessage(
            role="assistant", audio=config_pb2.Media(data=b"RIFF{{ id }}", mime_type="audio/x")
        ),
        config_pb2.PromptMessage(
            role="user",
            resource=config_pb2.ResourceContents(
                uri="test://items/7", mime_type="text/plain", text="Item 7"
            ),
        ),
        config_pb2.PromptMessage(
            role="user",
            resource=config_pb2.ResourceContents(uri="test://blobs/7", blob=b"{{ id }}"),
        ),
        config_pb2.PromptMessage(
            role="user", resource=config_pb2.ResourceContents(uri="test://own/7")
        ),
        config_pb2.PromptMessage(
            role="user",
            resource_link=config_pb2.ResourceLink(
                uri="test://items/7/raw", name="{{ id }}", mime_type="text/plain"
            ),
        ),
    ]
    assert rendered[1].text == "" and rendered[5].resource.WhichOneof("contents") is None
    assert prompt.messages[0].text == "Look at {{ id }}:", "the view's prompt is left as it was"


def test_a_variable_of_a_resource_uri_is_an_argument_like_any_other() -> None:
    prompt = config_pb2.Prompt(
        name="link",
        messages=[
            config_pb2.PromptMessage(
                role="user",
                resource_link=config_pb2.ResourceLink(uri="test://{{ path }}", name="linked"),
            )
        ],
    )
    with pytest.raises(InvalidArgument) as missing:
        render_locally(prompt, {})
    assert missing.value.field == "arguments.path"


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


def test_any_failure_of_a_template_is_a_render_error() -> None:
    """As the service answers FAILED_PRECONDITION for it: never another exception."""
    prompt = config_pb2.Prompt(
        name="broken",
        arguments=[config_pb2.PromptArgument(name="x", required=True)],
        messages=[config_pb2.PromptMessage(role="user", text="{{ -x }}")],
    )
    with pytest.raises(RenderError):
        render_locally(prompt, {"x": "text"})
