"""The OpenAPI 3.1 description of ``/api/v1``: ``GET /api/v1/openapi.json`` and the page ``/api/v1/docs``.

Litestar generates the paths, the response bodies (the handlers' return Structs and the
``responses=`` specs built by :func:`api_doc`) and the security requirements. Handlers read their
bodies and query strings by hand (so the contract's check order and messages stay exact), so
Litestar cannot see those; :func:`api_doc` records them in the handler's ``opt`` and
:func:`openapi_document` adds them to the generated document: request bodies as ``$ref``s to
msgspec-generated JSON Schemas (OpenAPI 3.1 schemas are JSON Schema 2020-12), query and path
parameters with their constraints, and the auth mode (``x-auth-mode``). Nothing here changes how a
request is served: the description documents the routes, it does not drive them.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

import msgspec
from litestar import Litestar, MediaType, Request, get
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.plugins import JsonRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme, Tag
from litestar.routes import HTTPRoute

API_PREFIX: Final = "/api/v1"
# Litestar's own documentation router (a catch-all HTML 404 under its path included) stays outside
# /api/v1, among the built-in pages; /api/v1/openapi.json and /api/v1/docs are plain API routes.
LITESTAR_DOCS_PATH: Final = "/api-docs"

AuthMode = Literal["none", "either", "jwt", "admin"]

# -- the error body (contract §1.3) -------------------------------------------------------------


class ValidationDetail(msgspec.Struct):
    """One problem of a schema-validated body; informative, not contractual."""

    instancePath: str
    message: str


class ErrorBody(msgspec.Struct, omit_defaults=True):
    """Every error response: ``{"error": …}``, with ``message``/``details``/``code`` where stated."""

    error: str
    message: str | msgspec.UnsetType = msgspec.UNSET
    details: list[ValidationDetail] | msgspec.UnsetType = msgspec.UNSET
    code: str | msgspec.UnsetType = msgspec.UNSET


# -- auth modes (contract §1.4) -----------------------------------------------------------------

JWT_SCHEME: Final = "jwt"
TOKEN_SCHEME: Final = "apiToken"
COOKIE_SCHEME: Final = "sessionCookie"

SECURITY_SCHEMES: Final = {
    JWT_SCHEME: SecurityScheme(
        type="http",
        scheme="bearer",
        bearer_format="JWT",
        description="`Authorization: Bearer <JWT>` from register, login or the OAuth callback (7 days).",
    ),
    TOKEN_SCHEME: SecurityScheme(
        type="http",
        scheme="bearer",
        bearer_format="dvf_ API token",
        description="`Authorization: Bearer dvf_…`: an API token (`POST /auth/tokens` or device pairing).",
    ),
    COOKIE_SCHEME: SecurityScheme(
        type="apiKey",
        security_scheme_in="cookie",
        name="session",
        description="The `session` cookie (the JWT) set by register, login and the web OAuth callback. "
        "Cookie-authenticated POST/PUT/PATCH/DELETE from a foreign `Origin` get 403 (§1.6).",
    ),
}
_SECURITY: Final[dict[AuthMode, list[dict[str, list[str]]]]] = {
    "none": [],
    "either": [{JWT_SCHEME: []}, {TOKEN_SCHEME: []}, {COOKIE_SCHEME: []}],
    "jwt": [{JWT_SCHEME: []}, {COOKIE_SCHEME: []}],
    "admin": [{JWT_SCHEME: []}, {COOKIE_SCHEME: []}],
}
_AUTH_TEXT: Final[dict[AuthMode, str]] = {
    "none": "Auth: none.",
    "either": "Auth: either (a JWT, a `dvf_` API token or the session cookie).",
    "jwt": "Auth: jwt (a JWT or the session cookie; an API token gets 403).",
    "admin": "Auth: admin (a JWT or the session cookie of a user in `ADMIN_USER_IDS`).",
}

# -- error responses ----------------------------------------------------------------------------

_DEFAULT_ERRORS: Final[dict[int, str]] = {
    400: '`{"error":"Invalid JSON"}` or `{"error":"Validation failed","message":…}`',
    401: '`{"error":"Unauthorized"}`: missing, invalid, expired or revoked credential',
    403: '`{"error":"Forbidden"}`',
    404: '`{"error":"Not found"}`',
    409: "Conflict",
    410: "Gone",
    413: '`{"error":"Payload too large"}`',
    429: '`{"error":"Too many requests"}` (with `Retry-After`)',
    500: '`{"error":"Internal server error"}`: an unexpected server fault',
    502: '`{"error":"Provider request failed"}`',
    503: '`{"error":"Service unavailable"}` (with `Retry-After`): the database or lake is unreachable',
}


def response_spec(description: str, body: Any = ErrorBody) -> ResponseSpec:
    return ResponseSpec(data_container=body, description=description, generate_examples=False)


@dataclass(frozen=True, slots=True)
class Param:
    """A query or path parameter as the handler reads it (by hand), for the description only."""

    name: str
    schema: Mapping[str, Any]
    description: str = ""
    required: bool = False


@dataclass(frozen=True, slots=True)
class ApiDoc:
    """What :func:`openapi_document` adds to a handler's operation."""

    auth: AuthMode
    body: Any = None
    body_required: bool = False
    query: tuple[Param, ...] = ()
    path: tuple[Param, ...] = ()
    statuses: frozenset[int] = frozenset()


OPT_KEY: Final = "devflow_api_doc"


def api_doc(
    *,
    auth: AuthMode,
    errors: Iterable[int] = (),
    error_texts: Mapping[int, str] | None = None,
    responses: Mapping[int, ResponseSpec] | None = None,
    body: Any = None,
    body_required: bool = False,
    query: Iterable[Param] = (),
    path: Iterable[Param] = (),
) -> dict[str, Any]:
    """Route-decorator keyword arguments that document a handler: ``@post(..., **api_doc(...))``.

    ``errors`` are the statuses the handler can answer with the error body (the auth mode's own —
    401, 403, 503 — and 500 are added); ``error_texts`` replaces a status's description with the
    contract's messages; ``responses`` documents other bodies (a success body the handler writes as
    bytes, the two non-error-shaped bodies of §1.3).
    """
    statuses = set(errors) | {500}
    if auth != "none":
        statuses |= {401, 503}
    if auth in ("jwt", "admin"):
        statuses.add(403)
    if body is not None:
        statuses |= {400, 413}
    texts = {**_DEFAULT_ERRORS, **(error_texts or {})}
    specs: dict[int, ResponseSpec] = {status: response_spec(texts[status]) for status in sorted(statuses)}
    specs.update(responses or {})
    return {
        "security": _SECURITY[auth] or None,
        "responses": specs,
        "opt": {OPT_KEY: ApiDoc(auth, body, body_required, tuple(query), tuple(path), frozenset(specs))},
    }


# -- assembling the document --------------------------------------------------------------------


def openapi_config() -> OpenAPIConfig:
    """Litestar's generator; it also serves the document and the page under ``/api-docs``."""
    return OpenAPIConfig(
        title="devflow API",
        version="1.1",
        description=(
            "The HTTP contract 1.1 of the devflow service (docs/contract.md). Every error body is "
            '`{"error": …}` (§1.3); an unsupported method on a known path is 405, an unknown path 404. '
            "`HEAD` is served wherever `GET` is."
        ),
        components=Components(security_schemes=dict(SECURITY_SCHEMES)),
        tags=[
            Tag(
                name="accounts",
                description="Password accounts, OAuth, API tokens, device pairing (§3.2–§3.5)",
            ),
            Tag(name="telemetry", description="The extension's activity events (§3.6, §4)"),
            Tag(name="metrics", description="Churn and context switching (§3.7)"),
            Tag(name="recommendations", description="Insights pushed to the editor (§3.8)"),
            Tag(name="ops", description="Health probe"),
        ],
        use_handler_docstrings=True,
        path=LITESTAR_DOCS_PATH,
        render_plugins=[_DocsPage(path="/"), _DocumentJson(path="/openapi.json")],
    )


def _query_param(param: Param, where: str) -> dict[str, Any]:
    out: dict[str, Any] = {"name": param.name, "in": where, "required": param.required or where == "path"}
    if param.description:
        out["description"] = param.description
    out["schema"] = dict(param.schema)
    return out


def _add_request_schemas(document: dict[str, Any], types: list[Any]) -> dict[Any, dict[str, Any]]:
    """msgspec's JSON Schemas of the request bodies, as ``components/schemas`` entries."""
    if not types:
        return {}
    refs, components = msgspec.json.schema_components(types, ref_template="#/components/schemas/{name}")
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in components.items():
        if name in schemas and schemas[name] != schema:
            raise ValueError(f"OpenAPI component name {name!r} is used by two different types")
        schemas[name] = schema
    return dict(zip(types, refs, strict=True))


def _route_docs(app: Litestar) -> list[tuple[str, str, ApiDoc]]:
    found = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or not route.path_format.startswith(API_PREFIX):
            continue
        for method, (handler, _) in route.route_handler_map.items():
            doc = handler.opt.get(OPT_KEY)
            if isinstance(doc, ApiDoc):
                found.append((route.path_format, method.lower(), doc))
    return found


def build_document(app: Litestar) -> dict[str, Any]:
    """Litestar's generated document plus what the handlers read by hand."""
    document = copy.deepcopy(app.openapi_schema.to_schema())
    document["paths"] = {p: item for p, item in document.get("paths", {}).items() if p.startswith(API_PREFIX)}
    docs = _route_docs(app)
    refs = _add_request_schemas(document, list(dict.fromkeys(d.body for _, _, d in docs if d.body)))
    for path, method, doc in docs:
        operation = document["paths"][path][method]
        operation["x-auth-mode"] = doc.auth
        # Litestar adds its own 400 shape to handlers with parameters; ours read them by hand.
        success = min(int(status) for status in operation["responses"])
        operation["responses"] = {
            status: response
            for status, response in operation["responses"].items()
            if int(status) in doc.statuses or int(status) == success
        }
        for status in ("204", "302"):  # no body (Litestar describes ``None`` as a JSON null)
            operation["responses"].get(status, {}).pop("content", None)
        operation["description"] = f"{_AUTH_TEXT[doc.auth]} {operation.get('description') or ''}".strip()
        if doc.body is not None:
            operation["requestBody"] = {
                "required": doc.body_required,
                "content": {"application/json": {"schema": refs[doc.body]}},
            }
        overridden = {p.name for p in doc.path}
        params = [p for p in operation.get("parameters", []) if p["name"] not in overridden]
        params += [_query_param(p, "path") for p in doc.path]
        params += [_query_param(p, "query") for p in doc.query]
        if params:
            operation["parameters"] = params
    return document


_DOCUMENT_KEY: Final = "devflow_openapi_document"


def openapi_document(app: Litestar) -> dict[str, Any]:
    """The served document, built once per app."""
    document = app.state.get(_DOCUMENT_KEY)
    if document is None:
        document = build_document(app)
        app.state[_DOCUMENT_KEY] = document
    return document  # type: ignore[no-any-return]


class _DocumentJson(JsonRenderPlugin):
    """Litestar's JSON route serves the completed document too."""

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return msgspec.json.encode(openapi_document(request.app))


class _DocsPage(SwaggerRenderPlugin):
    """Swagger UI (its script comes from a CDN, as on every Litestar docs page) with the completed
    document embedded in the page."""

    @staticmethod
    def render_json(request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return msgspec.json.encode(openapi_document(request.app))


@get("/openapi.json", include_in_schema=False, sync_to_thread=False, media_type=MediaType.JSON)
def openapi_json(request: Request[Any, Any, Any]) -> bytes:
    """``GET /api/v1/openapi.json``: the OpenAPI 3.1 description of this API."""
    return msgspec.json.encode(openapi_document(request.app))


_DOCS_PAGE: Final = _DocsPage(path="/")


@get("/docs", include_in_schema=False, sync_to_thread=False, media_type=MediaType.HTML)
def docs_page(request: Request[Any, Any, Any]) -> bytes:
    """``GET /api/v1/docs``: the interactive page (Swagger UI) of the description."""
    return _DOCS_PAGE.render(request, openapi_document(request.app))
