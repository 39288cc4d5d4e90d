"""ETags and conditional requests, decided without any HTTP server."""

from __future__ import annotations

import pytest

from slugbuild.platform.server.call import Reply
from slugbuild.platform.server.conditional import check_if_match, etag, not_modified, tagged
from slugbuild.platform.server.problems import ApiProblem


def test_the_etag_depends_on_content_not_key_order():
    assert etag({"a": 1, "b": [1, 2]}) == etag({"b": [1, 2], "a": 1})
    assert etag({"a": 1}) != etag({"a": 2})


def test_only_successful_json_answers_are_tagged():
    assert "ETag" in tagged(Reply(200, {"a": 1})).headers
    assert "ETag" in tagged(Reply(206, [1])).headers
    assert "ETag" not in tagged(Reply(404, {"id": "not_found"})).headers


@pytest.mark.parametrize(("sent", "status"), [(None, 200), ('"nope"', 200), ("*", 304), ("{tag}", 304),
                                              ('"nope", W/{tag}', 304)])
def test_if_none_match(sent, status):
    reply = tagged(Reply(200, {"a": 1}, {"Accept-Ranges": "id"}))
    tag = reply.headers["ETag"]
    headers = {} if sent is None else {"if-none-match": sent.format(tag=tag)}
    answered = not_modified(reply, headers)
    assert answered.status == status and answered.headers["ETag"] == tag
    assert (answered.body is None) == (status == 304)


@pytest.mark.parametrize(("sent", "current", "allowed"), [
    ("{tag}", {"a": 1}, True), ("*", {"a": 1}, True), ('"old", {tag}', {"a": 1}, True),
    ("W/{tag}", {"a": 1}, False), ('"old"', {"a": 1}, False), ("*", None, False),
])
def test_if_match(sent, current, allowed):
    tag = etag({"a": 1})
    reply = None if current is None else Reply(200, current)
    headers = {"if-match": sent.format(tag=tag)}
    if allowed:
        check_if_match(headers, reply)
    else:
        with pytest.raises(ApiProblem) as refused:
            check_if_match(headers, reply)
        assert refused.value.status == 412
