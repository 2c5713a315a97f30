"""C-RENDER-2: while the service cannot be reached, `read_resource` answers a resource of the
resources view the client holds (cached, or from its snapshot, no older than `max_stale`) by
its exact URI, as the service answered it; a URI only a resource template matches, a resource
not in the view, and a view not held stay unavailable."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcp_config_client import ConfigClient, Unavailable
from mcp_config_client.testing import ConfigService

#: The server `conformance`'s defaults hold a text resource, a binary one and a template.
CONFORMANCE_BUNDLE = Path(__file__).resolve().parents[3] / "tests" / "conformance" / "bundle.yaml"
TEXT = "test://static-text"
BINARY = "test://static-binary"
TEMPLATE = "test://template/{id}/data"
TEMPLATED = "test://template/42/data"


async def test_s_render_2_while_the_service_is_down_a_held_resource_is_read_locally(
    service: ConfigService, tmp_path: Path
) -> None:
    service.import_bundle(CONFORMANCE_BUNDLE)
    snapshot = tmp_path / "snapshot.json"
    async with ConfigClient(
        service.endpoint, source=None, snapshot=snapshot, timeout=1.0
    ) as client:
        view = await client.resources("acme", "conformance")
        answered = {
            uri: await client.read_resource("acme", "conformance", uri) for uri in (TEXT, BINARY)
        }
        templated = await client.read_resource("acme", "conformance", TEMPLATED)
        service.kill()

        # Enough failed calls to open the breaker: held resources are still answered.
        local = {
            uri: await client.read_resource("acme", "conformance", uri) for uri in (TEXT, BINARY)
        }
        again = await client.read_resource("acme", "conformance", TEXT)
        for unavailable in (TEMPLATED, TEMPLATE, "test://no-such-resource"):
            with pytest.raises(Unavailable):
                await client.read_resource("acme", "conformance", unavailable)
        with pytest.raises(Unavailable):  # a view never read
            await client.read_resource("globex", "conformance", TEXT)
        state = client.status.state

    assert templated.contents[0].text.startswith('{"id":"42"'), "the service renders templates"
    for uri in (TEXT, BINARY):
        assert list(local[uri].contents) == list(answered[uri].contents), uri
        assert local[uri].revision == view.revision
    assert local[TEXT].contents[0].mime_type == "text/plain"
    assert local[BINARY].contents[0].WhichOneof("contents") == "blob"
    assert again == local[TEXT]
    assert state == "stale"

    # A cold client with nothing but the snapshot, the service still down.
    async with ConfigClient(service.endpoint, source=None, snapshot=snapshot, timeout=1.0) as cold:
        from_snapshot = await cold.read_resource("acme", "conformance", BINARY)
    assert list(from_snapshot.contents) == list(answered[BINARY].contents)

    # Past max_stale the held view is not used: unavailable, as a list read would be.
    async with ConfigClient(
        service.endpoint, source=None, snapshot=snapshot, timeout=1.0, max_stale=0.0
    ) as old:
        with pytest.raises(Unavailable):
            await old.read_resource("acme", "conformance", TEXT)
