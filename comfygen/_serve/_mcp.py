"""The MCP server: one tool per workflow, over stdio or streamable HTTP.

Each tool's input schema is its workflow's strict params model (types, bounds, enums,
descriptions, required), its output schema the typed outputs. A call runs as a job of the
shared `JobRegistry`: progress goes out as MCP progress notifications, a cancelled
request cancels the job (on the server too), and the result carries texts as text,
images and audio inline and every file as a link, plus the outputs as structured content.
"""

from __future__ import annotations

import asyncio
from typing import Any

import anyio
import mcp.types as mcp
import pydantic
from mcp.server import Server, ServerRequestContext
from mcp.shared.exceptions import MCPError

from ._catalog import Catalog, Entry
from ._jobs import JobRegistry
from ._outputs import error_view, json_safe, mcp_content, output_items, outputs_model

__all__ = ["mcp_server", "tool"]


def tool(entry: Entry) -> mcp.Tool:
    """The MCP tool of a workflow: data from its models, nothing formatted into code."""
    return mcp.Tool(
        name=entry.name,
        title=json_safe(entry.source),
        description=json_safe(entry.description),
        input_schema=json_safe(entry.params_model.model_json_schema()),
        output_schema=json_safe(outputs_model(entry).model_json_schema()),
        annotations=mcp.ToolAnnotations(
            read_only_hint=False,
            destructive_hint=False,
            idempotent_hint=False,
            open_world_hint=True,
        ),
    )


def _invalid(error: pydantic.ValidationError) -> str:
    lines = []
    for problem in error.errors(include_url=False):
        where = ".".join(str(part) for part in problem["loc"]) or "(arguments)"
        lines.append(f"{where}: {problem['msg']}")
    return "invalid arguments:\n" + "\n".join(lines)


def mcp_server(catalog: Catalog, registry: JobRegistry) -> Server[Any]:
    tools = {name: tool(entry) for name, entry in catalog.entries.items()}

    async def list_tools(
        ctx: ServerRequestContext[Any], params: mcp.PaginatedRequestParams | None
    ) -> mcp.ListToolsResult:
        return mcp.ListToolsResult(tools=list(tools.values()))

    async def call_tool(
        ctx: ServerRequestContext[Any], params: mcp.CallToolRequestParams
    ) -> mcp.CallToolResult:
        entry = catalog.entries.get(params.name)
        if entry is None:
            raise MCPError(mcp.INVALID_PARAMS, f"no tool named {params.name!r}")
        try:
            values = entry.params_model.model_validate(params.arguments or {})
        except pydantic.ValidationError as error:
            problem = mcp.TextContent(text=json_safe(_invalid(error)))
            return mcp.CallToolResult(content=[problem], is_error=True)
        job = registry.submit(entry, values)
        try:
            async for record in job.records():
                if record.progress is not None:
                    update = record.progress
                    await ctx.session.report_progress(update.progress, update.total, update.message)
        except (asyncio.CancelledError, anyio.get_cancelled_exc_class()):
            # The client cancelled the request (or went away): cancel the job, and wait
            # until the server has let go of it (the runtime bounds that wait).
            with anyio.CancelScope(shield=True):
                await registry.cancel(job)
            raise
        if job.result is None:
            failure = error_view(job.error or RuntimeError("no result"))
            text = "\n".join([f"{entry.name} {job.state}: {failure.message}", *failure.details])
            return mcp.CallToolResult(
                content=[mcp.TextContent(text=json_safe(text))], is_error=True
            )
        return mcp.CallToolResult(
            content=await mcp_content(entry, job.result),
            structured_content=output_items(entry, job.result, None),
        )

    return Server(
        "comfygen",
        title="comfygen serve",
        description=f"{len(catalog.entries)} ComfyUI workflow(s) on {catalog.backend_label}",
        instructions="Each tool runs a ComfyUI workflow and returns its outputs. "
        "Media inputs are http(s) URLs or data: URIs (base64).",
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        get_tool_input_schema=lambda name: tools[name].input_schema if name in tools else None,
    )
