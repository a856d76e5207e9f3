"""Fuzzing the real service over real HTTP (embedded SQLite default, one ``devflow serve`` worker).

- ``test_schemathesis_*``: schemathesis generates requests from the served OpenAPI description
  (valid and invalid data) for every operation, authenticated; no response may be a 5xx and every
  response must conform to the description (documented status, content type, body schema).
- ``test_*_property``: hypothesis feeds arbitrary JSON values (and near-valid events with extreme
  timestamps, and raw bytes: invalid UTF-8, deep nesting) as telemetry events and as whole bodies,
  through the validator and the HTTP layer: every outcome is a documented status or per-event reason.

Both run a fixed number of examples with ``derandomize=True``: the same cases on every run.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from devflow.kernel.errors import DomainError, InvalidJSON, TooLarge, ValidationFailed
from devflow.telemetry.ingest import decode_events
from devflow.telemetry.validation import validate_events
from tests.conftest import BASE_ENV
from tests.support.server import ServerProcess

pytestmark = pytest.mark.slow

API = "/api/v1"


class Service:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = httpx.Client(base_url=base_url, timeout=30)
        email = f"fuzz-{uuid.uuid4().hex[:8]}@example.com"
        signed_in = self.http.post(f"{API}/auth/register", json={"email": email, "password": "correct horse"})
        assert signed_in.status_code == 201, signed_in.text
        self.jwt = signed_in.json()["token"]
        created = self.http.post(
            f"{API}/auth/tokens", json={"name": "fuzz"}, headers={"Authorization": f"Bearer {self.jwt}"}
        )
        assert created.status_code == 201, created.text
        self.api_token = created.json()["token"]

    def credentials(self, kind: str) -> dict[str, str]:
        """Request headers for a credential kind: the JWT, the ``dvf_`` token or the session cookie."""
        if kind == "jwt":
            return {"Authorization": f"Bearer {self.jwt}"}
        if kind == "token":
            return {"Authorization": f"Bearer {self.api_token}"}
        return {"Cookie": f"session={self.jwt}"}


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """``devflow serve`` on the zero-setup default: SQLite and a local lake under a fresh data dir."""
    data = tmp_path_factory.mktemp("fuzz")
    env = {
        **BASE_ENV,
        "DEVFLOW_DATA_DIR": str(data / "data"),
        "DATABASE_URL": "",  # the embedded SQLite default, whatever the environment says
        "DB_HOST": "",
        "DEVFLOW_LAKE_URL": "",
        # OAuth configured, so that its start route answers 302 rather than 503 "Provider not
        # configured"; the provider URLs are a closed local port (fuzzed states never get that far).
        **{f"{p}_CLIENT_{k}": "fuzz" for p in ("GOOGLE", "GITHUB") for k in ("ID", "SECRET")},
        "OAUTH_CALLBACK_BASE_URL": "http://127.0.0.1:9",
        "VSCODE_DEEPLINK": "vscode://devflow/auth",
        **{
            f"OAUTH_{name}_URL": "http://127.0.0.1:9/"
            for name in (
                "GOOGLE_AUTHORIZE",
                "GOOGLE_TOKEN",
                "GOOGLE_USERINFO",
                "GITHUB_AUTHORIZE",
                "GITHUB_TOKEN",
            )
        },
        "OAUTH_GITHUB_API_URL": "http://127.0.0.1:9",
    }
    server = ServerProcess(env, log_path=Path(data) / "server.log", extra_args=["--workers", "1"]).start()
    try:
        service = Service(server.base_url)
        yield service
        service.http.close()
    finally:
        server.stop()
    log = (Path(data) / "server.log").read_text()
    assert "Traceback" not in log, log[-4000:]


# -- schemathesis: the served description against the served API --------------------------------

_CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
_FUZZ_SETTINGS = settings(
    max_examples=12,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


def _run_schemathesis(service: Service, mode: GenerationMode) -> list[str]:
    schema = schemathesis.openapi.from_url(f"{service.base_url}{API}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 21
    failures: list[str] = []
    for operation in operations:

        @_FUZZ_SETTINGS
        @given(
            case=operation.as_strategy(generation_mode=mode),
            credential=st.sampled_from(["jwt", "token", "cookie"]),
        )
        def exercise(case: Any, credential: str) -> None:
            case.headers = {**(case.headers or {}), **service.credentials(credential)}
            response = case.call(base_url=service.base_url)
            case.validate_response(response, checks=_CHECKS)

        try:
            exercise()
        except Unsatisfiable:  # negative mode: nothing to make invalid (no parameters, no body)
            assert mode is GenerationMode.NEGATIVE and not operation.body and not operation.query
        except (Exception, BaseExceptionGroup) as exc:  # every operation's failures, reported together
            failures.append(
                f"{operation.label}: {exc!r}\n" + "\n".join(map(str, getattr(exc, "exceptions", [])))
            )
    return failures


def test_schemathesis_valid_requests_get_documented_answers(service: Service) -> None:
    failures = _run_schemathesis(service, GenerationMode.POSITIVE)
    assert not failures, "\n\n".join(failures)


def test_schemathesis_invalid_requests_get_documented_answers(service: Service) -> None:
    failures = _run_schemathesis(service, GenerationMode.NEGATIVE)
    assert not failures, "\n\n".join(failures)


# -- hypothesis: arbitrary JSON through the validator and the HTTP layer --------------------------

REASON = re.compile(
    r"(not_an_object|unknown_type|invalid_session_id|invalid_timestamp|timestamp_in_future"
    r"|session_ownership_conflict|(missing|invalid)_field:[a-z_]+(\.[a-z_]+|\[\d+\])*)"
)
EVENT_TYPES = [
    "file_save",
    "text_change",
    "editor_switch",
    "debug_session_start",
    "terminal_open",
    "git_activity",
]

# Edges of §4.6 check 4: the first and last instants, offsets pushing an instant out of years
# 1–9999 (defect 1 of issue 10 was the first one), leap days, fractions, a missing zone.
EDGE_TIMESTAMPS = [
    "0001-01-01T00:30:00+01:00",
    "0001-01-01T00:00:00+00:01",
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00-14:00",
    "9999-12-31T23:59:59.999Z",
    "9999-12-31T23:30:00-01:00",
    "9999-12-31T23:59:59.999999999-23:59",
    "2024-02-29T12:00:00.5+05:30",
    "2023-02-29T12:00:00Z",
    "2026-05-14T09:12:08.829",
    "2026-05-14T09:12:08.829Z",
]

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)


@st.composite
def timestamps(draw: st.DrawFn) -> str:
    if draw(st.booleans()):
        return draw(st.sampled_from(EDGE_TIMESTAMPS))
    year = draw(st.sampled_from([1, 2, 1970, 2026, 9998, 9999]))
    moment = dt.datetime(year, draw(st.integers(1, 12)), draw(st.integers(1, 28)), draw(st.integers(0, 23)))
    offset = draw(st.sampled_from(["Z", "+00:00", "+01:00", "-01:00", "+14:00", "-12:00", "+23:59"]))
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + offset


@st.composite
def near_valid_events(draw: st.DrawFn) -> dict[str, Any]:
    """A well-formed event of some type whose fields are then replaced by arbitrary values."""
    kind = draw(st.sampled_from(EVENT_TYPES))
    event: dict[str, Any] = {"type": kind, "timestamp": draw(timestamps()), "workspace": "ws"}
    file = {"name": "a.ts", "path": "src/a.ts", "language": "typescript", "lines": 3, "size_bytes": 10}
    if kind == "text_change":
        event["file"] = file
        event["metrics"] = {
            "characters_added": 1,
            "characters_deleted": 0,
            "change_count": 1,
            "affected_line_ranges": [{"start": 1, "end": 1}],
            "edit_duration_ms": 5,
            "is_large_paste": False,
            "is_possible_rewrite": False,
            "is_possible_undo_cycle": False,
        }
    elif kind == "file_save":
        event["file"] = file
    elif kind == "editor_switch":
        event["to"] = {"file": "b.ts", "language": "typescript", "module": "src"}
        event["metrics"] = {
            "switch_interval_seconds": 3,
            "is_cross_module_switch": False,
            "is_rapid_context_switching": False,
        }
    elif kind == "debug_session_start":
        event["debug"] = {"name": "run", "type": "debugpy"}
    elif kind == "terminal_open":
        event["terminal"] = {"name": "zsh"}
    else:
        event["git"] = {"changed_files_count": 2}
    event["session_id"] = str(uuid.UUID(int=draw(st.integers(0, 2**128 - 1)), version=4))
    for key in draw(st.lists(st.sampled_from([*event, "metrics", "file", "extra"]), max_size=2, unique=True)):
        event[key] = draw(json_values)
    return event


events = near_valid_events() | json_values

_PROPERTY_SETTINGS = settings(
    max_examples=150,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


@_PROPERTY_SETTINGS
@given(batch=st.lists(events, min_size=1, max_size=8))
def test_validator_gives_every_event_a_documented_outcome_property(batch: list[Any]) -> None:
    received_us = int(dt.datetime.now(dt.UTC).timestamp() * 1_000_000)
    outcome = validate_events(batch, received_us)
    rejected = dict(outcome.rejected)
    assert len(outcome.indexes) + len(rejected) == len(batch)
    assert all(REASON.fullmatch(reason) for reason in rejected.values()), rejected
    for index in outcome.indexes:
        assert isinstance(batch[index], dict) and batch[index]["type"] in EVENT_TYPES


def _json_body(value: Any) -> bytes:
    return json.dumps(value, allow_nan=False).encode()


invalid_utf8 = st.sampled_from(
    [b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x80", b"\xe2\x82"]
)


@st.composite
def raw_bodies(draw: st.DrawFn) -> bytes:
    """Bytes that are almost a valid body: invalid UTF-8 inside a string, deep nesting, truncation."""
    valid = _json_body(
        {"events": [draw(near_valid_events())], "name": "n", "email": "a@b.co", "action": "accepted"}
    )
    choice = draw(st.sampled_from(["utf8", "deep", "cut"]))
    if choice == "utf8":
        at = draw(st.sampled_from([i for i, byte in enumerate(valid) if byte == ord('"')])) + 1  # in a string
        return valid[:at] + draw(invalid_utf8) + valid[at:]
    if choice == "deep":
        depth = draw(st.sampled_from([63, 64, 65, 1000, 100_000]))
        return b'{"events":' + b"[" * depth + b"]" * depth + b"}"
    return valid[: draw(st.integers(0, len(valid) - 1))]


whole_bodies = (
    st.builds(_json_body, st.lists(events, min_size=1, max_size=5).map(lambda e: {"events": e}))
    | json_values.map(_json_body)
    | raw_bodies()
)


@_PROPERTY_SETTINGS
@given(body=whole_bodies)
def test_whole_telemetry_bodies_get_a_documented_outcome_from_the_decoder_property(body: bytes) -> None:
    try:
        decoded, raws, _ = decode_events(body)
    except DomainError as exc:
        assert isinstance(exc, InvalidJSON | ValidationFailed | TooLarge), exc
        return
    assert len(decoded) == len(raws) >= 1


# Statuses each JSON route may answer an arbitrary body with (contract §3), for an authenticated caller.
JSON_ROUTES = {
    f"{API}/telemetry": {202, 400, 413},
    f"{API}/auth/register": {201, 400, 409, 429},
    f"{API}/auth/login": {200, 400, 401, 429},
    f"{API}/auth/tokens": {201, 400},
    f"{API}/recommendations/trigger": {200, 400, 409},
    f"{API}/recommendations/1/action": {400, 404},
}


@_PROPERTY_SETTINGS
@given(
    route=st.sampled_from(sorted(JSON_ROUTES)),
    body=whole_bodies,
    credential=st.sampled_from(["jwt", "token"]),
)
def test_every_json_route_answers_any_body_with_a_documented_status_property(
    service: Service, route: str, body: bytes, credential: str
) -> None:
    headers = {"Content-Type": "application/json", **service.credentials(credential)}
    if route.endswith("/tokens") and credential == "token":
        headers = {**headers, **service.credentials("jwt")}
    response = service.http.post(route, content=body, headers=headers)
    assert response.status_code in JSON_ROUTES[route], (response.status_code, response.text, body[:300])
    answer = response.json()
    if response.status_code >= 400:
        assert isinstance(answer.get("error"), str)
    if route.endswith("/telemetry") and response.status_code == 202:
        assert answer["accepted_count"] + answer["rejected_count"] == len(json.loads(body)["events"])
        assert all(REASON.fullmatch(item["reason"]) for item in answer["rejected"]), answer["rejected"]


@_PROPERTY_SETTINGS
@given(batch=st.lists(events, min_size=1, max_size=6))
def test_telemetry_over_http_rejects_events_one_by_one_property(service: Service, batch: list[Any]) -> None:
    """A batch of arbitrary events is always 202 with a documented reason per rejected event."""
    response = service.http.post(
        f"{API}/telemetry",
        content=_json_body({"events": batch}),
        headers={"Content-Type": "application/json", **service.credentials("token")},
    )
    assert response.status_code == 202, (response.status_code, response.text, batch)
    answer = response.json()
    assert answer["accepted_count"] + answer["rejected_count"] == len(batch)
    assert all(REASON.fullmatch(item["reason"]) for item in answer["rejected"]), answer["rejected"]
