"""One ASGI app for both faces (HTTP API at /, MCP at /mcp), and the two ways to run it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI
from mcp.server.stdio import stdio_server

from ._catalog import Catalog
from ._http import http_app
from ._jobs import JobRegistry
from ._mcp import mcp_server

__all__ = ["create_app", "http_server", "serve_stdio"]


def create_app(catalog: Catalog, *, host: str = "127.0.0.1") -> FastAPI:
    """The service for `catalog`: HTTP API and MCP (streamable HTTP) on one app.

    `host` is where it listens: on a loopback address the MCP endpoint refuses other
    Host and Origin headers (DNS-rebinding protection, the SDK's default).
    Stopping the app cancels its running jobs; the catalog's backend stays open.
    """
    registry = JobRegistry(catalog)
    server = mcp_server(catalog, registry)
    mcp_routes = server.streamable_http_app(streamable_http_path="/mcp", host=host).routes

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with server.session_manager.run():
            try:
                yield
            finally:
                await registry.close()

    app = http_app(catalog, registry, lifespan=lifespan)
    app.router.routes.extend(mcp_routes)
    return app


def http_server(app: FastAPI) -> uvicorn.Server:
    """The ASGI server for `app`: `await http_server(app).serve(sockets=[sock])` serves
    until Ctrl-C or SIGTERM, or until its `should_exit` is set."""
    return uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))


async def serve_stdio(catalog: Catalog) -> None:
    """MCP only, over this process's stdin and stdout."""
    registry = JobRegistry(catalog)
    server = mcp_server(catalog, registry)
    try:
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())
    finally:
        await registry.close()
