"""Errors the API answers with, in Heroku's shape: a status and a body `{"id", "message"}`."""

from __future__ import annotations

from typing import Any

MISSING_VERSION = ("Please specify a version along with Heroku's API MIME type. For example, "
                   "`Accept: application/vnd.heroku+json; version=3`.\n")
NO_ENDPOINT = ("The requested API endpoint was not found. Are you using the right HTTP verb (i.e. `GET` vs. "
               "`POST`), and did you specify your intended version with the `Accept` header?")


class ApiProblem(Exception):
    """A request the API refuses; `body()` is what the client receives."""

    def __init__(self, status: int, error_id: str, message: str, **extra: str) -> None:
        super().__init__(message)
        self.status, self.error_id, self.message, self.extra = status, error_id, message, extra

    def body(self) -> dict[str, Any]:
        return {"id": self.error_id, "message": self.message, **self.extra}


def not_found(what: str) -> ApiProblem:
    """404 as Heroku words it: `Couldn't find that app.`"""
    return ApiProblem(404, "not_found", f"Couldn't find that {what}.", resource=what)


def invalid(message: str) -> ApiProblem:
    """422 invalid_params with `message`, as Heroku answers a bad value."""
    return ApiProblem(422, "invalid_params", message)


def missing_version() -> ApiProblem:
    # Heroku's own answer carries the text under `error`; `message` is added so every error reads alike.
    """400 missing_version: the Accept header names no API version."""
    return ApiProblem(400, "missing_version", MISSING_VERSION, error=MISSING_VERSION)


def unauthorized() -> ApiProblem:
    """401 unauthorized: no API key, or the wrong one."""
    return ApiProblem(401, "unauthorized", "Invalid credentials provided.")
