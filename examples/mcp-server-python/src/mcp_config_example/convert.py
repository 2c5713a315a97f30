"""mcp-config's protobuf messages as MCP types (the service shapes them after MCP already, so
this is field for field)."""

from __future__ import annotations

import base64

import mcp_types as types
from mcp_config.v1 import config_pb2


def prompt(p: config_pb2.Prompt) -> types.Prompt:
    return types.Prompt(
        name=p.name,
        title=p.title or None,
        description=p.description or None,
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
        messages=[
            types.PromptMessage(role=m.role, content=types.TextContent(text=m.text))
            for m in response.messages
        ],
    )


def resource(r: config_pb2.Resource) -> types.Resource:
    annotations = None
    if r.HasField("annotations"):
        annotations = types.Annotations(
            audience=list(r.annotations.audience) or None,
            priority=r.annotations.priority if r.annotations.HasField("priority") else None,
            last_modified=r.annotations.last_modified or None,
        )
    return types.Resource(
        uri=r.uri,
        name=r.name,
        title=r.title or None,
        description=r.description or None,
        mime_type=r.mime_type or None,
        size=r.size,
        annotations=annotations,
    )


def contents(
    response: config_pb2.ReadResourceResponse,
) -> types.ReadResourceResult:
    return types.ReadResourceResult(
        contents=[
            types.BlobResourceContents(
                uri=c.uri, mime_type=c.mime_type or None, blob=base64.b64encode(c.blob).decode()
            )
            if c.WhichOneof("contents") == "blob"
            else types.TextResourceContents(uri=c.uri, mime_type=c.mime_type or None, text=c.text)
            for c in response.contents
        ]
    )
