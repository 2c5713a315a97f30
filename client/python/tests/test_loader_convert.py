"""mcp-config's messages as MCP types: every kind of message content becomes its MCP block,
resource templates are listed apart from resources, completion offers an argument's choices.
No service: messages made here."""

from __future__ import annotations

import base64

import mcp_types as types
from mcp_config.v1 import config_pb2

from mcp_config_client.loader import convert

PNG_BASE64 = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5E"
    "rkJggg=="
)
PNG = base64.b64decode(PNG_BASE64)


def test_every_kind_of_message_content_becomes_its_mcp_block() -> None:
    response = config_pb2.GetPromptResponse(
        messages=[
            config_pb2.PromptMessage(role="user", text="Look:"),
            config_pb2.PromptMessage(
                role="user", image=config_pb2.Media(data=PNG, mime_type="image/png")
            ),
            config_pb2.PromptMessage(
                role="assistant", audio=config_pb2.Media(data=b"RIFF", mime_type="audio/wav")
            ),
            config_pb2.PromptMessage(
                role="user",
                resource=config_pb2.ResourceContents(
                    uri="test://items/7", mime_type="text/plain", text="Item 7"
                ),
            ),
            config_pb2.PromptMessage(
                role="user", resource=config_pb2.ResourceContents(uri="test://png", blob=PNG)
            ),
            config_pb2.PromptMessage(
                role="user",
                resource_link=config_pb2.ResourceLink(
                    uri="test://items/7/raw", name="raw", title="Item 7, raw"
                ),
            ),
        ]
    )

    result = convert.rendered(response, "Everything")

    assert result == types.GetPromptResult(
        description="Everything",
        messages=[
            types.PromptMessage(role="user", content=types.TextContent(text="Look:")),
            types.PromptMessage(
                role="user", content=types.ImageContent(data=PNG_BASE64, mime_type="image/png")
            ),
            types.PromptMessage(
                role="assistant",
                content=types.AudioContent(
                    data=base64.b64encode(b"RIFF").decode(), mime_type="audio/wav"
                ),
            ),
            types.PromptMessage(
                role="user",
                content=types.EmbeddedResource(
                    resource=types.TextResourceContents(
                        uri="test://items/7", mime_type="text/plain", text="Item 7"
                    )
                ),
            ),
            types.PromptMessage(
                role="user",
                content=types.EmbeddedResource(
                    resource=types.BlobResourceContents(uri="test://png", blob=PNG_BASE64)
                ),
            ),
            types.PromptMessage(
                role="user",
                content=types.ResourceLink(
                    uri="test://items/7/raw", name="raw", title="Item 7, raw"
                ),
            ),
        ],
    )
    link = result.messages[5].content.model_dump(by_alias=True, exclude_none=True)
    assert link == {
        "type": "resource_link",
        "uri": "test://items/7/raw",
        "name": "raw",
        "title": "Item 7, raw",
    }, "empty proto strings are absent fields"


def test_resource_templates_are_listed_apart_from_resources() -> None:
    items = [
        config_pb2.Resource(uri="test://static", name="static", text="x", size=1),
        config_pb2.Resource(
            uri="test://items/{id}",
            name="item",
            description="One item",
            mime_type="application/json",
            text='{"id": "{{ id }}"}',
            is_template=True,
            annotations=config_pb2.Annotations(audience=["user"], priority=0.5),
        ),
    ]

    assert convert.resources(items) == [types.Resource(uri="test://static", name="static", size=1)]
    assert convert.resource_templates(items) == [
        types.ResourceTemplate(
            uri_template="test://items/{id}",
            name="item",
            description="One item",
            mime_type="application/json",
            annotations=types.Annotations(audience=["user"], priority=0.5),
        )
    ]


def test_completion_offers_the_choices_that_start_with_what_was_typed() -> None:
    argument = config_pb2.PromptArgument(name="city", choices=["paris", "park", "Pisa"])

    assert convert.completion(argument, "pa") == types.Completion(
        values=["paris", "park"], total=2, has_more=False
    )
    assert convert.completion(argument, "") == types.Completion(
        values=["paris", "park", "Pisa"], total=3, has_more=False
    )
    assert convert.completion(config_pb2.PromptArgument(name="free"), "x").values == []
    many = config_pb2.PromptArgument(name="n", choices=[f"{n:03}" for n in range(150)])
    assert convert.completion(many, "") == types.Completion(
        values=[f"{n:03}" for n in range(100)], total=150, has_more=True
    )


def test_read_contents_are_text_or_base64() -> None:
    response = config_pb2.ReadResourceResponse(
        contents=[
            config_pb2.ResourceContents(uri="test://a", mime_type="text/plain", text="A"),
            config_pb2.ResourceContents(uri="test://b", blob=PNG),
        ]
    )

    assert convert.contents(response).contents == [
        types.TextResourceContents(uri="test://a", mime_type="text/plain", text="A"),
        types.BlobResourceContents(uri="test://b", blob=PNG_BASE64),
    ]


def test_icons_carry_over_and_none_is_absent() -> None:
    icon = config_pb2.Icon(src="https://example.com/a.png", mime_type="image/png", sizes=["48x48"])
    with_icon = convert.prompt(config_pb2.Prompt(name="p", icons=[icon]))
    assert with_icon.icons == [
        types.Icon(src="https://example.com/a.png", mime_type="image/png", sizes=["48x48"])
    ]
    assert convert.prompt(config_pb2.Prompt(name="p")).icons is None
    resource = convert.resource(config_pb2.Resource(uri="a:b", name="b", icons=[icon]))
    assert resource.icons and resource.icons[0].src == "https://example.com/a.png"


def test_a_messages_annotations_go_on_its_content_block() -> None:
    message = config_pb2.PromptMessage(
        role="user", text="x", annotations=config_pb2.Annotations(audience=["user"], priority=1.0)
    )
    block = convert.content(message)
    assert block.annotations == types.Annotations(audience=["user"], priority=1.0)
    assert convert.content(config_pb2.PromptMessage(role="user", text="x")).annotations is None
