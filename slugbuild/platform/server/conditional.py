"""ETags and conditional requests, as Heroku answers them: every JSON answer carries an ETag; a GET whose
If-None-Match names it gets 304 with no body; a change whose If-Match names a stale one gets 412.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from slugbuild.platform.server.call import Reply
from slugbuild.platform.server.problems import ApiProblem


def etag(body: Any) -> str:
    """A strong ETag for a JSON body: the same for the same content, whatever order its keys are in."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return f'"{hashlib.sha256(canonical).hexdigest()[:32]}"'


def _listed(header: str, *, weak: bool) -> list[str]:
    """The entity tags of an If-Match / If-None-Match value; `weak` drops W/ (If-None-Match compares
    weakly, If-Match strongly, so a weak tag there never matches)."""
    tags = [tag.strip() for tag in header.split(",") if tag.strip()]
    return [tag.removeprefix("W/") for tag in tags] if weak else tags


def tagged(reply: Reply) -> Reply:
    """`reply` with its ETag header (a successful JSON answer only)."""
    if not 200 <= reply.status < 300 or reply.body is None:
        return reply
    return Reply(reply.status, reply.body, {**reply.headers, "ETag": etag(reply.body)})


def not_modified(reply: Reply, headers: Mapping[str, str]) -> Reply:
    """304 with the ETag and no body when If-None-Match names the reply's ETag (or is `*`)."""
    sent = headers.get("if-none-match")
    tag = reply.headers.get("ETag")
    if sent is None or tag is None:
        return reply
    tags = _listed(sent, weak=True)
    return Reply(304, None, dict(reply.headers)) if "*" in tags or tag in tags else reply


def check_if_match(headers: Mapping[str, str], current: Reply | None) -> None:
    """Refuse (412) a change whose If-Match does not name the resource's current ETag."""
    sent = headers.get("if-match")
    if sent is None:
        return
    tags = _listed(sent, weak=False)
    if current is not None and ("*" in tags or etag(current.body) in tags):
        return
    raise ApiProblem(412, "precondition_failed",
                     "The resource has changed since you read it (If-Match names another ETag); "
                     "GET it again and retry with its ETag.")
