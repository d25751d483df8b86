"""Error answers shared by the routes, for the OpenAPI document (`responses=`): what a route
may answer besides its success, with the `Message` body every refusal carries."""

from __future__ import annotations

from typing import Any

from .schemas import Message

Responses = dict[int | str, dict[str, Any]]

AUTH_ERRORS: Responses = {
    401: {"model": Message, "description": "not logged in"},
    403: {"model": Message, "description": "role may not do this"},
    422: {"description": "bad filter or parameter (the detail says which)"},
}
NOT_FOUND_ERROR: Responses = {404: {"model": Message, "description": "no such event in your scope"}}
CONFLICT_ERROR: Responses = {409: {"model": Message, "description": "the request conflicts with the current state"}}
