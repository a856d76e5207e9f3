"""The served OpenAPI description: valid 3.1, every contract route, typed bodies, documented errors."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from openapi_spec_validator import validate

CONTRACT = Path(__file__).resolve().parents[2] / "docs" / "contract.md"
_ROW = re.compile(r"^\| \d+ \| (GET|POST|PUT|PATCH|DELETE) \| `([^`]+)` \| ([a-z]+)")


def contract_routes() -> list[tuple[str, str, str]]:
    """(method, path, auth mode) of every row of the contract's endpoint summary (§2)."""
    text = CONTRACT.read_text()
    section = text.split("## 2. Endpoint summary", 1)[1].split("\n## ", 1)[0]
    rows = [m.groups() for line in section.splitlines() if (m := _ROW.match(line))]
    assert len(rows) >= 21, rows
    return [(method.lower(), "/api/v1" + path, auth) for method, path, auth in rows]


def _shape(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


@pytest.fixture()
def document(client: TestClient[Any]) -> dict[str, Any]:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    return body


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        schema = document["components"]["schemas"][name]
    return schema


def _is_typed_object(document: dict[str, Any], schema: dict[str, Any]) -> bool:
    """An object with named properties, or a choice between such objects (daily or session grain)."""
    schema = _resolve(document, schema)
    if "oneOf" in schema:
        return all(_is_typed_object(document, s) for s in schema["oneOf"])
    return bool(schema.get("properties"))


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]


def test_the_served_description_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1")
    validate(document)  # raises on any violation of the OpenAPI 3.1 schema


def test_every_contract_route_is_described_with_its_auth_mode(document: dict[str, Any]) -> None:
    described = {(method, _shape(path)): op for path, method, op in _operations(document)}
    schemes = document["components"]["securitySchemes"]
    assert schemes["jwt"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        **_desc(schemes["jwt"]),
    }
    assert schemes["sessionCookie"]["in"] == "cookie" and schemes["sessionCookie"]["name"] == "session"
    for method, path, auth in contract_routes():
        operation = described.get((method, _shape(path)))
        assert operation is not None, f"{method.upper()} {path} is missing from the description"
        assert operation["x-auth-mode"] == auth, (method, path)
        names = {name for requirement in operation.get("security", []) for name in requirement}
        expected = {"none": set(), "either": {"jwt", "apiToken", "sessionCookie"}}.get(
            auth, {"jwt", "sessionCookie"}
        )
        assert names == expected, (method, path, names)
        assert re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", operation["operationId"]), operation[
            "operationId"
        ]
    assert len({op["operationId"] for _, _, op in _operations(document)}) == len(_operations(document))


def _desc(scheme: dict[str, Any]) -> dict[str, Any]:
    return {"description": scheme["description"]} if "description" in scheme else {}


def test_only_the_api_is_described(document: dict[str, Any]) -> None:
    """The built-in pages, the static files and the docs themselves stay out."""
    assert all(path.startswith("/api/v1/") for path in document["paths"])
    assert "/api/v1/openapi.json" not in document["paths"]
    assert not any(path.startswith("/api/v1/docs") for path in document["paths"])


def _free_form_objects(document: dict[str, Any], schema: Any, trail: str, seen: set[str]) -> list[str]:
    """Object schemas without named properties, anywhere below ``schema``."""
    if isinstance(schema, list):
        return [
            p for i, s in enumerate(schema) for p in _free_form_objects(document, s, f"{trail}[{i}]", seen)
        ]
    if not isinstance(schema, dict):
        return []
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        if name in seen:
            return []
        seen.add(name)
        return _free_form_objects(document, document["components"]["schemas"][name], name, seen)
    found = []
    types = schema.get("type")
    if (types == "object" or (isinstance(types, list) and "object" in types)) and not schema.get(
        "properties"
    ):
        found.append(trail)
    for key in ("properties", "items", "oneOf", "anyOf", "allOf", "additionalProperties"):
        if key in schema:
            value = schema[key]
            if key == "properties":
                found += [
                    p for k, v in value.items() for p in _free_form_objects(document, v, f"{trail}.{k}", seen)
                ]
            else:
                found += _free_form_objects(document, value, f"{trail}/{key}", seen)
    return found


def test_bodies_are_typed_and_errors_use_the_error_body(document: dict[str, Any]) -> None:
    for path, method, operation in _operations(document):
        label = f"{method.upper()} {path}"
        body = operation.get("requestBody")
        if body is not None:
            schema = body["content"]["application/json"]["schema"]
            assert _is_typed_object(document, schema), label
            assert not _free_form_objects(document, schema, label, set()), label
        responses = operation["responses"]
        assert "500" in responses, label
        for status, response in responses.items():
            content = response.get("content")
            if content is None:
                assert status in {"204", "302"}, (label, status)
                continue
            if "application/json" not in content:  # a download (the data export's ZIP)
                assert int(status) < 300 and set(content) == {"application/zip"}, (label, status)
                continue
            schema = content["application/json"]["schema"]
            assert not _free_form_objects(document, schema, f"{label} {status}", set()), (label, status)
            if int(status) >= 400 and (path, status) not in {
                ("/api/v1/auth/pairings/{pairing_id}/exchange", "410"),
                ("/api/v1/recommendations/trigger", "409"),
            }:
                assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (label, status)
            elif int(status) < 300:
                assert _is_typed_object(document, schema), (label, status)


def test_request_bodies_and_query_parameters_carry_the_contract_constraints(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    register = schemas["RegisterIn"]
    assert register["required"] == ["email", "password"]
    assert register["properties"]["password"]["minLength"] == 8
    assert register["properties"]["username"] == {
        "type": "string",
        "minLength": 3,
        "maxLength": 50,
        **_desc(register["properties"]["username"]),
    }
    assert schemas["TokenIn"]["properties"]["name"] == {"type": "string", "minLength": 1, "maxLength": 64}
    batch = schemas["TelemetryBatch"]
    assert batch["required"] == ["events"]
    assert (
        batch["properties"]["events"]["minItems"] == 1 and batch["properties"]["events"]["maxItems"] == 10_000
    )
    assert set(schemas["TelemetryEvent"]["required"]) == {"type", "timestamp", "workspace", "session_id"}

    churn = document["paths"]["/api/v1/metrics/context-switching"]["get"]
    params = {p["name"]: p for p in churn["parameters"]}
    assert params["from"]["required"] and params["to"]["required"]
    assert params["top_n"]["schema"]["minimum"] == 1 and params["top_n"]["schema"]["maximum"] == 20
    limit = document["paths"]["/api/v1/recommendations"]["get"]["parameters"][0]
    assert limit["name"] == "limit" and limit["in"] == "query"
    approve = document["paths"]["/api/v1/auth/pairings/{user_code}/approve"]["post"]
    assert approve["parameters"][0]["schema"]["pattern"].startswith("^[BCDFGHJKMNPQRSTVWXZ23456789]{4}-")


def test_the_docs_page_is_html_that_reads_the_description(client: TestClient[Any]) -> None:
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "swagger" in response.text.lower()
    assert '"operationId":"ingest_telemetry"' in response.text  # the completed document is embedded
    assert '"TelemetryBatch"' in response.text


def test_the_description_does_not_change_the_api_s_own_errors(client: TestClient[Any]) -> None:
    """Serving the docs adds no catch-all under /api/v1: unknown paths keep the contract's 404."""
    for method in ("get", "post"):
        for path in ("/api/v1/no-such-route", "/api/v1/docs/no-such-page", "/api/v1/openapi.json/x"):
            response = client.request(method.upper(), path)
            assert response.status_code == 404, (method, path)
            assert response.json() == {"error": "Not found"}
    head = client.head("/api/v1/openapi.json")
    assert head.status_code == 200 and head.content == b""
