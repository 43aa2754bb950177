"""`comfygen serve`: workflows as MCP tools and an HTTP API (the `comfygen[serve]` extra).

_catalog   workflows -> entries (strict params model, result model, spec); the only
           module that calls the compiler and the runtime
_jobs      the jobs of the service (asyncio tasks), events, idempotency keys
_progress  runtime events -> JSON records and rising progress figures
_outputs   results -> JSON items, typed output models, MCP content blocks
_http      the FastAPI app;  _mcp  the MCP server;  _app  both on one ASGI app
"""

from ._app import create_app, http_server, serve_stdio
from ._catalog import Catalog, Entry, load_catalog, open_backend

__all__ = [
    "Catalog",
    "Entry",
    "create_app",
    "http_server",
    "load_catalog",
    "open_backend",
    "serve_stdio",
]
