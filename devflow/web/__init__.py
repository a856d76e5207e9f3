"""The built-in web pages (delivery): sign-in and sign-up, the editor pairing approval page, the
dashboard of metrics and recommendations, and the settings, rendered on the server with Jinja from
the same accounts, session cookie and context services as the JSON API.

``devflow.app`` mounts :func:`web_routes`, uses :func:`template_config`, wraps its exception
handlers with :func:`page_aware` and gives the edge gate :func:`error_page`.
"""

from __future__ import annotations

from devflow.web.errors import is_api_path, page_aware
from devflow.web.rendering import error_page, template_config
from devflow.web.router import web_routes

__all__ = ["error_page", "is_api_path", "page_aware", "template_config", "web_routes"]
