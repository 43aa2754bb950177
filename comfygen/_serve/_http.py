"""The HTTP API: one typed endpoint per workflow, jobs, progress as server-sent events.

    GET    /                                  what is served (workflows, OpenAPI, MCP)
    POST   /workflows/{name}                  run and wait: 200 with the outputs
    POST   /workflows/{name}/jobs             start a job: 202, Location: /jobs/{id}
    GET    /jobs/{id}                         state, outputs or error
    DELETE /jobs/{id}                         cancel (on the server too)
    GET    /jobs/{id}/events                  progress as server-sent events (Last-Event-ID)
    GET    /jobs/{id}/files/{output}/{index}  an output file, streamed through the service

Request bodies are validated by each workflow's strict params model (422 names the
parameter); the OpenAPI document carries every model. An `Idempotency-Key` header makes a
repeated POST attach to the first job instead of starting another one.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from comfygen_runtime import (
    BackendUnavailableError,
    ComfygenError,
    File,
    IdempotencyConflictError,
    JobInterruptedError,
    ParameterError,
    QueueFullError,
    WorkflowTimeoutError,
    WorkflowValidationError,
)
from fastapi import Body, FastAPI, Header, HTTPException, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import BaseModel

from ._catalog import Catalog, Entry
from ._jobs import Job, JobRegistry
from ._outputs import JobView, error_view, job_model, json_safe, output_items, result_items

__all__ = ["failure_status", "http_app", "job_view"]

_KEY_HEADER = "Idempotency-Key"
_KEY_HELP = (
    "Optional. A repeated request with the same key (and the same parameters) attaches "
    "to the job the first one started instead of starting another; other parameters "
    "are refused (422) unless that job failed or was cancelled."
)


def job_view(job: Job) -> dict[str, Any]:
    href = f"/jobs/{job.id}"
    view: dict[str, Any] = {
        "id": job.id,
        "workflow": job.entry.name,
        "state": job.state,
        "href": href,
        "events": f"{href}/events",
        "prompt_id": job.prompt_id,
        "idempotency_key": job.key,
    }
    if job.result is not None:
        view["outputs"] = output_items(job.entry, job.result, href)
        view["seeds"] = job.result.seeds
    if job.error is not None and job.state == "failed":
        view["error"] = error_view(job.error).model_dump()
    return json_safe(JobView.model_validate(view).model_dump(mode="json"))


def failure_status(job: Job) -> int:
    """The HTTP status of a synchronous run that did not succeed."""
    error = job.error
    if job.state == "cancelled" or isinstance(error, JobInterruptedError):
        return 409
    if isinstance(error, WorkflowValidationError | ParameterError | IdempotencyConflictError):
        return 422
    if isinstance(error, WorkflowTimeoutError):
        return 504
    if isinstance(error, BackendUnavailableError | QueueFullError):
        return 503
    return 502


_FAILURES: dict[int | str, dict[str, Any]] = {
    status: {"model": JobView, "description": text}
    for status, text in (
        (409, "The job was cancelled (DELETE /jobs/{id}) or interrupted on the server."),
        (502, "The workflow failed on the backend (a node raised, a node is missing, ...)."),
        (503, "The backend is unavailable or its queue is full."),
        (504, "The run did not finish within the service's --timeout."),
    )
}


async def _disconnected(request: Request) -> None:
    """Returns when the client has gone away (the body has been read already)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


class _Service(FastAPI):
    """FastAPI with the params models in the OpenAPI document exactly as pydantic writes
    them (FastAPI's own OpenAPI model turns integer bounds into floats: 2**64 - 1 would
    read 1.8446744073709552e+19)."""

    catalog: Catalog

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None:
            document = super().openapi()
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            for entry in self.catalog.entries.values():
                model = entry.params_model
                schemas[model.__name__] = model.model_json_schema(
                    ref_template="#/components/schemas/{model}"
                )
                # FastAPI cuts descriptions at a form feed; the workflow's text is data
                paths = document["paths"]
                paths[f"/workflows/{entry.name}"]["post"]["description"] = _run_text(entry)
                paths[f"/workflows/{entry.name}/jobs"]["post"]["description"] = _start_text(entry)
            self.openapi_schema = json_safe(document)
        return self.openapi_schema or {}


def http_app(
    catalog: Catalog,
    registry: JobRegistry,
    *,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]] | None = None,
) -> FastAPI:
    app = _Service(
        title="comfygen serve",
        summary=f"{len(catalog.entries)} ComfyUI workflow(s) as typed endpoints",
        description=f"Runs on {catalog.backend_label}. MCP (streamable HTTP) is at /mcp.",
        lifespan=lifespan,
    )
    app.catalog = catalog

    @app.get("/", tags=["service"])
    async def index() -> dict[str, Any]:
        """What this service serves."""
        return json_safe(
            {
                "workflows": [
                    {
                        "name": entry.name,
                        "source": entry.source,
                        "description": entry.description,
                        "run": f"/workflows/{entry.name}",
                        "jobs": f"/workflows/{entry.name}/jobs",
                    }
                    for entry in catalog.entries.values()
                ],
                "backend": catalog.backend_label,
                "openapi": "/openapi.json",
                "docs": "/docs",
                "mcp": "/mcp",
            }
        )

    for entry in catalog.entries.values():
        _add_workflow_routes(app, registry, entry)

    def known(job_id: str) -> Job:
        job = registry.get(job_id)
        if job is None:
            raise HTTPException(404, f"no job {job_id!r} (unknown, or long finished)")
        return job

    @app.get("/jobs/{job_id}", response_model=JobView, tags=["jobs"])
    async def get_job(job_id: str) -> dict[str, Any]:
        """A job's state; its outputs once it has succeeded, its error if it failed."""
        return job_view(known(job_id))

    @app.delete(
        "/jobs/{job_id}",
        response_model=JobView,
        tags=["jobs"],
        responses={409: {"description": "The job had already finished."}},
    )
    async def cancel_job(job_id: str) -> dict[str, Any]:
        """Cancel a job; it is removed from the server's queue or interrupted there."""
        job = known(job_id)
        if job.finished:
            raise HTTPException(409, f"job {job_id} has already {job.state}")
        await registry.cancel(job)
        return job_view(job)

    @app.get("/jobs/{job_id}/events", response_class=EventSourceResponse, tags=["jobs"])
    async def job_events(
        job_id: str, last_event_id: int | None = Header(None, alias="Last-Event-ID")
    ) -> AsyncIterator[ServerSentEvent]:
        """Progress as server-sent events: one per runtime event (`queued`, `started`,
        `executing`, `progress`, `cached`, `output`, ...), then `end` with the job."""
        job = known(job_id)
        async for record in job.records(-1 if last_event_id is None else last_event_id):
            data = dict(record.data)
            if record.progress is not None:
                data["progress"] = record.progress.progress
                data["total"] = record.progress.total
            yield ServerSentEvent(
                data=json_safe(data), event=str(data["kind"]), id=str(record.index)
            )
        yield ServerSentEvent(data=job_view(job), event="end")

    @app.get("/jobs/{job_id}/files/{output}/{index}", tags=["jobs"])
    async def job_file(job_id: str, output: str, index: int) -> Response:
        """An output file of a finished job, streamed from the backend as it arrives."""
        job = known(job_id)
        found = [
            item
            for name, position, item in (result_items(job.entry, job.result) if job.result else [])
            if name == output and position == index
        ]
        if not found or not isinstance(found[0], File):
            raise HTTPException(404, f"job {job_id} has no file {output}[{index}]")
        item = found[0]
        view = output_items(job.entry, job.result, None) if job.result else {}
        mime = next((i["mime_type"] for i in view.get(output, [])[index : index + 1]), None)
        chunks = item.stream()
        try:  # the first chunk before the answer: a backend that fails gets a clear 502
            first = await anext(chunks, b"")
        except ComfygenError as error:
            raise HTTPException(502, str(error)) from None

        async def body() -> AsyncIterator[bytes]:
            async with contextlib.aclosing(chunks):  # a client that hangs up closes it
                yield first
                async for chunk in chunks:
                    yield chunk

        return StreamingResponse(body(), media_type=mime)

    return app


def _add_workflow_routes(app: FastAPI, registry: JobRegistry, entry: Entry) -> None:
    """POST /workflows/{name} (sync) and /workflows/{name}/jobs, typed by the entry."""
    model = job_model(entry)
    required = any(field.is_required() for field in entry.params_model.model_fields.values())

    def submit(params: BaseModel | None, key: str | None) -> Job:
        values = params if params is not None else entry.params_model()
        try:
            return registry.submit(entry, values, key=key)
        except IdempotencyConflictError as error:
            raise HTTPException(422, str(error)) from None

    async def run(request: Request, params: Any, idempotency_key: str | None) -> Response:
        job = submit(params, idempotency_key)
        waiting = asyncio.ensure_future(job.wait())
        gone = asyncio.ensure_future(_disconnected(request))
        try:
            await asyncio.wait({waiting, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
            waiting.cancel()
        if not job.finished:
            # The caller left. Without a key nobody can come back for the result, so the
            # job is cancelled; with one, a retry attaches to it.
            if idempotency_key is None:
                await registry.cancel(job)
            return Response(status_code=499)
        view = job_view(job)
        if job.state == "succeeded":
            return JSONResponse(model.model_validate(view).model_dump(mode="json"))
        return JSONResponse(view, status_code=failure_status(job))

    async def start(params: Any, idempotency_key: str | None) -> Response:
        job = submit(params, idempotency_key)
        view = job_view(job)
        return JSONResponse(view, status_code=202, headers={"Location": view["href"]})

    body = Body(...) if required else Body(None)
    key = Header(None, alias=_KEY_HEADER, description=_KEY_HELP)
    typed_key = (str | None, key)
    _typed(run, request=Request, params=(entry.params_model, body), idempotency_key=typed_key)
    _typed(start, params=(entry.params_model, body), idempotency_key=typed_key)
    summary = entry.description.split("\n", 1)[0]
    app.add_api_route(
        f"/workflows/{entry.name}",
        run,
        methods=["POST"],
        response_model=model,
        responses={422: {"description": "Invalid parameters, named in `detail`."}, **_FAILURES},
        summary=summary,
        description=_run_text(entry),
        operation_id=f"run_{entry.name}",
        tags=["workflows"],
    )
    app.add_api_route(
        f"/workflows/{entry.name}/jobs",
        start,
        methods=["POST"],
        status_code=202,
        response_model=model,
        summary=f"Start: {summary}",
        description=_start_text(entry),
        operation_id=f"start_{entry.name}",
        tags=["workflows"],
    )


def _run_text(entry: Entry) -> str:
    return f"{entry.description}\n\nRuns the workflow and waits for its outputs."


def _start_text(entry: Entry) -> str:
    return f"{entry.description}\n\nStarts a job and answers at once with its URL."


def _typed(function: Callable[..., Any], **parameters: Any) -> None:
    """Give an endpoint the signature FastAPI reads: the entry's own params model is the
    body type, built at run time, so it cannot be written as an annotation."""
    signature = inspect.signature(function)
    fresh = []
    for name, parameter in signature.parameters.items():
        spec = parameters[name]
        annotation, default = spec if isinstance(spec, tuple) else (spec, inspect.Parameter.empty)
        fresh.append(parameter.replace(annotation=annotation, default=default))
    function.__signature__ = signature.replace(parameters=fresh)  # type: ignore[attr-defined]
