"""comfygen's drop-in `ComfyKit` against comfykit 0.1.12's own, result by result.

Every case runs on comfykit's http executor, on comfykit's websocket executor (or, for a
RunningHub id, comfykit's RunningHub executor) and on comfygen's `ComfyKit`, each against
its own fresh fake server, so that output counters match (both sides write
`ck_00001_.png`). comfykit's http executor sleeps 1 s between `/history` polls, so the
module fixture runs all cases and sides at once; the tests then compare the results field
by field:

- `status` equal (and `msg` None on success);
- `images`/`videos`/`audios` and their `*_by_var` equal after normalizing each URL to
  (path, parsed query); `texts`/`texts_by_var` equal;
- `outputs` equal; `prompt_id` set on both or on neither; `duration` a number on both
  when completed;
- on failure, comfykit's `msg` is contained in comfygen's (which is richer);
- the graph each side submitted is the same, and every media URL can be fetched.

Where the two differ, the case is taken out of the generic test and the difference is
encoded in a test of its own (see README, "Coming from comfykit"): comfykit bugs comfygen
fixes are asserted as they are. `pairs(xfail=...)` can mark a difference that is a known
comfygen bug as `xfail(strict=True)`, so that a fix makes it fail loudly; none is open.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import pytest_asyncio
from comfygen_runtime import ComfygenError, ExecutionError, ParameterError, PromptRejectedError
from comfykit import ComfyKit as OracleKit  # comfykit 0.1.12, the behaviour to match

from comfygen import ComfyKit
from tests.conftest import ROOT, TESTS
from tests.fakes import FakeComfyUI, FakeRunningHub
from tests.fakes._images import encode_png
from tests.fakes.runninghub import DEFAULT_API_KEY

RECORDINGS = TESTS / "fakes" / "recordings" / "workflows"
CK = RECORDINGS / "comfykit"
EXAMPLES = ROOT / "examples" / "workflows"
RH_WORKFLOW_ID = "12345"
BIG_TEXT = "x" * 1_500_000  # over the websockets library's default 1 MiB message limit

COMFYGEN = "comfygen"
LOCAL_SIDES = ("http", "websocket")  # comfykit's executor_type values
RUNNINGHUB = "runninghub"  # comfykit's RunningHub executor (execute("12345", ...))


@dataclass(frozen=True)
class Case:
    id: str
    workflow: Path
    params: Mapping[str, Any] = field(default_factory=dict)
    status: str = "completed"  # what both sides return (see `tags` for exceptions)
    runninghub: bool = False
    # The graph is patched before it is written to a temporary file (same file name).
    patch: tuple[tuple[str, str, Any], ...] = ()  # (node id, input, value)
    # Differences: each tag takes the case out of one generic test, into its own test.
    tags: frozenset[str] = frozenset()

    @property
    def sides(self) -> tuple[str, ...]:
        return (RUNNINGHUB,) if self.runninghub else LOCAL_SIDES


def _case(
    id: str,
    workflow: Path,
    params: Mapping[str, Any] | None = None,
    *,
    status: str = "completed",
    runninghub: bool = False,
    patch: tuple[tuple[str, str, Any], ...] = (),
    tags: Sequence[str] = (),
) -> Case:
    return Case(id, workflow, params or {}, status, runninghub, patch, frozenset(tags))


CASES: list[Case] = [
    # The comfykit-DSL recordings, with the parameters of comfykit_0.1.12_results.json.
    _case("ck_01", CK / "ck_01_empty_image_save.json", {"width": 32, "height": 16}),
    _case("ck_05", CK / "ck_05_runtime_error.json", status="error", tags=["runtime-error"]),
    _case(
        "ck_06_width_-5",
        CK / "ck_06_validation_error.json",
        {"width": -5},
        status="error",
        tags=["out-of-range"],
    ),
    _case(
        "ck_06_width_None",
        CK / "ck_06_validation_error.json",
        {"width": None},
        status="error",
        tags=["none-param"],
    ),
    _case("ck_big_text_hello", CK / "ck_big_text.json", {"text": "hello"}),
    _case("ck_big_text_1.5MB", CK / "ck_big_text.json", {"text": BIG_TEXT}, tags=["ws-max-size"]),
    _case("ck_filename_amp_plus", CK / "ck_filename_amp_plus.json", tags=["url-encoding"]),
    _case("ck_filename_space", CK / "ck_filename_space.json"),
    # The plain recordings (no markers).
    _case("01", RECORDINGS / "01_empty_image_save.json"),
    _case("02", RECORDINGS / "02_load_invert_save_preview.json"),
    _case("03", RECORDINGS / "03_animated_webp.json"),
    _case("04", RECORDINGS / "04_text_outputs.json"),
    # 04 with SaveText (node 7) fed by node 4 ("hello"), so that node 6 and node 7 differ.
    _case(
        "04_distinct_texts",
        RECORDINGS / "04_text_outputs.json",
        patch=(("7", "text", ["4", 0]),),
        tags=["flat-order"],
    ),
    _case("05", RECORDINGS / "05_runtime_error.json", status="error", tags=["runtime-error"]),
    _case("06", RECORDINGS / "06_validation_error.json", status="error", tags=["rejected"]),
    _case("07", RECORDINGS / "07_missing_node_class.json", status="error", tags=["rejected"]),
    _case("08", RECORDINGS / "08_slow_progress.json"),
    # The model-free examples.
    _case(
        "invert_color_image",
        EXAMPLES / "invert_color_image.json",
        {"width": 16, "height": 8, "color": 0x00FF00},
    ),
    _case("text_preview", EXAMPLES / "text_preview.json", {"text": "hi", "suffix": "?"}),
    # Keys the workflow does not declare are ignored (apps send shared keys everywhere).
    _case(
        "text_preview_unknown_keys",
        EXAMPLES / "text_preview.json",
        {"text": "hi", "index": 3, "duration": 5.0, "width": 512},
    ),
    _case("caption_text", EXAMPLES / "caption_text.json", {"subject": "a cat", "separator": " / "}),
    _case("blur_preview", EXAMPLES / "blur_preview.json", {"width": 16, "height": 16, "radius": 2}),
    # RunningHub: the same id and parameters through both.
    _case(
        "rh_invert_color_image",
        EXAMPLES / "invert_color_image.json",
        {"width": 16, "height": 8},
        runninghub=True,
        tags=["rh"],
    ),
    _case(
        "rh_text_preview",
        EXAMPLES / "text_preview.json",
        {"text": "hi"},
        runninghub=True,
        tags=["rh"],
    ),
]
BY_ID = {c.id: c for c in CASES}


@dataclass
class Outcome:
    """One side's run of one case."""

    result: dict[str, Any]  # ExecuteResult.model_dump(), comfykit's or comfygen's
    base_url: str  # of the fake this side ran against
    submitted: list[Any]  # the graphs POSTed to /prompt, or RunningHub's create bodies
    fetched: dict[str, int]  # GET status of each media URL, fetched while the fake ran
    error: BaseException | None = None  # comfygen's ExecuteResult.error
    close_error: BaseException | None = None  # what kit.close() raised


Runs = dict[tuple[str, str], Outcome | BaseException]


# -- running ------------------------------------------------------------------------------


def _graph(case: Case) -> dict[str, Any]:
    graph: dict[str, Any] = json.loads(case.workflow.read_text(encoding="utf-8"))
    for node_id, name, value in case.patch:
        graph[node_id]["inputs"][name] = value
    return graph


async def _fetch(urls: list[str]) -> dict[str, int]:
    async with httpx.AsyncClient(trust_env=False, timeout=30) as http:
        return {url: (await http.get(url)).status_code for url in dict.fromkeys(urls)}


def _media_urls(result: Mapping[str, Any]) -> list[str]:
    return [*result["images"], *result["videos"], *result["audios"]]


async def _execute(case: Case, side: str, workflow: str, **settings: Any) -> Outcome:
    params = dict(case.params)
    if side == COMFYGEN:
        async with ComfyKit(**settings) as kit:
            result = await kit.execute(workflow, params)
        dumped = result.model_dump()
        return Outcome(dumped, "", [], await _fetch(_media_urls(dumped)), error=result.error)
    if not case.runninghub:
        settings["executor_type"] = side
    oracle: Any = OracleKit(**settings)
    close_error: BaseException | None = None
    try:
        answer = await oracle.execute(workflow, params)
    finally:
        try:
            await oracle.close()
        except Exception as error:  # comfykit 0.1.12: its local executors have no close()
            close_error = error
    dumped = cast(dict[str, Any], answer.model_dump())
    return Outcome(dumped, "", [], await _fetch(_media_urls(dumped)), close_error=close_error)


async def _run(case: Case, side: str, folder: Path) -> Outcome:
    if case.runninghub:
        hub = FakeRunningHub()
        await hub.start()
        try:
            hub.polls_before_done = 0  # comfykit sleeps 2 s between status polls
            hub.add_workflow(RH_WORKFLOW_ID, _graph(case))
            outcome = await _execute(
                case,
                side,
                RH_WORKFLOW_ID,
                runninghub_url=hub.base_url,
                runninghub_api_key=DEFAULT_API_KEY,
            )
            outcome.base_url, outcome.submitted = hub.base_url, list(hub.created)
            return outcome
        finally:
            await hub.stop()
    workflow = case.workflow
    if case.patch:
        workflow = folder / case.id / case.workflow.name
        workflow.parent.mkdir(exist_ok=True)
        workflow.write_text(json.dumps(_graph(case)), encoding="utf-8")
    fake = FakeComfyUI()
    await fake.start()
    try:
        # 02 loads "proto test.png", the recording's upload.
        fake.file("input", "proto test.png").write_bytes(encode_png(8, 8, (10, 20, 30)))
        outcome = await _execute(case, side, str(workflow), comfyui_url=fake.base_url)
        outcome.base_url = fake.base_url
        outcome.submitted = [body["prompt"] for body in fake.prompts_received]
        return outcome
    finally:
        await fake.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    """Every case on every side, all at once (each on its own fresh fake)."""
    folder = tmp_path_factory.mktemp("workflows")
    jobs = {(c.id, side): _run(c, side, folder) for c in CASES for side in (*c.sides, COMFYGEN)}
    outcomes = await asyncio.gather(*jobs.values(), return_exceptions=True)
    return dict(zip(jobs, outcomes, strict=True))


def _outcome(runs: Runs, case: Case, side: str) -> Outcome:
    outcome = runs[case.id, side]
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


def _both(runs: Runs, case: Case, side: str) -> tuple[Outcome, Outcome]:
    """(comfykit's outcome on `side`, comfygen's outcome)."""
    return _outcome(runs, case, side), _outcome(runs, case, COMFYGEN)


# -- normalizing ----------------------------------------------------------------------------

# PreviewImage names its files ComfyUI_temp_<5 random letters>_..., per server process.
TEMP_NAME = re.compile(r"(ComfyUI_temp_)[a-z]{5}(_)")


LOCAL_ORIGIN = re.compile(r"http://127\.0\.0\.1:\d+")


def _canon(value: Any) -> Any:
    """Replace the random part of preview file names and the fakes' own host:port (one fake
    per side), everywhere in a value."""
    if isinstance(value, str):
        return LOCAL_ORIGIN.sub("http://fake", TEMP_NAME.sub(r"\1?????\2", value))
    if isinstance(value, list):
        return [_canon(v) for v in value]
    if isinstance(value, dict):
        return {k: _canon(v) for k, v in value.items()}
    return value


def media_key(url: str) -> tuple[str, dict[str, list[str]]]:
    """A media URL as (path, parsed query): the host differs (one fake per side), a space
    may be %20 or +, and comfygen writes an empty `subfolder=` that comfykit leaves out
    (parse_qs drops blank values; ComfyUI's /view defaults subfolder to "")."""
    parts = urlsplit(url)
    return parts.path, _canon(parse_qs(parts.query))


def media_and_texts(result: Mapping[str, Any]) -> dict[str, Any]:
    view: dict[str, Any] = {}
    for kind in ("images", "videos", "audios"):
        view[kind] = [media_key(url) for url in result[kind]]
        by_var = result[f"{kind}_by_var"]
        view[f"{kind}_by_var"] = {v: [media_key(url) for url in urls] for v, urls in by_var.items()}
    view["texts"], view["texts_by_var"] = result["texts"], result["texts_by_var"]
    return view


# -- parametrization ------------------------------------------------------------------------


def pairs(
    *,
    skip: Sequence[str] = (),
    where: Callable[[Case], bool] | None = None,
    xfail: Mapping[str, str] | None = None,
) -> list[Any]:
    """(case, comfykit side) pairs, without those whose tags (tag or "tag/side") are in
    `skip`; `xfail` maps a tag to the reason an undocumented difference fails the test."""
    params: list[Any] = []
    for c in CASES:
        for side in c.sides:
            keys = c.tags | {f"{tag}/{side}" for tag in c.tags}
            if keys & set(skip) or (where is not None and not where(c)):
                continue
            reasons = [reason for tag, reason in (xfail or {}).items() if tag in keys]
            marks = [
                pytest.mark.xfail(strict=True, raises=AssertionError, reason=r) for r in reasons
            ]
            params.append(pytest.param(c, side, id=f"{c.id}-{side}", marks=marks))
    return params


# -- the generic comparisons ----------------------------------------------------------------


@pytest.mark.parametrize(("case", "side"), pairs(skip=["ws-max-size/websocket"]))
def test_status(runs: Runs, case: Case, side: str) -> None:
    kit, gen = _both(runs, case, side)
    assert (kit.result["status"], gen.result["status"]) == (case.status, case.status), (
        kit.result["msg"],
        gen.result["msg"],
    )
    if case.status == "completed":
        assert kit.result["msg"] is None and gen.result["msg"] is None
    # None of these workflows has a seed input, so comfygen picked no random seed.
    assert gen.result["seeds"] == {}


@pytest.mark.parametrize(("case", "side"), pairs(skip=["ws-max-size/websocket"]))
def test_prompt_id_on_both_or_neither(runs: Runs, case: Case, side: str) -> None:
    kit, gen = _both(runs, case, side)
    assert (kit.result["prompt_id"] is None) == (gen.result["prompt_id"] is None), (
        kit.result["prompt_id"],
        gen.result["prompt_id"],
        getattr(gen.error, "prompt_id", None),
    )


@pytest.mark.parametrize(
    ("case", "side"),
    pairs(skip=["ws-max-size/websocket"], where=lambda c: c.status == "completed"),
)
def test_duration_is_a_number_when_completed(runs: Runs, case: Case, side: str) -> None:
    # Both time the call on the client (comfykit's http executor's includes its 1 s poll
    # sleep). The typed result (`.result.duration`) has the time the backend says the job
    # ran.
    kit, gen = _both(runs, case, side)
    for duration in (kit.result["duration"], gen.result["duration"]):
        assert isinstance(duration, (int, float)) and not isinstance(duration, bool)
        assert duration >= 0


@pytest.mark.parametrize(("case", "side"), pairs(skip=["ws-max-size/websocket", "url-encoding"]))
def test_media_and_texts(runs: Runs, case: Case, side: str) -> None:
    kit, gen = _both(runs, case, side)
    assert media_and_texts(gen.result) == media_and_texts(kit.result)
    if case.status == "completed":
        assert any(media_and_texts(gen.result).values()), "the case produced outputs"


@pytest.mark.parametrize(("case", "side"), pairs(skip=["ws-max-size/websocket"]))
def test_outputs(runs: Runs, case: Case, side: str) -> None:
    kit, gen = _both(runs, case, side)
    assert _canon(gen.result["outputs"]) == _canon(kit.result["outputs"])


@pytest.mark.parametrize(
    ("case", "side"),
    pairs(skip=["rejected", "none-param", "out-of-range"], where=lambda c: c.status == "error"),
)
def test_failure_msg_contains_comfykits(runs: Runs, case: Case, side: str) -> None:
    kit, gen = _both(runs, case, side)
    # comfykit passes the server's exception_message on with its trailing newline;
    # comfygen strips it: "node 2 (ImageBlur) failed with RuntimeError: <message>".
    assert kit.result["msg"].strip() in gen.result["msg"]
    assert isinstance(gen.error, ExecutionError)
    assert kit.result["msg"] == gen.error.exception_message


@pytest.mark.parametrize(("case", "side"), pairs(skip=["none-param", "out-of-range"]))
def test_same_graph_submitted(runs: Runs, case: Case, side: str) -> None:
    # The graph POSTed to /prompt (parameters applied), or RunningHub's create body
    # (apiKey, workflowId, nodeInfoList). Both send only the parameters the call passes
    # here; comfygen leaves out RunningHub values equal to the workflow's own (documented
    # in "Running on RunningHub"), which these cases do not pass.
    kit, gen = _both(runs, case, side)
    assert gen.submitted == kit.submitted
    assert len(gen.submitted) == 1


@pytest.mark.parametrize(("case", "side"), pairs(skip=["url-encoding"]))
def test_media_urls_can_be_fetched(runs: Runs, case: Case, side: str) -> None:
    kit, gen = _both(runs, case, side)
    for outcome in (kit, gen):
        for url in _media_urls(outcome.result):
            assert url.startswith(f"{outcome.base_url}/"), url
            assert outcome.fetched[url] == 200, url


# -- the differences, each encoded ----------------------------------------------------------


@pytest.mark.parametrize("side", LOCAL_SIDES)
def test_filename_with_ampersand_and_plus(runs: Runs, side: str) -> None:
    # UNDOCUMENTED (a comfykit bug comfygen fixes): comfykit pastes the file name into the
    # URL unencoded, so "&" and "+" change the query: its URL names the file "ck a" and
    # answers 404 (as on the real server, comfykit_0.1.12_results.json). comfygen
    # percent-encodes the name; its URL fetches the image.
    kit, gen = _both(runs, BY_ID["ck_filename_amp_plus"], side)
    name = kit.result["outputs"]["2"]["images"][0]["filename"]
    assert name == "ck a&b+c_00001_.png"
    assert gen.result["outputs"] == kit.result["outputs"]

    (kit_url,) = kit.result["images"]
    assert kit_url == f"{kit.base_url}/view?filename={name}&subfolder=proto&type=output"
    assert parse_qs(urlsplit(kit_url).query)["filename"] == ["ck a"]
    assert kit.fetched[kit_url] == 404
    assert kit.result["images_by_var"] == {"result": [kit_url]}

    (gen_url,) = gen.result["images"]
    assert media_key(gen_url) == (
        "/view",
        {"filename": [name], "subfolder": ["proto"], "type": ["output"]},
    )
    assert gen.fetched[gen_url] == 200
    assert gen.result["images_by_var"] == {"result": [gen_url]}


def test_websocket_executor_fails_on_a_big_message(runs: Runs) -> None:
    # UNDOCUMENTED (a comfykit bug comfygen fixes): comfykit's websocket executor uses the
    # websockets library's default 1 MiB message limit, so a 1.5 MB text output closes
    # the socket and the run is an error (as on the real server). comfygen returns the
    # text, like comfykit's http executor (compared by the generic tests).
    big = BY_ID["ck_big_text_1.5MB"]
    kit, gen = _both(runs, big, "websocket")
    assert kit.result["status"] == "error" and kit.result["msg"] == "WebSocket connection closed"
    assert kit.result["prompt_id"] is not None and kit.result["texts"] == []
    assert gen.result["status"] == "completed" and gen.result["texts"] == [BIG_TEXT]
    assert gen.result["texts_by_var"] == {"text": [BIG_TEXT]}
    assert gen.submitted == kit.submitted


@pytest.mark.parametrize("side", LOCAL_SIDES)
def test_flat_lists_follow_the_execution_order(runs: Runs, side: str) -> None:
    # Both order the flat `texts` (and `images`, ...) as the server reports its nodes
    # (execution order), not as the workflow lists them.
    c = BY_ID["04_distinct_texts"]
    kit, gen = _both(runs, c, side)
    assert gen.result["texts_by_var"] == kit.result["texts_by_var"]
    assert gen.result["texts"] == kit.result["texts"]
    assert list(kit.result["outputs"]) != sorted(kit.result["outputs"]), "executed out of order"
    assert gen.result["outputs"] == kit.result["outputs"]


@pytest.mark.parametrize("side", LOCAL_SIDES)
def test_none_for_an_int_parameter(runs: Runs, side: str) -> None:
    # UNDOCUMENTED (follows from typed parameters): comfykit sends width=None and returns
    # the server's 400; comfygen validates the parameters first and sends nothing.
    kit, gen = _both(runs, BY_ID["ck_06_width_None"], side)
    assert kit.result["status"] == gen.result["status"] == "error"
    assert kit.result["prompt_id"] is None and gen.result["prompt_id"] is None
    assert "Failed to convert an input value to a INT value" in kit.result["msg"]
    (graph,) = kit.submitted
    assert graph["1"]["inputs"]["width"] is None
    assert gen.submitted == []
    assert isinstance(gen.error, ComfygenError) and not isinstance(gen.error, PromptRejectedError)
    assert gen.result["msg"].startswith("invalid parameters for ck_06_validation_error.json")
    assert "width" in gen.result["msg"] and "valid integer" in gen.result["msg"]


@pytest.mark.parametrize("side", LOCAL_SIDES)
def test_out_of_range_is_refused_before_sending(runs: Runs, side: str) -> None:
    # BETTER (README "Coming from comfykit"): a value the node's schema puts out of range
    # is what the server would refuse; comfykit sends it and returns the server's 400,
    # comfygen refuses it before sending, as generated code does, naming the parameter.
    kit, gen = _both(runs, BY_ID["ck_06_width_-5"], side)
    assert kit.result["status"] == gen.result["status"] == "error"
    (graph,) = kit.submitted
    assert graph["1"]["inputs"]["width"] == -5
    assert "Value -5 smaller than min of 1" in kit.result["msg"]
    assert gen.submitted == []
    assert isinstance(gen.error, ParameterError)
    assert gen.result["msg"] == (
        "invalid parameters for ck_06_validation_error.json: width: Input should be "
        "greater than or equal to 1 (got -5)"
    )


@pytest.mark.parametrize(("case", "side"), pairs(where=lambda c: "rejected" in c.tags))
def test_rejected_prompt_msg(runs: Runs, case: Case, side: str) -> None:
    # UNDOCUMENTED: comfykit's msg for HTTP 400 is "Submit workflow failed: [<class
    # 'Exception'>] Submit workflow failed: [400] <the raw JSON body>", so it is not
    # contained in comfygen's, which has one line per node error ("node 1 (EmptyImage)
    # input 'width': Value -5 smaller than min of 1", with the parameter when one set it)
    # and keeps the raw body in ExecuteResult.error.body. Everything the errors say is in
    # comfygen's msg; the error type names, input_config and received_value are not.
    kit, gen = _both(runs, case, side)
    prefix = "Submit workflow failed: [<class 'Exception'>] Submit workflow failed: [400] "
    assert kit.result["msg"].startswith(prefix)
    body = json.loads(kit.result["msg"].removeprefix(prefix))
    assert isinstance(gen.error, PromptRejectedError) and gen.error.body == body
    msg = gen.result["msg"]
    assert kit.result["msg"] not in msg
    if body["node_errors"]:
        for node_id, entry in body["node_errors"].items():
            assert f"node {node_id} ({entry['class_type']})" in msg
            for error in entry["errors"]:
                assert error["message"] in msg and error["details"] in msg
    else:  # missing_node_type
        info = body["error"]["extra_info"]
        assert body["error"]["message"] in msg
        assert info["node_id"] in msg and info["class_type"] in msg


@pytest.mark.parametrize("side", LOCAL_SIDES)
def test_close(runs: Runs, side: str) -> None:
    # UNDOCUMENTED (a comfykit bug comfygen fixes): comfykit's documented kit.close() and
    # `async with` raise AttributeError for its local executors, which have no close();
    # comfygen's close (used through `async with` above) works. comfykit's RunningHub
    # executor closes fine.
    kit = _outcome(runs, BY_ID["ck_01"], side)
    assert isinstance(kit.close_error, AttributeError)
    assert "object has no attribute 'close'" in str(kit.close_error)
    assert _outcome(runs, BY_ID["rh_invert_color_image"], RUNNINGHUB).close_error is None


# -- comfykit on the fake is comfykit on the real server ------------------------------------

# From comfykit_0.1.12_results.json (comfykit 0.1.12 against a real ComfyUI 0.33.0): the
# same msg from both executors.
_VALIDATION = (
    "Submit workflow failed: [<class 'Exception'>] Submit workflow failed: [400] "
    '{"error": {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs '
    'failed validation", "details": "", "extra_info": {}}, "node_errors": {"1": {"errors": '
)
_INPUT_CONFIG = '"input_config": ["INT", {"default": 512, "min": 1, "max": 16384, "step": 1}]'
RECORDED_MSGS: dict[str, str] = {
    "ck_05": (
        "Argument #4: Padding size should be less than the corresponding input dimension, "
        "but got: padding (31, 31) at dimension 3 of input [1, 3, 8, 8]\n"
    ),
    "ck_06_width_-5": (
        f'{_VALIDATION}[{{"type": "value_smaller_than_min", "message": "Value -5 smaller than '
        f'min of 1", "details": "width", "extra_info": {{"input_name": "width", {_INPUT_CONFIG}, '
        f'"received_value": -5}}}}], "dependent_outputs": ["2"], "class_type": "EmptyImage"}}}}}}'
    ),
    "ck_06_width_None": (
        f'{_VALIDATION}[{{"type": "invalid_input_type", "message": "Failed to convert an input '
        'value to a INT value", "details": "width, None, int() argument must be a string, a '
        'bytes-like object or a real number, not \'NoneType\'", "extra_info": {"input_name": '
        f'"width", {_INPUT_CONFIG}, "received_value": null, "exception_message": "int() '
        "argument must be a string, a bytes-like object or a real number, not 'NoneType'\"}}], "
        '"dependent_outputs": ["2"], "class_type": "EmptyImage"}}}'
    ),
}


@pytest.mark.parametrize(
    ("case", "side"), pairs(where=lambda c: c.id in RECORDED_MSGS or c.id == "ck_big_text_1.5MB")
)
def test_comfykit_on_the_fake_gives_its_recorded_result(runs: Runs, case: Case, side: str) -> None:
    kit = _outcome(runs, case, side).result
    if case.id == "ck_big_text_1.5MB":
        recorded = (
            ("completed", None) if side == "http" else ("error", "WebSocket connection closed")
        )
        assert (kit["status"], kit["msg"]) == recorded
    else:
        assert (kit["status"], kit["msg"]) == ("error", RECORDED_MSGS[case.id])
