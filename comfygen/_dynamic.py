"""The comfykit-compatible dynamic API: `await ComfyKit().execute("workflow.json", {...})`.

For scripts and notebooks that want no build step. It runs the compiler's own load ->
DSL -> IR stages at run time, turns the IR into the same `WorkflowSpec` a generated
module embeds, and hands it to the same runtime call (`comfygen_runtime.run_workflow`):
one path, two entry points. Failures come back as an `ExecuteResult` with `status` and
`msg`, as in comfykit; the typed exception is kept in `ExecuteResult.error`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import logging
import os
import reprlib
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import httpx
import pydantic
from comfygen_runtime import (
    DEFAULT_COMFYUI_URL,
    DEFAULT_RUNNINGHUB_URL,
    Audio,
    Backend,
    BackendUnavailableError,
    ComfygenError,
    ComfyUI,
    ComfyUIPool,
    EventHandler,
    File,
    Image,
    MediaInput,
    MissingNodeError,
    Output,
    ParameterError,
    RunningHub,
    Text,
    Video,
    WorkflowResult,
    WorkflowTimeoutError,
    node_items,
    redact_url,
    run_workflow,
    server_urls,
)
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from ._analyze import analyze
from ._diagnostics import Diagnostic
from ._graph import is_ui_format
from ._ir import WorkflowIR
from ._names import Identifier, function_name
from ._schema import Schemas, bundled, from_object_info, merged
from ._sources import Loaded, Source, load, workflow_source
from ._translate import OUTPUT_CLASSES, ParamField, translate

__all__ = ["ComfyKit", "ExecuteResult", "params_model", "result_model"]

logger = logging.getLogger("comfygen")

_PYTHON_TYPES: dict[str, Any] = {
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "media": MediaInput,
}
# A parameter typed only from the value saved in the workflow (no schema for its node):
# any JSON scalar goes through and the server decides, as with comfykit (the editor
# saves 1.0 as 1, so `speed=1.2` must not be refused for being no int).
JsonScalar = str | int | float | bool | None


_FALSE_WORDS = frozenset({"false", "0", "no", "off", ""})
_TRUE_WORDS = frozenset({"true", "1", "yes", "on"})


def _as_server_converts(kind: str) -> Any:
    """ComfyUI converts a widget value with `int()`, `float()`, `str()` or `bool()` before
    it checks bounds (`execution.validate_inputs`): what converts, it accepts. The dynamic
    API does the same, so it refuses only what the server would refuse. (Booleans differ
    on purpose: "false" is False here; the server's `bool("false")` is True.)"""

    def convert(value: Any) -> Any:
        if value is None:
            return value
        try:
            if kind == "int" and not isinstance(value, bool):
                return int(value)
            if kind == "float" and not isinstance(value, bool):
                return float(value)
            if kind == "str" and isinstance(value, (int, float, bool)):
                return str(value)
            if kind == "bool" and not isinstance(value, bool):
                text = str(value).strip().lower()
                return (
                    text not in _FALSE_WORDS
                    if text in _FALSE_WORDS | _TRUE_WORDS
                    else (bool(value))
                )
        except (TypeError, ValueError, OverflowError):
            return value  # not convertible: the type's own check explains the refusal
        return value

    return BeforeValidator(convert)


def _field(field: ParamField, strict: bool) -> Any:
    default = ... if field.required else field.default
    if not field.exact and not strict:
        return JsonScalar, Field(default, description=field.description)
    annotation: Any = (
        Literal.__getitem__(field.choices) if field.choices else _PYTHON_TYPES[field.type]
    )
    if not strict and not field.choices and field.type in ("int", "float", "str", "bool"):
        annotation = Annotated[annotation, _as_server_converts(field.type)]
    if field.nullable:
        annotation = annotation | None
    return annotation, Field(
        default, ge=field.minimum, le=field.maximum, description=field.description
    )


# A script calls the same workflow again and again: build its models once.
@functools.lru_cache(maxsize=128)
def params_model(ir: WorkflowIR, strict: bool = False) -> type[BaseModel]:
    """The params model of the dynamic API, from the fields generated code renders.

    What the node schemas say (types, bounds, options) is checked exactly as the
    generated model checks it, so what the server would refuse is refused before
    sending; parameters without a schema accept any JSON scalar. `strict` is the
    generated model itself: the type inferred from the saved value is enforced too.
    """
    model: type[BaseModel] = pydantic.create_model(
        f"{ir.params_class}",
        __config__=ConfigDict(extra="forbid", frozen=True),
        **{field.name: _field(field, strict) for field in translate(ir).params},
    )
    return model


@functools.lru_cache(maxsize=128)
def result_model(ir: WorkflowIR) -> type[WorkflowResult]:
    """The result class a generated module would define, built at run time."""
    classes: dict[str, type[Output]] = {
        "Image": Image, "Video": Video, "Audio": Audio, "Text": Text, "Output": Output,
    }  # fmt: skip
    fields: dict[str, Any] = {
        output.name: (
            list.__class_getitem__(classes[OUTPUT_CLASSES[output.kind]]),
            Field(description=output.description),
        )
        for output in translate(ir).outputs
    }
    model: type[WorkflowResult] = pydantic.create_model(
        f"{ir.result_class}", __base__=WorkflowResult, **fields
    )
    return model


class ExecuteResult(BaseModel):
    """comfykit's result, field for field.

    `status` is "completed", "error" (the workflow could not run or failed) or "timeout",
    the values comfykit returns (its README says "failed"; its code says "error"). Media
    are URLs, grouped by output variable (`$output.name`) or else by node id. comfygen
    adds `seeds` (random seeds picked for seed inputs that were 0), `result` (the typed
    `WorkflowResult`) and `error` (the typed exception behind a failure).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    status: str = Field(description="Execution status")
    prompt_id: str | None = Field(default=None, description="Prompt ID")
    duration: float | None = Field(default=None, description="Execution duration (in seconds)")
    images: list[str] = Field(default_factory=list, description="List of image URLs")
    images_by_var: dict[str, list[str]] = Field(default_factory=dict)
    audios: list[str] = Field(default_factory=list, description="List of audio URLs")
    audios_by_var: dict[str, list[str]] = Field(default_factory=dict)
    videos: list[str] = Field(default_factory=list, description="List of video URLs")
    videos_by_var: dict[str, list[str]] = Field(default_factory=dict)
    texts: list[str] = Field(default_factory=list, description="List of texts")
    texts_by_var: dict[str, list[str]] = Field(default_factory=dict)
    outputs: dict[str, Any] | None = Field(default=None, description="Raw outputs")
    msg: str | None = Field(default=None, description="Message")
    seeds: dict[str, int] = Field(default_factory=dict, description="Random seeds used")
    result: WorkflowResult | None = Field(default=None, exclude=True, repr=False)
    error: Exception | None = Field(default=None, exclude=True, repr=False)


WorkflowSource = str | Path


class ComfyKit:
    """comfykit's `ComfyKit`, running on comfygen's runtime.

    Configuration as comfykit reads it: arguments, then environment variables
    (`COMFYUI_BASE_URL`, `COMFYUI_EXECUTOR_TYPE`, `COMFYUI_API_KEY`, `COMFYUI_COOKIES`,
    `RUNNINGHUB_BASE_URL`, `RUNNINGHUB_API_KEY`, `RUNNINGHUB_TIMEOUT`,
    `RUNNINGHUB_RETRY_COUNT`, `RUNNINGHUB_INSTANCE_TYPE`), then defaults. The resolved
    values are comfykit's plain attributes (`kit.comfyui_url`, `kit.api_key`, `kit.cookies`,
    `kit.runninghub_*`, ...): readable and settable, and a change takes effect at the next
    call (the client built from the old values is closed and replaced).

    `executor_type` ("http" or "websocket", any case) is accepted for compatibility: both
    follow jobs over the websocket (falling back to polling), so both finish as soon as the
    job does. `random_seed` (default True, as comfykit) replaces seed inputs of 0 with a
    random 63-bit seed; the seeds used are in `ExecuteResult.seeds`. `timeout` bounds each
    `execute` on ComfyUI (seconds; None waits as long as the job runs); RunningHub calls
    wait `runninghub_timeout` (None, the default: until the task ends).
    """

    def __init__(
        self,
        comfyui_url: str | Sequence[str] | None = None,
        executor_type: str | None = None,
        api_key: str | None = None,
        cookies: str | Mapping[str, str] | None = None,
        runninghub_url: str | None = None,
        runninghub_api_key: str | None = None,
        runninghub_timeout: float | None = None,
        runninghub_retry_count: int | None = None,
        runninghub_instance_type: str | None = None,
        *,
        random_seed: bool = True,
        timeout: float | None = None,
        cancel_on_timeout: bool = False,
    ) -> None:
        env = os.environ.get
        # One URL, or several (a list, or comma-separated): then a ComfyUIPool runs them.
        self.comfyui_url: str | Sequence[str] = (
            comfyui_url or env("COMFYUI_BASE_URL") or DEFAULT_COMFYUI_URL
        )
        self.executor_type = executor_type or env("COMFYUI_EXECUTOR_TYPE") or "http"
        self.api_key: str | None = api_key or env("COMFYUI_API_KEY")
        self.cookies: str | Mapping[str, str] | None = cookies or env("COMFYUI_COOKIES")
        self.runninghub_url: str = (
            runninghub_url or env("RUNNINGHUB_BASE_URL") or DEFAULT_RUNNINGHUB_URL
        )
        # comfykit also uses the ComfyUI key for RunningHub when no RunningHub key is set
        self.runninghub_api_key: str | None = (
            runninghub_api_key or env("RUNNINGHUB_API_KEY") or self.api_key
        )
        timeout_env = env("RUNNINGHUB_TIMEOUT")
        self.runninghub_timeout: float | None = (
            runninghub_timeout
            if runninghub_timeout is not None
            else float(timeout_env)
            if timeout_env
            else None
        )
        self.runninghub_retry_count: int = (
            runninghub_retry_count
            if runninghub_retry_count is not None
            else int(env("RUNNINGHUB_RETRY_COUNT") or 3)
        )
        self.runninghub_instance_type: str | None = runninghub_instance_type or env(
            "RUNNINGHUB_INSTANCE_TYPE"
        )
        self.random_seed = random_seed
        self.timeout = timeout
        self.cancel_on_timeout = cancel_on_timeout
        self._comfyui: tuple[tuple[Any, ...], ComfyUI | ComfyUIPool] | None = None
        # The node schemas of the kit's server, built from the /object_info they came from.
        self._server_schemas: tuple[dict[str, Any], Schemas] | None = None
        self._refreshed_for: set[str] = set()  # classes /object_info was re-read for
        self._unreachable: BackendUnavailableError | None = None  # the last schema fetch
        self._fetched_cookies: tuple[str, str] | None = None  # (URL, what it answered)
        self._runninghub: tuple[tuple[Any, ...], RunningHub] | None = None
        self._retired: list[ComfyUI | ComfyUIPool | RunningHub] = []

    @property
    def executor_type(self) -> str:
        return self._executor_type

    @executor_type.setter
    def executor_type(self, value: str) -> None:
        # comfykit lowercases it and runs anything but "websocket" on its http executor
        normalized = str(value).lower()
        if normalized not in ("http", "websocket"):
            logger.warning(
                "executor_type %r is neither 'http' nor 'websocket'; using 'http' (as comfykit)",
                value,
            )
            normalized = "http"
        self._executor_type = normalized

    def __repr__(self) -> str:
        urls = [redact_url(url) for url in self._comfyui_urls()]
        shown = urls[0] if len(urls) == 1 else urls
        return f"ComfyKit(comfyui_url={shown!r}, executor_type={self.executor_type!r})"

    async def __aenter__(self) -> ComfyKit:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the clients this kit opened."""
        clients: list[ComfyUI | ComfyUIPool | RunningHub] = list(self._retired)
        clients += [pair[1] for pair in (self._comfyui, self._runninghub) if pair is not None]
        self._retired, self._comfyui, self._runninghub = [], None, None
        for client in clients:
            await client.close()

    def _comfyui_urls(self) -> list[str]:
        given = self.comfyui_url
        return server_urls(given) if isinstance(given, str) else [str(url) for url in given]

    def comfyui(self) -> ComfyUI | ComfyUIPool:
        """The client this kit runs local workflows on (built from the attributes): a
        `ComfyUIPool` when `comfyui_url` lists several servers."""
        urls = self._comfyui_urls()
        settings = (
            tuple(urls),
            self.api_key,
            _frozen(self.cookies),
            self._fetched_cookies,
            self.random_seed,
            self.cancel_on_timeout,
        )
        if self._comfyui is None or self._comfyui[0] != settings:
            if self._comfyui is not None:
                self._retired.append(self._comfyui[1])
            options: dict[str, Any] = {
                "api_key": self.api_key,
                # comfykit sends its api_key both as the Bearer token and as the comfy.org
                # key of partner (API) nodes
                "comfy_org_api_key": self.api_key,
                "cookies": self._fetched_cookies[1]
                if self._fetched_cookies is not None and self._fetched_cookies[0] == self.cookies
                else self.cookies,
                "randomize_seeds": self.random_seed,
                "cancel_on_timeout": self.cancel_on_timeout,
            }
            client = ComfyUIPool(urls, **options) if len(urls) > 1 else ComfyUI(urls[0], **options)
            self._comfyui = (settings, client)
        return self._comfyui[1]

    def runninghub(self) -> RunningHub:
        """The RunningHub client this kit runs workflow ids on (built from the attributes)."""
        settings = (
            self.runninghub_url,
            self.runninghub_api_key,
            self.runninghub_timeout,
            self.runninghub_retry_count,
            self.runninghub_instance_type,
            self.random_seed,
            self.cancel_on_timeout,
        )
        if self._runninghub is None or self._runninghub[0] != settings:
            if self._runninghub is not None:
                self._retired.append(self._runninghub[1])
            client = RunningHub(
                self.runninghub_api_key,
                base_url=self.runninghub_url,
                timeout=self.runninghub_timeout,
                retry_count=self.runninghub_retry_count,
                instance_type=self.runninghub_instance_type,
                randomize_seeds=self.random_seed,
                cancel_on_timeout=self.cancel_on_timeout,
            )
            self._runninghub = (settings, client)
        return self._runninghub[1]

    async def execute(
        self,
        workflow: WorkflowSource,
        params: Mapping[str, Any] | None = None,
        *,
        on_event: EventHandler | None = None,
        idempotency_key: str | None = None,
    ) -> ExecuteResult:
        """Run a workflow given as a file path, an http(s) URL or a RunningHub id.

        With `idempotency_key` (e.g. a task queue's task id), a second call with the same
        key attaches to the job the first one started instead of submitting it again.
        """
        try:
            ir = await self.load(workflow)
            return await self._execute(ir, params, on_event, idempotency_key)
        except (ComfygenError, ValueError, OSError, httpx.HTTPError) as error:
            return _failure(error)

    async def execute_json(
        self,
        workflow_json: Mapping[str, Any],
        params: Mapping[str, Any] | None = None,
        *,
        on_event: EventHandler | None = None,
        idempotency_key: str | None = None,
    ) -> ExecuteResult:
        """Run a workflow given as a dict (API format, or the editor's save)."""
        try:
            # as comfykit, which writes the dict to a JSON file: int keys become strings
            data = json.loads(json.dumps(workflow_json))
            source = Source(None, "workflow.json", "workflow")
            loaded = await load(source, self._schemas_for, runninghub=self.runninghub, data=data)
            return await self._execute(_analyzed(loaded), params, on_event, idempotency_key)
        except (ComfygenError, ValueError, TypeError, OSError, httpx.HTTPError) as error:
            return _failure(error)

    async def load(
        self, workflow: WorkflowSource, *, runninghub_id: str | None = None
    ) -> WorkflowIR:
        """Load and analyze a workflow: a file, an http(s) URL, or a RunningHub id (digits).

        A file `{"_source": "runninghub", "workflow_id": ...}` (as comfykit writes them)
        is that RunningHub workflow; `runninghub_id` makes a local file run on RunningHub
        as that workflow. A workflow that runs on ComfyUI is typed with the node schemas
        of the kit's own server (its `/object_info`, read once and again when a workflow
        uses a class it did not list): custom nodes, their bounds and options included.
        Raises `ComfygenError` with the diagnostics when the workflow cannot be used.
        """
        source = workflow_source(workflow)
        if source.path is not None and not source.path.is_file():
            raise ComfygenError(f"Workflow file does not exist: {workflow}")
        if runninghub_id is not None:
            source = dataclasses.replace(source, runninghub_id=runninghub_id)
        return _analyzed(await load(source, self._schemas_for, runninghub=self.runninghub))

    async def _schemas_for(self, runninghub_id: str | None, data: Any) -> Schemas:
        """The node schemas to type a workflow with: its server's, or for RunningHub (which
        publishes none) the bundled core-node schemas."""
        if runninghub_id is not None:
            return bundled()  # RunningHub publishes no schemas
        await self._fetch_cookies()
        client = self.comfyui()
        try:
            info = await client.object_info()
        except BackendUnavailableError as error:
            # Typed with the bundled schemas for now; the run reports this very failure
            # (without asking the server a second time).
            self._unreachable = error
            return bundled()
        self._unreachable = None
        unknown = _classes(data) - info.keys() - self._refreshed_for
        if unknown:  # nodes installed since it was read? read it again, once per class
            self._refreshed_for |= unknown
            info = await client.object_info(refresh=True)
        if self._server_schemas is None or self._server_schemas[0] is not info:
            self._server_schemas = (info, merged(bundled(), from_object_info(info)))
        return self._server_schemas[1]

    async def run(
        self,
        ir: WorkflowIR,
        params: Mapping[str, Any] | None = None,
        *,
        on_event: EventHandler | None = None,
        idempotency_key: str | None = None,
    ) -> WorkflowResult:
        """Run a loaded workflow and return its typed result (errors are raised)."""
        if not ir.runninghub_id:
            await self._fetch_cookies()
        backend = self._backend(ir)
        values = _validated(ir, params or {})
        unreachable, self._unreachable = self._unreachable, None
        if unreachable is not None and not ir.runninghub_id:
            raise unreachable  # found when its schemas were asked for: do not wait twice
        return await run_workflow(
            translate(ir).spec,
            values,
            result_model(ir),
            client=backend,
            on_event=on_event,
            # `timeout` is for ComfyUI; RunningHub waits `runninghub_timeout` (None: until
            # the task ends), as in comfykit
            timeout=None if ir.runninghub_id else self.timeout,
            idempotency_key=idempotency_key,
        )

    async def _fetch_cookies(self) -> None:
        """comfykit's cookies given as a URL: fetched (once per URL and kit) before the
        client is made; the answer is `name=value; ...` or a JSON object."""
        url = self.cookies if isinstance(self.cookies, str) else None
        if url is None or not url.strip().startswith(("http://", "https://")):
            return
        if self._fetched_cookies is not None and self._fetched_cookies[0] == url:
            return
        shown = redact_url(url.strip().split("?")[0])
        try:
            async with httpx.AsyncClient(timeout=30, follow_redirects=True) as http:
                reply = await http.get(url.strip())
        except httpx.HTTPError as error:
            raise BackendUnavailableError(
                f"cannot fetch the ComfyUI cookies from {shown}: {type(error).__name__}"
            ) from None
        if reply.status_code != 200:
            raise BackendUnavailableError(
                f"cannot fetch the ComfyUI cookies from {shown}: HTTP {reply.status_code}"
            )
        self._fetched_cookies = (url, reply.text.strip())

    def _backend(self, ir: WorkflowIR) -> Backend:
        return self.runninghub() if ir.runninghub_id else self.comfyui()

    async def _execute(
        self,
        ir: WorkflowIR,
        params: Mapping[str, Any] | None,
        on_event: EventHandler | None,
        idempotency_key: str | None,
    ) -> ExecuteResult:
        # `duration` as comfykit measures it: the wall time of the call.
        started = time.monotonic()
        try:
            typed = await self.run(ir, params, on_event=on_event, idempotency_key=idempotency_key)
        except WorkflowTimeoutError as error:
            return _failure(error, status="timeout", started=started)
        except MissingNodeError as error:
            # The server lacks a class the kit's copy of its schemas listed: read it again.
            self._refreshed_for.discard(error.class_type)
            with contextlib.suppress(ComfygenError):
                await self.comfyui().object_info(refresh=True)
            return _failure(error, started=started)
        except ComfygenError as error:
            return _failure(error, started=started)
        result = _as_execute_result(ir, typed, self._backend(ir))
        result.duration = time.monotonic() - started
        return result


def _frozen(cookies: str | Mapping[str, str] | None) -> Any:
    return tuple(sorted(cookies.items())) if isinstance(cookies, Mapping) else cookies


@functools.cache
def _open_combos() -> Schemas:
    """The bundled core-node schemas without combo options, to type a workflow for a server
    that publishes no schemas (RunningHub) or could not be asked: its options may be more
    than the bundle's (custom samplers), so a caller's option is never refused for missing
    from the bundle. (UI-format conversion still reads the full bundled schemas.)"""
    return {
        name: dataclasses.replace(
            node,
            inputs={
                key: dataclasses.replace(schema, options=None) if schema.type == "COMBO" else schema
                for key, schema in node.inputs.items()
            },
        )
        for name, node in bundled().items()
    }


# Node types of the editor that never reach a server (and are not in /object_info).
_EDITOR_ONLY = frozenset({"Note", "MarkdownNote", "Reroute", "PrimitiveNode"})


def _classes(data: Any) -> set[str]:
    """The node classes an API-format or editor (UI-format) workflow uses."""
    if not isinstance(data, Mapping):
        return set()
    if is_ui_format(data):
        definitions = data.get("definitions")
        subgraphs = definitions.get("subgraphs") if isinstance(definitions, Mapping) else None
        inner = [g for g in subgraphs or [] if isinstance(g, Mapping)]
        ids = {str(g.get("id")) for g in inner}
        nodes = [*(data.get("nodes") or []), *(n for g in inner for n in g.get("nodes") or [])]
        types = {str(n.get("type")) for n in nodes if isinstance(n, Mapping)}
        return types - ids - _EDITOR_ONLY
    return {
        str(node["class_type"])
        for node in data.values()
        if isinstance(node, Mapping) and isinstance(node.get("class_type"), str)
    }


def _own_schemas(loaded: Loaded) -> bool:
    """Whether the workflow was read with its server's own schemas (not the bundle)."""
    return loaded.schemas is not None and loaded.schemas is not bundled()


def _analyzed(loaded: Loaded) -> WorkflowIR:
    if loaded.diagnostics:
        raise ComfygenError(_describe(loaded.diagnostics))
    function = function_name(loaded.source.stem) or Identifier("workflow")
    ir, diagnostics = analyze(
        loaded.graph,
        source=loaded.source.display,
        function=function,
        runninghub_id=loaded.runninghub_id,
        # Typed by the bundled core-node schemas alone (RunningHub; a server that could not
        # be asked), a combo keeps no options: the server may have more than the bundle.
        schemas=loaded.schemas if _own_schemas(loaded) else _open_combos(),
        # A saved value the schema refuses is no reason to refuse a call that passes its own
        # (comfykit runs it): the parameter is then required, and says why when missing.
        lenient_defaults=True,
    )
    if ir is None:
        raise ComfygenError(_describe(diagnostics))
    return ir


def _describe(diagnostics: tuple[Diagnostic, ...] | list[Diagnostic]) -> str:
    return "\n".join(str(d) for d in diagnostics if d.severity == "error")


_reprs = reprlib.Repr()
_reprs.maxstring = _reprs.maxother = 80

# Workflows whose unknown parameters were reported (once per workflow, then at debug).
_warned: set[str] = set()


def _validated(ir: WorkflowIR, params: Mapping[str, Any]) -> BaseModel:
    """Validate params given by DSL name (as comfykit) or by Python name.

    Keys the workflow does not declare are ignored, as comfykit ignores them (apps send
    shared keys such as `index` to every workflow): logged at debug on every call and
    as a warning the first time per workflow. A name given both ways
    takes the value of its DSL name, the one comfykit knows.
    """
    fields = translate(ir).params
    by_key = {field.key: field.name for field in fields}
    names = {field.name for field in fields}
    values: dict[str, Any] = {}
    unknown: list[str] = []
    for key, value in params.items():
        name = by_key.get(key) or (key if key in names else None)
        if name is None:
            unknown.append(key)
        elif key in by_key or name not in values:
            values[name] = value
    if unknown:
        known = ", ".join(field.key for field in fields) or "(none)"
        text = "%s: ignoring parameters the workflow does not declare: %s (it has: %s)"
        if ir.source in _warned:
            logger.debug(text, ir.source, ", ".join(unknown), known)
        else:
            _warned.add(ir.source)
            logger.warning(text, ir.source, ", ".join(unknown), known)
    try:
        return params_model(ir).model_validate(values)
    except pydantic.ValidationError as error:
        keys: dict[str, str] = {field.name: field.key for field in fields}
        refused: dict[str, str] = {f.name: f.refused_default for f in fields if f.refused_default}
        problems = "; ".join(_problem(e, keys, refused) for e in error.errors(include_url=False))
        raise ParameterError(f"invalid parameters for {ir.source}: {problems}") from error


def _problem(error: Any, keys: dict[str, str], refused: dict[str, str]) -> str:
    """One pydantic error, naming the parameter as the caller wrote it."""
    where = str(error["loc"][0]) if error["loc"] else "parameters"
    name = keys.get(where, where)
    if error["type"] == "missing":
        reason = f" ({refused[where]})" if where in refused else ""
        return f"{name}: required, not given{reason}"
    return f"{name}: {error['msg']} (got {_reprs.repr(error['input'])})"


def _failure(
    error: Exception, *, status: str = "error", started: float | None = None
) -> ExecuteResult:
    prompt_id = getattr(error, "prompt_id", None)
    return ExecuteResult(
        status=status,
        msg=str(error),
        error=error,
        prompt_id=prompt_id if isinstance(prompt_id, str) else None,
        duration=None if started is None else time.monotonic() - started,
    )


def _as_execute_result(ir: WorkflowIR, typed: WorkflowResult, backend: Backend) -> ExecuteResult:
    """comfykit's view of a typed result: media URLs and texts, grouped by variable."""
    by_var: dict[str, dict[str, list[str]]] = {"image": {}, "video": {}, "audio": {}, "text": {}}

    def add(var: str, items: list[Output]) -> None:
        for item in items:
            if isinstance(item, Text):
                by_var["text"].setdefault(var, []).append(item.text)
            elif isinstance(item, File) and type(item) is not File:  # comfykit lists no others
                kind = {Video: "video", Audio: "audio"}.get(type(item), "image")
                by_var[kind].setdefault(var, []).append(item.url)

    source: Backend = backend
    if isinstance(backend, ComfyUIPool) and typed.server is not None:
        source = backend.member(typed.server)  # a pool's files are on the member that ran it
    fields = {node.node_id: output for output in ir.outputs for node in output.nodes}
    # In the order the server reports its nodes (as comfykit), every node with outputs:
    # a mapped node under its variable, any other under its node id.
    for node_id, record in typed.outputs.items():
        output = fields.get(node_id)
        if output is not None:
            items = [i for i in getattr(typed, output.name) if i.node_id == node_id]
            add(output.key, items)
        elif isinstance(record, Mapping):
            add(node_id, node_items("file", node_id, record, source.file_ref))

    def flat(groups: dict[str, list[str]]) -> list[str]:
        return [item for values in groups.values() for item in values]

    return ExecuteResult(
        status="completed",
        prompt_id=typed.prompt_id,
        duration=typed.duration,
        images=flat(by_var["image"]),
        images_by_var=by_var["image"],
        videos=flat(by_var["video"]),
        videos_by_var=by_var["video"],
        audios=flat(by_var["audio"]),
        audios_by_var=by_var["audio"],
        texts=flat(by_var["text"]),
        texts_by_var=by_var["text"],
        outputs=_raw_outputs(typed, backend),
        seeds=typed.seeds,
        result=typed,
    )


def _raw_outputs(typed: WorkflowResult, backend: Backend) -> dict[str, Any]:
    """comfykit's `outputs`: ComfyUI's history outputs, or RunningHub's raw output list."""
    if isinstance(backend, RunningHub):
        records = typed.outputs.values()
        return {"raw_data": [f["raw"] for r in records for f in r.get("files", []) if "raw" in f]}
    return typed.outputs
