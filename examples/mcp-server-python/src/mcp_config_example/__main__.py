"""`python -m mcp_config_example --server github`: serves the MCP server over streamable HTTP."""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import sys

import uvicorn
from mcp_config_client import ConfigClient, Redis, Source, Watch
from mcp_config_client.loader import ConfigLoader

from .app import Settings, build


class _Server(uvicorn.Server):
    """uvicorn waits for open responses to finish before it runs the app's shutdown, and a
    `subscriptions/listen` stream never finishes by itself: it is ended (gracefully) first."""

    def __init__(self, config: uvicorn.Config, loader: ConfigLoader) -> None:
        super().__init__(config)
        self._loader = loader

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self._loader.close_listen_streams()
        await super().shutdown(sockets)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--server", required=True, help="MCP server name in mcp-config (github, slack, …)"
    )
    parser.add_argument(
        "--config-endpoint", default="127.0.0.1:50051", help="mcp-config gRPC address"
    )
    parser.add_argument("--redis-url", help="follow invalidations on this Redis instead of Watch")
    parser.add_argument("--channel", default="mcp-config:invalidations", help="Redis channel")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--jwt-secret",
        default=os.environ.get("MCP_CONFIG_JWT_SECRET"),
        help="HS256 secret to verify bearer tokens [env MCP_CONFIG_JWT_SECRET]",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("MCP_CONFIG_TOKEN"),
        help="service token for mcp-config when it runs with auth [env MCP_CONFIG_TOKEN]",
    )
    parser.add_argument(
        "--label",
        default=os.environ.get("MCP_CONFIG_LABEL", ""),
        help="release label to serve (staging, …); default production [env MCP_CONFIG_LABEL]",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    source: Source = Redis(args.redis_url, args.channel) if args.redis_url else Watch()
    client = ConfigClient(args.config_endpoint, source=source, token=args.token, label=args.label)
    app = build(Settings(server=args.server, jwt_secret=args.jwt_secret), client)
    server = _Server(
        uvicorn.Config(app, host=args.host, port=args.port, log_level="warning"),
        app.state.loader,
    )
    # As `uvicorn.run`: after its graceful shutdown uvicorn re-raises the signal it caught.
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    if not server.started:
        sys.exit("the MCP server did not start")


if __name__ == "__main__":
    main()
