"""Workflow sources and the one loader: a file, an http(s) URL or a RunningHub id -> JSON.

Every way a workflow reaches comfygen goes through `load` (or `load_all`, its form for a
build of many files): `comfygen build`, `comfygen run` and `ComfyKit.execute` alike.

- a local file (API format, or the editor's UI format, converted as the editor does);
- an http(s) URL of such a file;
- a RunningHub workflow id (`rh:12345` in a build, `"12345"` in `ComfyKit.execute`): its
  graph comes from RunningHub's API and the module runs there;
- a file that only points at RunningHub, as comfykit writes them:
  `{"_source": "runninghub", "workflow_id": "12345"}`, loads as that RunningHub workflow.

Problems become diagnostics that name the source and say how to fix them; nothing raises.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import unquote, urlsplit

from ._diagnostics import Code, Diagnostic
from ._graph import is_ui_format
from ._schema import Schemas

if TYPE_CHECKING:
    from comfygen_runtime import RunningHub

__all__ = [
    "RUNNINGHUB_PREFIX",
    "Loaded",
    "SchemaProvider",
    "Source",
    "find_sources",
    "load",
    "load_all",
    "loaded_from_data",
    "parse_runninghub_source",
    "run_coroutine",
    "workflow_source",
]

RUNNINGHUB_PREFIX = "rh:"
POINTER_KEY = "_source"  # comfykit's `{"_source": "runninghub", "workflow_id": ...}` files


@dataclass(frozen=True)
class Source:
    """Where a workflow comes from: a file, an http(s) URL or a RunningHub id.

    `display` is how messages and generated code name it (a file relative to the build
    root, a URL without credentials or query); `stem` is what the function name comes
    from; `runninghub_id` is the id of the same workflow on RunningHub, if known.
    """

    path: Path | None
    display: str
    stem: str
    runninghub_id: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class Loaded:
    """A source read: its API-format graph and RunningHub id, or the problems."""

    source: Source
    graph: Any
    runninghub_id: str | None
    diagnostics: tuple[Diagnostic, ...] = ()
    schemas: Schemas | None = None  # the node schemas it was read with (None: bundled)


class _Problem(Exception):
    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


def _fail(source: Source, code: Code, message: str, hint: str) -> _Problem:
    return _Problem(Diagnostic("error", code, message, source.display, hint=hint))


# -- naming sources -------------------------------------------------------------------------


def parse_runninghub_source(text: str) -> tuple[str, str | None] | None:
    """`rh:12345` or `rh:12345=generate_cover` -> (id, name); None if not that form."""
    if not text.startswith(RUNNINGHUB_PREFIX):
        return None
    workflow_id, _, name = text[len(RUNNINGHUB_PREFIX) :].partition("=")
    if not workflow_id.isdigit():
        return None
    return workflow_id, name or None


def _is_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


def _url_source(url: str) -> Source:
    from comfygen_runtime import redact_url  # the one redactor (imported when needed)

    # Shown without credentials or query: either may hold a token.
    stem = PurePosixPath(unquote(urlsplit(url).path)).stem or "workflow"
    return Source(None, redact_url(url), stem, url=url)


def _runninghub_source(workflow_id: str, name: str | None = None) -> Source:
    display = RUNNINGHUB_PREFIX + workflow_id
    return Source(None, display, name or f"runninghub_{workflow_id}", workflow_id)


def workflow_source(workflow: str | Path) -> Source:
    """One workflow as `ComfyKit.execute` and `comfygen run` take it: a RunningHub id
    (digits, as comfykit, or `rh:ID`), an http(s) URL, or a file path."""
    if isinstance(workflow, str):
        text = workflow.strip()
        if text.isdigit():
            return _runninghub_source(text)
        remote = parse_runninghub_source(text)
        if remote is not None:
            return _runninghub_source(*remote)
        if _is_url(text):
            return _url_source(text)
    path = Path(workflow)
    return Source(path, path.name, path.stem)


def find_sources(roots: Sequence[str | Path], runninghub_ids: dict[Path, str]) -> list[Source]:
    """Expand files, directories (recursively, `*.json`, hidden entries skipped), http(s)
    URLs and `rh:<id>[=name]` RunningHub workflows. `runninghub_ids` attaches ids to
    local files (keys are resolved paths)."""
    found: dict[Path | str, Source] = {}
    for root in roots:
        if isinstance(root, str):
            remote = parse_runninghub_source(root)
            if remote is not None:
                source = _runninghub_source(*remote)
                found.setdefault(source.display, source)
                continue
            if _is_url(root):
                found.setdefault(root, _url_source(root))
                continue
        root = Path(root)
        if root.is_dir():
            for path in sorted(root.rglob("*.json")):
                relative = path.relative_to(root)
                if any(part.startswith(".") for part in relative.parts) or not path.is_file():
                    continue
                resolved = path.resolve()
                if resolved not in found:
                    attached = runninghub_ids.get(resolved)
                    found[resolved] = Source(path, relative.as_posix(), path.stem, attached)
        else:
            resolved = root.resolve()
            if resolved not in found:
                attached = runninghub_ids.get(resolved)
                found[resolved] = Source(root, root.name, root.stem, attached)
    return list(found.values())


# -- reading --------------------------------------------------------------------------------


class _DuplicateKeyError(ValueError):
    pass


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKeyError(key)
            seen.add(key)
    return result


def _parse(raw: bytes, source: Source) -> Any:
    """JSON text -> data; not UTF-8, not JSON or a key twice in one object is a problem."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise _fail(
            source,
            "invalid-json",
            f"the file is not UTF-8 (byte {error.start})",
            "save the workflow again from the ComfyUI editor",
        ) from None
    try:
        return json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except _DuplicateKeyError as error:
        raise _fail(
            source,
            "invalid-json",
            f"the key {json.dumps(str(error))} appears twice in one object",
            "remove the duplicate; JSON readers would silently keep only the last one",
        ) from None
    except (json.JSONDecodeError, RecursionError, ValueError) as error:
        where = (
            f" at line {error.lineno} column {error.colno}"
            if isinstance(error, json.JSONDecodeError)
            else ""
        )
        reason = error.msg if isinstance(error, json.JSONDecodeError) else str(error)
        raise _fail(
            source,
            "invalid-json",
            f"the file is not valid JSON{where}: {reason}",
            "fix the JSON or export the workflow again with Workflow > Export (API)",
        ) from None


def _read_file(source: Source) -> Any:
    assert source.path is not None
    try:
        raw = source.path.read_bytes()
    except FileNotFoundError:
        raise _fail(
            source, "unreadable", "the workflow file does not exist", "check the path"
        ) from None
    except OSError as error:
        raise _fail(
            source, "unreadable", f"cannot read the file: {error.strerror}", "check the path"
        ) from None
    return _parse(raw, source)


def _pointer(data: Any, source: Source) -> str | None:
    """The RunningHub id of a `{"_source": "runninghub", "workflow_id": ...}` file."""
    if not isinstance(data, dict) or POINTER_KEY not in data:
        return None
    kind, workflow_id = data.get(POINTER_KEY), data.get("workflow_id")
    if kind != "runninghub":
        raise _fail(
            source,
            "not-api-format",
            f"the file points at a workflow on {json.dumps(kind)}, which comfygen cannot load",
            'only {"_source": "runninghub", "workflow_id": "<id>"} is supported; or save '
            "the workflow itself with Workflow > Export (API)",
        )
    if not str(workflow_id).isdigit() or isinstance(workflow_id, bool):
        raise _fail(
            source,
            "not-api-format",
            f"the file points at RunningHub but its workflow_id {json.dumps(workflow_id)} "
            "is not a RunningHub workflow id",
            'write the id as digits: {"_source": "runninghub", "workflow_id": "1987654321"}',
        )
    return str(workflow_id)


def loaded_from_data(
    data: Any, source: Source, runninghub_id: str | None, schemas: Schemas | None = None
) -> Loaded:
    """API-format data as it is; the editor's UI format converted to API format (as the
    editor's own "Export (API)" does), or a `ui-format` error that says why it cannot be."""
    if not is_ui_format(data):
        return Loaded(source, data, runninghub_id, schemas=schemas)
    from ._schema import bundled
    from ._ui import ui_to_api

    graph, problems = ui_to_api(data, bundled() if schemas is None else schemas)
    if graph is not None:
        return Loaded(source, graph, runninghub_id, schemas=schemas)
    shown = "; ".join(problems[:5])
    if len(problems) > 5:
        shown += f"; and {len(problems) - 5} more"
    return Loaded(
        source,
        None,
        runninghub_id,
        (
            Diagnostic(
                "error",
                "ui-format",
                f"this is the editor's UI format and it cannot be converted: {shown}",
                source.display,
                hint="in the ComfyUI editor choose Workflow > Export (API) (older menus: "
                "enable dev mode in the settings, then 'Save (API Format)') and build that file",
            ),
        ),
    )


# -- fetching -------------------------------------------------------------------------------

RunningHubFactory = Callable[[], "RunningHub"]


async def _runninghub_graph(
    source: Source, workflow_id: str, runninghub: RunningHubFactory | None
) -> Any:
    from comfygen_runtime import ComfygenError, RunningHub

    try:
        if runninghub is not None:
            return await runninghub().workflow_json(workflow_id)
        async with RunningHub() as hub:  # configured from the environment
            return await hub.workflow_json(workflow_id)
    except (ComfygenError, ValueError) as error:
        raise _fail(
            source,
            "runninghub",
            f"cannot fetch workflow {workflow_id} from RunningHub: {error}",
            "set RUNNINGHUB_API_KEY (and RUNNINGHUB_BASE_URL for .cn) and check the id",
        ) from None


async def _download(source: Source) -> Any:
    import httpx

    assert source.url is not None
    try:
        async with httpx.AsyncClient(timeout=30, follow_redirects=True) as http:
            reply = await http.get(source.url)
    except httpx.HTTPError as error:
        raise _fail(
            source,
            "unreadable",
            f"cannot download the workflow ({type(error).__name__})",
            "check the URL and the network",
        ) from None
    if reply.status_code != 200:
        raise _fail(
            source,
            "unreadable",
            f"cannot download the workflow: HTTP {reply.status_code}",
            "check the URL; it must serve the workflow's JSON",
        )
    return _parse(reply.content, source)


SchemaProvider = Callable[[str | None, Any], Awaitable[Schemas]]
"""Node schemas chosen once the workflow is read: called with its RunningHub id (None:
it runs on ComfyUI) and its data (to see which node classes it uses)."""


async def load(
    source: Source,
    schemas: Schemas | SchemaProvider | None = None,
    *,
    runninghub: RunningHubFactory | None = None,
    data: Any = None,
) -> Loaded:
    """Load one workflow from its source (RunningHub through `runninghub()`, or through a
    client configured from the environment). `schemas` may be a provider that chooses
    them for the workflow read (e.g. the schemas of the server that will run it). `data`:
    the workflow itself, already in memory (`source` then only names it)."""
    runninghub_id = source.runninghub_id
    try:
        if data is not None:
            pass
        elif source.url is not None:
            data = await _download(source)
        elif source.path is None:
            assert runninghub_id is not None
            data = await _runninghub_graph(source, runninghub_id, runninghub)
        else:
            data = await asyncio.to_thread(_read_file, source)
        pointed = _pointer(data, source)
        if pointed is not None:
            runninghub_id = pointed
            data = await _runninghub_graph(source, pointed, runninghub)
        chosen = await schemas(runninghub_id, data) if callable(schemas) else schemas
    except _Problem as problem:
        return Loaded(source, None, runninghub_id, (problem.diagnostic,))
    return loaded_from_data(data, source, runninghub_id, chosen)


def load_all(sources: Sequence[Source], schemas: Schemas | None = None) -> list[Loaded]:
    """`load` for every source of a build, in order.

    Plain local files are read right here (a build reads thousands); the others (URLs,
    RunningHub ids and files that point at RunningHub) go through `load`, concurrently.
    """
    results: list[Loaded | None] = []
    remote: list[int] = []
    for source in sources:
        if source.path is None:
            remote.append(len(results))
            results.append(None)
            continue
        try:
            data = _read_file(source)
            if _pointer(data, source) is not None:
                remote.append(len(results))
                results.append(None)
                continue
        except _Problem as problem:
            results.append(Loaded(source, None, source.runninghub_id, (problem.diagnostic,)))
            continue
        results.append(loaded_from_data(data, source, source.runninghub_id, schemas))
    if remote:

        async def fetch() -> list[Loaded]:
            return list(await asyncio.gather(*(load(sources[i], schemas) for i in remote)))

        for index, loaded in zip(remote, run_coroutine(fetch()), strict=True):
            results[index] = loaded
    return [loaded for loaded in results if loaded is not None]


T = TypeVar("T")


def run_coroutine(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from synchronous code, inside a running event loop
    too (Jupyter, an async app that calls `build()`): then on a thread of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="comfygen") as pool:
        return pool.submit(asyncio.run, coroutine).result()
