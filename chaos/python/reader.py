"""A chaos-run reader: the Python client on the Watch source, reporting what it serves.

Prints one JSON line per read to stdout: after each change notification (`event`: the
change's revision, 0 for a flush) and every 250 ms (`event` 0), with the view's revision,
whether it was served stale, and each prompt's first message. The chaos runner checks them.

    python reader.py ENDPOINT ORG SERVER
"""

import asyncio
import json
import sys

from mcp_config_client import Changed, ConfigClient, ConfigError, Watch


async def report(client: ConfigClient, org: str, server: str, event: int) -> None:
    try:
        view = await client.prompts(org, server)
    except ConfigError as error:
        print(json.dumps({"event": event, "error": str(error)}), flush=True)
        return
    texts = {p.name: p.messages[0].text if p.messages else "" for p in view.items}
    line = {"event": event, "revision": view.revision, "stale": view.stale is not None, "texts": texts}
    print(json.dumps(line), flush=True)


async def follow(client: ConfigClient, org: str, server: str) -> None:
    async with client.changes() as changes:
        async for change in changes:
            if isinstance(change, Changed) and change.server == server and change.concerns(org):
                await report(client, org, server, change.revision)


async def main(endpoint: str, org: str, server: str) -> None:
    # A silence bound of 3 s: the runner's replicas announce progress every second.
    async with ConfigClient(endpoint, source=Watch(), silence=3.0, timeout=2.0) as client:
        following = asyncio.create_task(follow(client, org, server))
        while not following.done():
            await report(client, org, server, 0)
            await asyncio.sleep(0.25)
        following.result()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
