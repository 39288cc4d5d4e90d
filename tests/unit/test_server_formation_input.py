"""What the formation and app endpoints accept, checked without a server."""

from __future__ import annotations

import pytest

from slugbuild.platform.server import validate
from slugbuild.platform.server.problems import ApiProblem


@pytest.mark.parametrize(("sent", "expected"), [(3, (3, False)), ("3", (3, False)), ("+2", (2, True)),
                                                ("-1", (-1, True)), (0, (0, False))])
def test_quantity_absolute_or_relative(sent, expected):
    assert validate.quantity(sent) == expected


@pytest.mark.parametrize("sent", [-1, True, 1.5, "", "2x", "+", "1e3", "٣", "+1234567", None])
def test_quantity_refuses_anything_else(sent):
    with pytest.raises(ApiProblem) as refused:
        validate.quantity(sent)
    assert refused.value.status == 422


@pytest.mark.parametrize(("sent", "expected"), [("standard-2x", "Standard-2X"), ("BASIC", "Basic"),
                                                ("Performance-L-RAM", "Performance-L-RAM")])
def test_dyno_sizes_in_any_case_come_back_as_heroku_spells_them(sent, expected):
    assert validate.dyno_size(sent) == expected


@pytest.mark.parametrize("sent", ["standard-3x", "", 2, None, "Private-S"])
def test_unknown_dyno_sizes_are_refused(sent):
    with pytest.raises(ApiProblem):
        validate.dyno_size(sent)


def test_app_update_keeps_only_what_it_knows_and_checks_it():
    assert validate.app_update({"name": "ok-name", "maintenance": 0, "owner": "x"}) == {
        "name": "ok-name", "maintenance": False}
    assert validate.app_update(None) == {}
    for bad in ({"name": "Bad"}, {"maintenance": "on"}, {"build_stack": 24}, ["name"]):
        with pytest.raises(ApiProblem):
            validate.app_update(bad)
