"""Every answer the API gives is described in /openapi.json: each 2xx with a body has a schema
for each of its content types, and each error is the one shared error body."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from api.app import create_app
from tests.support.api import settings_for
from tests.support.stores import StoreConfig

NO_BODY = {"204"}


@pytest.fixture(scope="module")
def openapi(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    store = StoreConfig(database_url=None, data_dir=Path(tmp_path_factory.mktemp("openapi")))
    document: dict[str, Any] = create_app(settings_for(store)).openapi()
    return document


def _operations(openapi: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{method.upper()} {path}", operation)
        for path, item in openapi["paths"].items()
        for method, operation in item.items()
    ]


def test_every_successful_answer_has_a_schema(openapi: dict[str, Any]) -> None:
    missing = []
    for name, operation in _operations(openapi):
        successes = {code: r for code, r in operation["responses"].items() if code[0] == "2"}
        if not successes:
            missing.append(f"{name}: no 2xx answer")
        for code, response in successes.items():
            if code in NO_BODY:
                continue
            content = response.get("content") or {}
            if not content:
                missing.append(f"{name} {code}: no content")
            missing += [
                f"{name} {code} {media_type}: no schema"
                for media_type, body in content.items()
                if not body.get("schema")
            ]
    assert missing == []


def test_every_json_answer_is_a_named_model(openapi: dict[str, Any]) -> None:
    """A JSON body is a model of api/answers (a $ref), never a bare untyped object."""
    untyped = [
        f"{name} {code}"
        for name, operation in _operations(openapi)
        for code, response in operation["responses"].items()
        for media_type, body in response.get("content", {}).items()
        if media_type == "application/json" and "$ref" not in body.get("schema", {})
    ]
    assert untyped == []


def test_errors_are_the_shared_error_answer(openapi: dict[str, Any]) -> None:
    wrong = [
        f"{name} {code}"
        for name, operation in _operations(openapi)
        for code, response in operation["responses"].items()
        if code[0] in "45" and not (name == "GET /readyz" and code == "503")
        if response["content"]["application/json"]["schema"]
        != {"$ref": "#/components/schemas/ErrorAnswer"}
    ]
    assert wrong == []
    assert "HTTPValidationError" not in openapi["components"]["schemas"]
