"""What a server hard-coded before mcp-config, served while the service cannot answer.

A list is the fallback's while the service cannot answer and the client knows no copy of the
view (a server started with the service down, no snapshot); a copy, even a stale one, is served
before it. `prompts/get` and `resources/read`, which only the service answers, give the
fallback's prompt or resource of that name or URI whenever the service cannot answer.

In MCP's own shapes, as the Rust and TypeScript loaders take it: a prompt as `prompts/list`
shows it, with the messages `prompts/get` answers; a resource as `resources/list` shows it, with
the contents `resources/read` answers. Nothing is rendered: a fallback prompt answers its
messages as given, whatever the arguments. A kind left empty has no fallback: while the service
cannot answer, its requests fail as they would without one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import mcp_types as types

from ..cache import ViewKind


@dataclass(frozen=True, slots=True)
class FallbackPrompt:
    """A prompt, and the messages `prompts/get` answers for it."""

    prompt: types.Prompt
    messages: Sequence[types.PromptMessage]

    def result(self) -> types.GetPromptResult:
        return types.GetPromptResult(
            description=self.prompt.description, messages=list(self.messages)
        )


@dataclass(frozen=True, slots=True)
class FallbackResource:
    """A resource, and the contents `resources/read` answers for it."""

    resource: types.Resource
    contents: Sequence[types.TextResourceContents | types.BlobResourceContents]

    def result(self) -> types.ReadResourceResult:
        return types.ReadResourceResult(contents=list(self.contents))


@dataclass(frozen=True, slots=True)
class Fallback:
    """A server's hard-coded prompts and resources (none by default)."""

    prompts: Sequence[FallbackPrompt] = ()
    resources: Sequence[FallbackResource] = ()

    def covers(self, kind: ViewKind) -> bool:
        """Whether there is a fallback for lists of `kind`."""
        return bool(self.prompts if kind is ViewKind.PROMPTS else self.resources)

    def prompt(self, name: str) -> FallbackPrompt | None:
        return next((p for p in self.prompts if p.prompt.name == name), None)

    def resource(self, uri: str) -> FallbackResource | None:
        return next((r for r in self.resources if r.resource.uri == uri), None)
