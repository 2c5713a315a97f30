"""mcp-config's protobuf messages as MCP types (the service shapes them after MCP already, so
this is field for field; empty strings are absent fields in MCP, bytes are base64)."""

from __future__ import annotations

import base64
from collections.abc import Sequence

import mcp_types as types
from mcp_config.v1 import config_pb2

#: At most this many values in one `completion/complete` answer (MCP's bound).
MAX_COMPLETION_VALUES = 100


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _icons(icons) -> list[types.Icon] | None:
    """Icons as MCP has them; none is an absent field."""
    return [
        types.Icon(src=i.src, mime_type=i.mime_type or None, sizes=list(i.sizes) or None)
        for i in icons
    ] or None


def prompt(p: config_pb2.Prompt) -> types.Prompt:
    return types.Prompt(
        name=p.name,
        title=p.title or None,
        description=p.description or None,
        icons=_icons(p.icons),
        arguments=[
            types.PromptArgument(
                name=a.name, description=a.description or None, required=a.required
            )
            for a in p.arguments
        ],
    )


def rendered(response: config_pb2.GetPromptResponse, description: str) -> types.GetPromptResult:
    return types.GetPromptResult(
        description=description or None,
        messages=[types.PromptMessage(role=m.role, content=content(m)) for m in response.messages],
    )


def content(m: config_pb2.PromptMessage) -> types.ContentBlock:
    """A rendered message's content as an MCP content block (its text when no other content
    is set), with the message's annotations."""
    block = _block(m)
    if m.HasField("annotations"):
        block.annotations = _annotations(m)
    return block


def _block(m: config_pb2.PromptMessage) -> types.ContentBlock:
    match m.WhichOneof("content"):
        case "image":
            return types.ImageContent(data=_b64(m.image.data), mime_type=m.image.mime_type)
        case "audio":
            return types.AudioContent(data=_b64(m.audio.data), mime_type=m.audio.mime_type)
        case "resource":
            return types.EmbeddedResource(resource=resource_contents(m.resource))
        case "resource_link":
            link = m.resource_link
            return types.ResourceLink(
                uri=link.uri,
                name=link.name,
                title=link.title or None,
                description=link.description or None,
                mime_type=link.mime_type or None,
            )
        case _:
            return types.TextContent(text=m.text)


def _annotations(r: config_pb2.Resource | config_pb2.PromptMessage) -> types.Annotations | None:
    """The annotations of a resource or a message; none is an absent field."""
    if not r.HasField("annotations"):
        return None
    return types.Annotations(
        audience=list(r.annotations.audience) or None,
        priority=r.annotations.priority if r.annotations.HasField("priority") else None,
        last_modified=r.annotations.last_modified or None,
    )


def resource(r: config_pb2.Resource) -> types.Resource:
    """A resource of a view; see `resource_template` for one whose `is_template` is set."""
    return types.Resource(
        uri=r.uri,
        name=r.name,
        title=r.title or None,
        description=r.description or None,
        mime_type=r.mime_type or None,
        size=r.size,
        annotations=_annotations(r),
        icons=_icons(r.icons),
    )


def resource_template(r: config_pb2.Resource) -> types.ResourceTemplate:
    """A resource template of a view (`is_template`): its URI is the template."""
    return types.ResourceTemplate(
        uri_template=r.uri,
        name=r.name,
        title=r.title or None,
        description=r.description or None,
        mime_type=r.mime_type or None,
        annotations=_annotations(r),
        icons=_icons(r.icons),
    )


def resources(items: Sequence[config_pb2.Resource]) -> list[types.Resource]:
    """What `resources/list` lists of a view: its resources, not its templates."""
    return [resource(r) for r in items if not r.is_template]


def resource_templates(items: Sequence[config_pb2.Resource]) -> list[types.ResourceTemplate]:
    """What `resources/templates/list` lists of a view: its templates."""
    return [resource_template(r) for r in items if r.is_template]


def completion(argument: config_pb2.PromptArgument, typed: str) -> types.Completion:
    """The choices of `argument` that start with `typed`, as many as one answer may hold."""
    matching = [choice for choice in argument.choices if choice.startswith(typed)]
    values = matching[:MAX_COMPLETION_VALUES]
    return types.Completion(
        values=values, total=len(matching), has_more=len(matching) > len(values)
    )


def resource_contents(
    c: config_pb2.ResourceContents,
) -> types.TextResourceContents | types.BlobResourceContents:
    if c.WhichOneof("contents") == "blob":
        return types.BlobResourceContents(
            uri=c.uri, mime_type=c.mime_type or None, blob=_b64(c.blob)
        )
    return types.TextResourceContents(uri=c.uri, mime_type=c.mime_type or None, text=c.text)


def contents(response: config_pb2.ReadResourceResponse) -> types.ReadResourceResult:
    return types.ReadResourceResult(contents=[resource_contents(c) for c in response.contents])
