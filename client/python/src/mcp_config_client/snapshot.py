"""The snapshot file: the views a process knew, so a cold start can serve them (as stale) while
the service is unreachable.

The format is the Rust client's (a JSON list of views, each an encoded list response in
base64), so a snapshot written by either client is read by the other. The response keeps the
view's `org_unknown`; a snapshot from before that field reads as a registered org's.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from google.protobuf.message import DecodeError
from mcp_config.v1 import config_pb2

from .cache import Cache, Entry, ViewId, ViewKind

log = logging.getLogger(__name__)


def _response(kind: ViewKind, entry: Entry) -> bytes:
    """The view as the list answer that carried it, `org_unknown` included."""
    if kind is ViewKind.PROMPTS:
        return config_pb2.GetPromptsResponse(
            revision=entry.revision, prompts=entry.items, org_unknown=entry.org_unknown
        ).SerializeToString()
    return config_pb2.GetResourcesResponse(
        revision=entry.revision, resources=entry.items, org_unknown=entry.org_unknown
    ).SerializeToString()


def _decoded(kind: ViewKind, body: bytes) -> tuple[tuple[Any, ...], bool]:
    """A saved view's items and `org_unknown` (False in a snapshot written before it existed:
    proto3 reads an absent field as its default)."""
    if kind is ViewKind.PROMPTS:
        prompts = config_pb2.GetPromptsResponse.FromString(body)
        return tuple(prompts.prompts), prompts.org_unknown
    resources = config_pb2.GetResourcesResponse.FromString(body)
    return tuple(resources.resources), resources.org_unknown


def save_snapshot(path: Path, cache: Cache) -> None:
    """Writes every known view, atomically (a temp file renamed over the old one)."""
    now_ms = time.time() * 1000
    saved = [
        {
            "id": {"kind": view_id.kind.value, "org": view_id.org, "server": view_id.server},
            "revision": entry.revision,
            "confirmed_ms": int(now_ms - entry.age() * 1000),
            "body": base64.b64encode(_response(view_id.kind, entry)).decode(),
        }
        for view_id, entry in cache.items()
    ]
    temp = path.with_suffix(".tmp")
    try:
        temp.write_text(json.dumps(saved))
        os.replace(temp, path)
    except OSError as error:
        log.warning("cannot write the snapshot %s: %s", path, error)


def load_snapshot(path: Path, cache: Cache) -> None:
    """Loads a snapshot's views as out of date (to be revalidated, or served stale)."""
    try:
        saved = json.loads(path.read_text())
    except FileNotFoundError:
        return
    except (OSError, ValueError) as error:
        log.warning("ignoring an unreadable snapshot %s: %s", path, error)
        return
    now = time.monotonic()
    now_ms = time.time() * 1000
    for view in saved:
        try:
            kind = ViewKind(view["id"]["kind"])
            view_id = ViewId(kind, view["id"]["org"], view["id"]["server"])
            items, org_unknown = _decoded(kind, base64.b64decode(view["body"]))
            age = max(0.0, now_ms - view["confirmed_ms"]) / 1000
            revision = int(view["revision"])
            entry = Entry(revision, items, now - age, current=False, org_unknown=org_unknown)
        except (KeyError, TypeError, ValueError, DecodeError) as error:
            log.warning("skipping an unreadable view in %s: %s", path, error)
            continue
        cache.restore(view_id, entry)
