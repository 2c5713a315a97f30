"""Renders a prompt locally with Jinja2, to the messages the service's `GetPrompt` produces.

The service renders with minijinja, which follows Jinja2's syntax and semantics; this module
mirrors its rules around the template: a declared optional argument that was not given renders
as an empty string, while a missing required argument, or any variable a template uses that is
neither declared nor given, is an `InvalidArgument` naming it (with the service's message).
Templates run in Jinja2's sandbox with strict undefined values. The service's work and output
limits are not mirrored: rendering here spends the caller's own CPU.

The templates of a message are those the service renders: a text message's text, an embedded
resource's URI and text, a resource link's URI; images, audio and blobs are copied as they are.
An embedded resource with neither text nor blob stands for the org's own resource at its URI,
which the service reads at render time; rendered here it keeps its `contents` unset (its URI
rendered): read it with `ConfigClient.read_resource` if it is needed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import jinja2
from jinja2 import meta
from jinja2.sandbox import ImmutableSandboxedEnvironment
from mcp_config.v1 import config_pb2

from .errors import InvalidArgument, RenderError

_ENVIRONMENT = ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)


def missing_argument(name: str) -> InvalidArgument:
    """The error the service answers for a missing argument, word for word."""
    return InvalidArgument(f"arguments.{name}: missing argument {json.dumps(name)}")


def render_locally(
    prompt: config_pb2.Prompt, arguments: Mapping[str, str]
) -> list[config_pb2.PromptMessage]:
    """The prompt's messages with their templates rendered with `arguments` (an embedded
    resource that refers to the org's own is left unresolved: see the module's note)."""
    for declared in prompt.arguments:
        if declared.required and declared.name not in arguments:
            raise missing_argument(declared.name)
    context = {a.name: "" for a in prompt.arguments} | dict(arguments)
    return [_render_message(message, context) for message in prompt.messages]


def _render_message(
    message: config_pb2.PromptMessage, context: Mapping[str, str]
) -> config_pb2.PromptMessage:
    """A copy of `message` with each of its templates rendered, in the service's order."""
    rendered = config_pb2.PromptMessage()
    rendered.CopyFrom(message)
    match message.WhichOneof("content"):
        case None:
            rendered.text = _render(message.text, context)
        case "resource":
            rendered.resource.uri = _render(message.resource.uri, context)
            if message.resource.WhichOneof("contents") == "text":
                rendered.resource.text = _render(message.resource.text, context)
        case "resource_link":
            rendered.resource_link.uri = _render(message.resource_link.uri, context)
    return rendered


def _render(source: str, context: Mapping[str, str]) -> str:
    try:
        template = _ENVIRONMENT.parse(source)
        for name in sorted(meta.find_undeclared_variables(template)):
            if name not in context and name not in _ENVIRONMENT.globals:
                raise missing_argument(name)
        return _ENVIRONMENT.from_string(template).render(context)
    except jinja2.TemplateError as error:
        raise RenderError(f"template error: {error}") from error
