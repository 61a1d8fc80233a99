"""The MCP tool (web/mcp.py) with the ``mcp`` package's own client against a real server: over SSE
(``/gradio_api/mcp/sse``) and streamable HTTP (``/gradio_api/mcp/``), one tool, the /api/predict JSON, and a path or
URL in place of the photo refused with nothing fetched, opened or kept."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import http.client
import json
import socket
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from bench.server import running_app
from tests.conftest import EXAMPLES
from web.mcp import TOOL

mcp = pytest.importorskip("mcp", reason="the MCP tool needs gradio[mcp] (requirements.txt)")
from mcp.client.sse import sse_client  # noqa: E402
from mcp.client.streamable_http import streamablehttp_client  # noqa: E402

PHOTO = base64.b64encode((EXAMPLES / "astronaut.jpg").read_bytes()).decode()
VARYING = ("inference_time_ms", "timings_ms")  # differ from one run to the next


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mcp")
    temp_dir = tmp / "gradio_tmp"
    temp_dir.mkdir()
    with running_app(temp_dir, tmp / "server.log", EMOTION_RATE_LIMIT="100000") as (url, proc, _):
        yield {"url": url, "temp_dir": temp_dir, "log": tmp / "server.log"}


@contextlib.asynccontextmanager
async def session(url: str, transport: str):
    """An initialised MCP client session over ``sse`` or streamable ``http``."""
    client = (sse_client(url + "/gradio_api/mcp/sse") if transport == "sse"
              else streamablehttp_client(url + "/gradio_api/mcp/"))
    async with client as streams, mcp.ClientSession(streams[0], streams[1]) as s:
        await s.initialize()
        yield s


def call(url: str, transport: str, arguments: dict, tool: str = TOOL):
    async def go():
        async with session(url, transport) as s:
            return await s.call_tool(tool, arguments)

    return asyncio.run(go())


def rest_predict(url: str, model: str = "accurate") -> dict:
    boundary = "mcp-test-boundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jpg\"\r\n"
            f"Content-Type: image/jpeg\r\n\r\n").encode() + (EXAMPLES / "astronaut.jpg").read_bytes() + \
        f"\r\n--{boundary}--\r\n".encode()
    req = urllib.request.Request(f"{url}/api/predict?model={model}", data=body,
                                 headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def without_timings(result: dict) -> dict:
    return {k: v for k, v in result.items() if k not in VARYING}


def test_one_tool_whose_description_says_how_to_read_the_answer(server):
    async def go():
        async with session(server["url"], "sse") as s:
            return (await s.list_tools()).tools

    tools = asyncio.run(go())
    assert [t.name for t in tools] == [TOOL]  # /predict, /explain, … are not tools
    tool = tools[0]
    with urllib.request.urlopen(server["url"] + "/info", timeout=10) as r:
        models = json.loads(r.read())["models"]
    for name, card in models.items():
        assert f"{name} {card['uncertain_threshold']:.2f}" in tool.description
    for words in ("calibrated", "is_uncertain", "top two emotions", "not a path or a URL"):
        assert words in tool.description
    assert tool.inputSchema["required"] == ["image"] and tool.inputSchema["properties"]["model"]["default"] == "accurate"
    with urllib.request.urlopen(server["url"] + "/gradio_api/mcp/schema", timeout=10) as r:
        assert [t["name"] for t in json.loads(r.read())] == [TOOL]


@pytest.mark.parametrize("transport, image, model", [("sse", "data:image/jpeg;base64," + PHOTO, "accurate"),
                                                     ("http", PHOTO, "fast")])
def test_the_tool_answers_the_rest_api_json(server, transport, image, model):
    result = call(server["url"], transport, {"image": image, "model": model})
    assert not result.isError
    answer = json.loads(result.content[0].text)
    assert answer["success"] and answer["emotion"] == "happy" and answer["model"] == model
    assert without_timings(answer) == without_timings(rest_predict(server["url"], model))


def test_a_path_or_url_is_refused_and_nothing_is_fetched_or_kept(server):
    hits = []
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.2)
    stop = threading.Event()

    def accept():
        while not stop.is_set():
            try:
                hits.append(listener.accept())
            except OSError:
                pass

    threading.Thread(target=accept, daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/face.jpg"
    before = {p for p in Path(server["temp_dir"]).rglob("*") if p.is_file()}
    try:
        for image in ("/etc/passwd", str(EXAMPLES / "astronaut.jpg"), "file:///etc/passwd", url,
                      "data:text/plain;base64,aGVsbG8=", "../examples/astronaut.jpg"):
            answer = json.loads(call(server["url"], "http", {"image": image}).content[0].text)
            assert (answer["success"], answer["error"]) == (False, "invalid_request"), image
            assert "never opens a file path or fetches a URL" in answer["message"]
        # Gradio's own file-taking endpoints are not tools: a URL for /predict is refused, never fetched.
        refused = call(server["url"], "sse", {"image_file": url}, tool="predict")
        assert refused.isError and "Unknown tool" in refused.content[0].text
        photo = call(server["url"], "sse", {"image": PHOTO})  # a photo: answered, and kept nowhere either
        assert json.loads(photo.content[0].text)["success"]
    finally:
        stop.set()
        listener.close()
    assert hits == []
    assert {p for p in Path(server["temp_dir"]).rglob("*") if p.is_file()} == before
    assert PHOTO[100:160] not in server["log"].read_text()


def test_the_guard_bounds_mcp_bodies_like_the_other_image_routes(server):
    host, port = server["url"].removeprefix("http://").split(":")
    for route in ("/gradio_api/mcp/", "/gradio_api/mcp/messages/?session_id=x"):
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        conn.putrequest("POST", route)
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str(200 * 2**20))  # refused from the header: nothing is read
        conn.endheaders()
        r = conn.getresponse()
        assert (r.status, json.loads(r.read())["error"]) == (413, "file_too_large"), route
        conn.close()
    with pytest.raises(urllib.error.HTTPError) as e:  # other MCP-looking routes stay outside the allow-list
        urllib.request.urlopen(server["url"] + "/gradio_api/mcp/anything", timeout=10)
    assert e.value.code == 404
