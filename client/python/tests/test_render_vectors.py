"""The render vectors (client/render-vectors/*.json, the same files the Rust and TypeScript
suites run): each vector's prompt rendered with its arguments by the local renderer, and by the
real service (the prompt saved as a default through the admin API, rendered by `GetPrompt`),
both giving the vector's `expect`: the texts of the messages, or the missing argument named with
the service's message. Then S-RENDER-1: with the service stopped, `prompt()` renders a prompt of a view the client
holds (or loaded from a snapshot) locally, by the same rules (C-RENDER-1). The format is the
folder's README."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import BINARY
from mcp_config.v1 import config_pb2

from mcp_config_client import ConfigClient, InvalidArgument, Unavailable, render_locally
from mcp_config_client.testing import ConfigService

VECTORS = Path(__file__).resolve().parents[2] / "render-vectors"
PATHS = sorted(VECTORS.glob("*.json"))
#: The server whose defaults the vectors' prompts are saved as (one prompt per vector).
SERVER = "render-vectors"


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def as_prompt(name: str, content: dict[str, Any]) -> config_pb2.Prompt:
    """The vector's prompt as the service lists it (text messages only)."""
    return config_pb2.Prompt(
        name=name,
        description=content.get("description", ""),
        arguments=[
            config_pb2.PromptArgument(name=a["name"], required=a.get("required", False))
            for a in content.get("arguments", [])
        ],
        messages=[
            config_pb2.PromptMessage(role=m["role"], text=m["text"]) for m in content["messages"]
        ],
    )


def missing_message(name: str) -> str:
    """The service's message for a missing argument, word for word."""
    return f"arguments.{name}: missing argument {json.dumps(name)}"


def test_the_vectors_are_there_and_well_formed() -> None:
    assert len(PATHS) >= 10, f"render vectors expected in {VECTORS}"
    for path in PATHS:
        vector = load(path)
        assert vector["name"] == path.stem, path
        assert set(vector["expect"]) in ({"texts"}, {"missing_argument"}), path
        if "texts" in vector["expect"]:
            assert len(vector["expect"]["texts"]) == len(vector["prompt"]["messages"]), path


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_render_vector_locally(path: Path) -> None:
    vector = load(path)
    prompt = as_prompt(vector["name"], vector["prompt"])
    expect = vector["expect"]
    if "missing_argument" in expect:
        with pytest.raises(InvalidArgument) as raised:
            render_locally(prompt, vector["arguments"])
        assert raised.value.message == missing_message(expect["missing_argument"])
        assert raised.value.field == f"arguments.{expect['missing_argument']}"
    else:
        messages = render_locally(prompt, vector["arguments"])
        assert [m.text for m in messages] == expect["texts"]
        assert [m.role for m in messages] == [m["role"] for m in vector["prompt"]["messages"]]


@pytest.fixture(scope="module")
def vector_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConfigService]:
    """One service (no Redis) with every vector's prompt saved as a default of `SERVER`."""
    service = ConfigService(BINARY, tmp_path_factory.mktemp("render-vectors"))
    service.start()
    try:
        _save_vectors(service)
        yield service
    finally:
        service.kill()


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
async def test_render_vector_by_the_service(vector_service: ConfigService, path: Path) -> None:
    vector = load(path)
    expect = vector["expect"]
    async with ConfigClient(vector_service.endpoint, source=None) as client:
        if "missing_argument" in expect:
            with pytest.raises(InvalidArgument) as raised:
                await client.prompt("acme", SERVER, vector["name"], vector["arguments"])
            assert raised.value.message == missing_message(expect["missing_argument"])
            assert raised.value.field == f"arguments.{expect['missing_argument']}"
        else:
            answer = await client.prompt("acme", SERVER, vector["name"], vector["arguments"])
            assert [m.text for m in answer.messages] == expect["texts"]
            assert [m.role for m in answer.messages] == [
                m["role"] for m in vector["prompt"]["messages"]
            ]
            assert answer.description == vector["prompt"].get("description", "")
        # The prompt as the service lists it is the vector's: the local renderer was given
        # what a client would hold.
        listed = await client.prompts("acme", SERVER)
        prompt = next(p for p in listed.items if p.name == vector["name"])
        assert prompt == as_prompt(vector["name"], vector["prompt"])


def _save_vectors(service: ConfigService) -> None:
    for path in PATHS:
        vector = load(path)
        service.admin(
            "PUT",
            f"/defaults/servers/{SERVER}/prompts/{vector['name']}",
            {"content": vector["prompt"], "message": "render vector"},
        )


async def test_s_render_1_while_the_service_is_down_a_cached_or_snapshot_prompt_renders_locally(
    tmp_path: Path,
) -> None:
    """C-RENDER-1: with the service stopped, `prompt()` renders a prompt of a view the client
    holds (or loaded from its snapshot) by the service's rules; any other stays unavailable."""
    service = ConfigService(BINARY, tmp_path)
    service.start()
    try:
        _save_vectors(service)
        vectors = [load(path) for path in PATHS]
        snapshot = tmp_path / "snapshot.json"
        async with ConfigClient(
            service.endpoint, source=None, snapshot=snapshot, timeout=1.0
        ) as client:
            view = await client.prompts("acme", SERVER)
            answered = {
                v["name"]: await client.prompt("acme", SERVER, v["name"], v["arguments"])
                for v in vectors
                if "texts" in v["expect"]
            }
            service.kill()

            for vector in vectors:
                if "missing_argument" in vector["expect"]:
                    with pytest.raises(InvalidArgument) as raised:
                        await client.prompt("acme", SERVER, vector["name"], vector["arguments"])
                    expected = missing_message(vector["expect"]["missing_argument"])
                    assert raised.value.message == expected
                else:
                    local = await client.prompt("acme", SERVER, vector["name"], vector["arguments"])
                    assert local == answered[vector["name"]], vector["name"]
                    assert local.revision == view.revision
            assert client.status.state == "stale"
            with pytest.raises(Unavailable):
                await client.prompt("acme", SERVER, "no-such-prompt")
            with pytest.raises(Unavailable):  # a view never read
                await client.prompt("globex", SERVER, "plain-substitution", {"repo": "x"})

        # A cold client with nothing but the snapshot, the service still down.
        async with ConfigClient(
            service.endpoint, source=None, snapshot=snapshot, timeout=1.0
        ) as cold:
            several = next(v for v in vectors if v["name"] == "several-messages")
            local = await cold.prompt("acme", SERVER, several["name"], several["arguments"])
            assert local == answered["several-messages"]

        # Past max_stale the cached view is not used: unavailable, as a list read would be.
        async with ConfigClient(
            service.endpoint, source=None, snapshot=snapshot, timeout=1.0, max_stale=0.0
        ) as old:
            with pytest.raises(Unavailable):
                await old.prompt("acme", SERVER, "plain-substitution", {"repo": "x"})
    finally:
        service.kill()
