"""A fake OAuth provider (Google and GitHub flavours) served over real HTTP on 127.0.0.1.

It implements the two server-side steps of the authorization-code flow that the service calls:
the token endpoint (which checks the PKCE verifier against the challenge the service put in the
authorize URL) and the profile endpoints. Tests read the authorize URL from the service's 302,
register the code they "grant" with :meth:`FakeProvider.grant`, then call the callback.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Grant:
    challenge: str
    profile: dict[str, Any]
    emails: list[dict[str, Any]] | None = None


@dataclass
class FakeProvider:
    """Knobs: ``token_status`` (non-200 → the service must answer 502), ``omit_access_token``."""

    token_status: int = 200
    omit_access_token: bool = False
    grants: dict[str, Grant] = field(default_factory=dict)
    access_tokens: dict[str, Grant] = field(default_factory=dict)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    profile_requests: list[dict[str, str]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def env(self) -> dict[str, str]:
        """Environment variables pointing both providers at this server."""
        return {
            "GOOGLE_CLIENT_ID": "google-client",
            "GOOGLE_CLIENT_SECRET": "google-secret",
            "GITHUB_CLIENT_ID": "github-client",
            "GITHUB_CLIENT_SECRET": "github-secret",
            "OAUTH_CALLBACK_BASE_URL": "http://api.example.test",
            "OAUTH_GOOGLE_TOKEN_URL": f"{self.base_url}/google/token",
            "OAUTH_GOOGLE_USERINFO_URL": f"{self.base_url}/google/userinfo",
            "OAUTH_GITHUB_TOKEN_URL": f"{self.base_url}/github/token",
            "OAUTH_GITHUB_API_URL": f"{self.base_url}/github-api",
            "WEB_APP_URL": "http://app.example.test/dashboard",
            "VSCODE_DEEPLINK": "vscode://devflow.devflow/auth",
        }

    def grant(
        self, code: str, challenge: str, profile: dict[str, Any], emails: list[dict[str, Any]] | None = None
    ) -> None:
        """The user consented: ``code`` is redeemable with the verifier matching ``challenge``."""
        self.grants[code] = Grant(challenge=challenge, profile=profile, emails=emails)

    def start(self) -> FakeProvider:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def _json(self, status: int, body: Any) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                provider.token_requests.append({**form, "_accept": self.headers.get("Accept", "")})
                if provider.token_status != 200:
                    self._json(provider.token_status, {"error": "server_error"})
                    return
                grant = provider.grants.pop(form.get("code", ""), None)
                verifier = form.get("code_verifier", "")
                digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
                if grant is None or digest.decode() != grant.challenge:
                    self._json(200, {"error": "bad_verification_code"})  # GitHub style: 200 + error
                    return
                token = f"at-{len(provider.access_tokens)}"
                provider.access_tokens[token] = grant
                body: dict[str, Any] = {"token_type": "bearer", "scope": "x"}
                if not provider.omit_access_token:
                    body["access_token"] = token
                self._json(200, body)

            def do_GET(self) -> None:
                path = urlsplit(self.path).path
                provider.profile_requests.append(
                    {
                        "path": path,
                        "authorization": self.headers.get("Authorization", ""),
                        "accept": self.headers.get("Accept", ""),
                        "user_agent": self.headers.get("User-Agent", ""),
                    }
                )
                auth = self.headers.get("Authorization", "")
                grant = provider.access_tokens.get(auth.removeprefix("Bearer "))
                if grant is None:
                    self._json(401, {"message": "Bad credentials"})
                elif path in ("/google/userinfo", "/github-api/user"):
                    self._json(200, grant.profile)
                elif path == "/github-api/user/emails":
                    self._json(200, grant.emails or [])
                else:
                    self._json(404, {"message": "Not Found"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
