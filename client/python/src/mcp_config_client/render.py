"""Renders a prompt locally with Jinja2, to the messages the service's `GetPrompt` produces.

The service renders with minijinja, which follows Jinja2's syntax and semantics; this module
mirrors its rules around the template: a declared optional argument that was not given renders
as an empty string, while a missing required argument, or any variable a template uses that is
neither declared nor given, is an `InvalidArgument` naming it (with the service's message).
Templates run in Jinja2's sandbox with strict undefined values; every template is checked for
missing variables before any is rendered, and any failure of a template is a `RenderError`. The
service's work and output limits are not mirrored: rendering here spends the caller's own CPU.
`ConfigClient.prompt` renders with it while the service cannot be reached (C-RENDER-1).

client/render-vectors/ holds the cases this renderer and the service are proven to agree on.
Outside them Jinja2 and minijinja differ in places: a template's line ends CR LF and CR become
LF here (the service keeps them), maps print in their own order (the service sorts their keys),
and Python's string methods and `%` formatting work here but fail in the service.

The templates of a message are those the service renders: a text message's text, an embedded
resource's URI and text, a resource link's URI; images, audio and blobs are copied as they are.
An embedded resource with neither text nor blob stands for the org's own resource at its URI,
which the service reads at render time; rendered here it keeps its `contents` unset (its URI
rendered): read it with `ConfigClient.read_resource` if it is needed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping

import jinja2
from jinja2 import meta, nodes
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
    resource that refers to the org's own is left unresolved: see the module's note).

    As the service does, every template is parsed and checked for missing variables before any
    is rendered: the variable named is the first template's, whatever a later one would do."""
    for declared in prompt.arguments:
        if declared.required and declared.name not in arguments:
            raise missing_argument(declared.name)
    context = {a.name: "" for a in prompt.arguments} | dict(arguments)
    parsed = [[_parse(source) for source in _templates(message)] for message in prompt.messages]
    for templates in parsed:
        for template in templates:
            for name in sorted(meta.find_undeclared_variables(template)):
                if name not in context and name not in _ENVIRONMENT.globals:
                    raise missing_argument(name)
    return [
        _render_message(message, iter(templates), context)
        for message, templates in zip(prompt.messages, parsed, strict=True)
    ]


def _templates(message: config_pb2.PromptMessage) -> list[str]:
    """The templates of `message`, in the order the service renders them."""
    match message.WhichOneof("content"):
        case None:
            return [message.text]
        case "resource":
            if message.resource.WhichOneof("contents") == "text":
                return [message.resource.uri, message.resource.text]
            return [message.resource.uri]
        case "resource_link":
            return [message.resource_link.uri]
    return []


def _render_message(
    message: config_pb2.PromptMessage,
    templates: Iterator[nodes.Template],
    context: Mapping[str, str],
) -> config_pb2.PromptMessage:
    """A copy of `message` with each of its templates (`_templates`, parsed) rendered."""
    rendered = config_pb2.PromptMessage()
    rendered.CopyFrom(message)
    match message.WhichOneof("content"):
        case None:
            rendered.text = _render(next(templates), context)
        case "resource":
            rendered.resource.uri = _render(next(templates), context)
            if message.resource.WhichOneof("contents") == "text":
                rendered.resource.text = _render(next(templates), context)
        case "resource_link":
            rendered.resource_link.uri = _render(next(templates), context)
    return rendered


def _parse(source: str) -> nodes.Template:
    try:
        return _ENVIRONMENT.parse(source)
    except jinja2.TemplateError as error:
        raise RenderError(f"template error: {error}") from error


def _render(template: nodes.Template, context: Mapping[str, str]) -> str:
    try:
        return _ENVIRONMENT.from_string(template).render(context)
    except Exception as error:
        # Any failure of a template (`{{ -"text" }}` is a TypeError) is what the service answers
        # FAILED_PRECONDITION for, not a crash of the caller.
        raise RenderError(f"template error: {error}") from error
