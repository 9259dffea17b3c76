"""The nextread MCP server: ``nextread mcp`` on stdio, and streamable HTTP mounted at ``/mcp`` in the API.

Over HTTP every request needs ``Authorization: Bearer <API key>`` exactly like ``/v1``: the key is
checked before the MCP layer sees the request, and the tenant it belongs to is the only tenant any
tool can read. On stdio the operator who starts the process names the tenant and the role.
"""

from __future__ import annotations

import anyio
from fastapi import FastAPI, Request
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.transport_security import TransportSecuritySettings
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from nextread import __version__
from nextread.mcp.backend import Backend
from nextread.mcp.tools import register_tools
from nextread.services.access import KeyCache, Principal

PRINCIPAL_SCOPE_KEY = "nextread.principal"
INSTRUCTIONS = (
    "Tools for a school librarian over the nextread catalog: search books, see a student's reading "
    "level, recommend and explain books for a student or a whole class, find similar students, look "
    "at checkout history and fill in missing book metadata. Ids are the library's own external ids."
)


def create_mcp_server(backend: Backend, principal: Principal | None = None) -> MCPServer:
    """``principal`` serves every call (stdio, tests); without one, each HTTP request brings its own."""

    def principal_of(ctx: Context) -> Principal:
        request = ctx.request_context.request
        found = request.scope.get(PRINCIPAL_SCOPE_KEY) if request is not None else None
        if found is None and principal is None:
            raise ToolError("not authenticated: send 'Authorization: Bearer <API key>'")
        return found or principal

    server = MCPServer("nextread", instructions=INSTRUCTIONS, version=__version__, log_level="WARNING")
    register_tools(server, backend, principal_of)
    return server


class BearerAuth:
    """ASGI guard in front of the MCP endpoint: 401 without a valid key, else the caller's principal is
    put in the request scope for the tools. Keys are checked like ``/v1`` (same per-process cache)."""

    def __init__(self, app: ASGIApp, session_factory, keys: KeyCache) -> None:  # type: ignore[no-untyped-def]
        self.app = app
        self.session_factory = session_factory
        self.keys = keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        principal = None
        if scheme.lower() == "bearer" and key.strip():
            principal = await anyio.to_thread.run_sync(self._principal, key.strip())
        if principal is None:
            detail = (
                "invalid or revoked API key" if key else "missing API key: send 'Authorization: Bearer <key>'"
            )
            response = JSONResponse({"detail": detail}, 401, headers={"WWW-Authenticate": "Bearer"})
            await response(scope, receive, send)
            return
        scope[PRINCIPAL_SCOPE_KEY] = principal
        await self.app(scope, receive, send)

    def _principal(self, key: str) -> Principal | None:
        with self.session_factory() as session:
            return self.keys.principal(session, key)


def mount_mcp(app: FastAPI) -> MCPServer:
    """Streamable HTTP at ``/mcp``, stateless with JSON responses: any API process can answer any
    request, as with ``/v1``. DNS-rebinding checks are off because every request needs a bearer key a
    browser page cannot know, and the API is served under whatever host name the operator chose.
    The session manager must run in the app's lifespan (``server.session_manager.run()``)."""
    server = create_mcp_server(Backend.of_app(app))
    server.streamable_http_app(
        stateless_http=True,
        json_response=True,
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )
    endpoint = BearerAuth(server.session_manager.handle_request, app.state.session_factory, app.state.keys)
    app.router.routes.append(Route("/mcp", endpoint=endpoint, include_in_schema=False))
    return server
