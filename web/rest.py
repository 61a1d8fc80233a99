"""``POST /api/predict`` and ``POST /api/predict_video``: the plain REST API. One multipart field ``file`` → the same
JSON as the Gradio ``/predict`` (``/predict_video``).

The body is bounded by the guard (``Content-Length`` ≤ the photo limit + 64 KB) before it is read, then parsed in
memory with python-multipart's streaming parser: unlike FastAPI's ``UploadFile``, which spools to a temporary file,
nothing of the request is ever written to disk. The HTTP status says what happened; the body is always the result
or error JSON.
"""

from __future__ import annotations

import anyio
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from python_multipart.multipart import MultipartParser, parse_options_header

from emotion.errors import ImageRejected
from emotion.result import ErrorResult
from web.service import EmotionService

STATUS = {"invalid_image": 400, "invalid_request": 400, "file_too_large": 413, "too_many_files": 413,
          "unsupported_format": 415, "no_face_detected": 422, "multiple_faces": 422, "image_too_small": 422,
          "rate_limited": 429, "busy": 503, "timeout": 503, "internal_error": 500,
          "invalid_video": 400, "unsupported_video": 415, "video_too_long": 422}


MAX_PARTS = 8  # a form with the photo and a few other fields; not 400,000 empty parts


def file_field(body: bytes, content_type: str, field: str = "file") -> bytes | None:
    """The bytes of the multipart field ``field`` (the first one of that name), or None when there is none."""
    ctype, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary or len(boundary) > 70:  # RFC 2046: at most 70 characters
        raise ImageRejected("invalid_request", "Send the photo as multipart/form-data in a field named 'file' "
                                               "(curl -F file=@face.jpg …).")
    if body.count(b"--" + boundary) > MAX_PARTS + 1:  # counted at memory speed before any parsing
        raise ImageRejected("invalid_request", "The form has too many parts: send one field named 'file'.")
    parts: list[tuple[bytes, bytearray]] = []
    header: dict[str, bytes] = {"field": b"", "value": b""}
    names: list[bytes] = []

    def on_header_field(data, start, end):
        header["field"] += data[start:end]

    def on_header_value(data, start, end):
        header["value"] += data[start:end]

    def on_header_end():
        if header["field"].lower() == b"content-disposition":
            names.append(parse_options_header(header["value"])[1].get(b"name", b""))
        header["field"], header["value"] = b"", b""

    def on_part_begin():
        parts.append((b"", bytearray()))

    def on_headers_finished():
        parts[-1] = (names[-1] if names else b"", parts[-1][1])

    def on_part_data(data, start, end):
        parts[-1][1].extend(data[start:end])

    parser = MultipartParser(boundary, {"on_header_field": on_header_field, "on_header_value": on_header_value,
                                        "on_header_end": on_header_end, "on_part_begin": on_part_begin,
                                        "on_headers_finished": on_headers_finished, "on_part_data": on_part_data})
    try:
        parser.write(body)
        parser.finalize()
    except Exception as e:  # noqa: BLE001 - python-multipart raises several types for a malformed body
        raise ImageRejected("invalid_request", "The multipart body could not be parsed.") from e
    for name, data in parts:
        if name == field.encode():
            return bytes(data)
    return None


def multipart_file(what: str) -> dict:
    """The request body as OpenAPI says it (the body is parsed by hand, so FastAPI cannot infer it): one multipart
    field ``file``, which /docs shows as a file chooser under "Try it out"."""
    schema = {"type": "object", "required": ["file"],
              "properties": {"file": {"type": "string", "format": "binary", "description": what}}}
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}}


def router(service: EmotionService) -> APIRouter:
    api = APIRouter()
    codes = {c: {"description": f"error codes answered with HTTP {c}"} for c in sorted(set(STATUS.values()))}

    # REST handlers wait for the pipeline in threads of their own, at most as many as the service admits: they never
    # take the threads that Gradio's events (or anything else) run in.
    threads = anyio.CapacityLimiter(service.concurrency + service.max_waiting)

    async def answer(request: Request, run, example: str, include_cam: bool = False) -> JSONResponse:
        """The shared shape of both routes: refused at once when the client is over its limit or the service is
        full; else the body, parsed and run (``run(data, client)``) in a worker thread → the result JSON with the
        status that says what happened (and Retry-After when waiting helps)."""
        client = request.client.host if request.client else "unknown"
        content_type = request.headers.get("content-type", "")

        def parse_and_run(body: bytes):
            try:
                data = file_field(body, content_type)
                if data is None:
                    raise ImageRejected("invalid_request", f"No field named 'file' in the form (curl -F file=@{example} …).")
            except ImageRejected as e:
                message = e.message if example == "face.jpg" else e.message.replace("the photo", "the video")
                return ErrorResult.of(e.code, message.replace("face.jpg", example))
            del body
            return run(data, client)

        result = service.admission(client)
        if result is None:
            result = await anyio.to_thread.run_sync(parse_and_run, await request.body(), limiter=threads)
        headers = {}
        if isinstance(result, ErrorResult) and result.error in ("rate_limited", "busy"):
            headers["Retry-After"] = str(service.retry_after(client) if result.error == "rate_limited" else 5)
        return JSONResponse(result.to_dict(include_cam=include_cam) if include_cam else result.to_dict(),
                            status_code=200 if result.success else STATUS.get(result.error, 400), headers=headers)

    @api.post("/api/predict", summary="Emotion of every face in one photo", responses=codes,
              openapi_extra=multipart_file("a JPEG, PNG or WebP photo"))
    async def predict(request: Request, explain: bool = Query(False, description="add each face's heatmap (cam)"),
                      model: str = Query("accurate", description="`accurate` (default) or `fast`")):
        """Multipart field ``file``: a JPEG, PNG or WebP photo. Answers the result JSON of docs/API.md."""
        return await answer(request, lambda data, client: service.predict_upload(data, client, with_cam=explain, model=model),
                            "face.jpg", include_cam=explain)

    @api.post("/api/predict_video", summary="Emotion of the main face over time in one video clip", responses=codes,
              openapi_extra=multipart_file("an MP4, WebM or MOV clip"))
    async def predict_video(request: Request, model: str = Query("accurate", description="`accurate` (default) or `fast`")):
        """Multipart field ``file``: an MP4, WebM or MOV clip (limits: /guide/api). Answers frames sampled at
        EMOTION_VIDEO_FPS per second, each with its faces, and a summary (dominant emotion, segments)."""
        return await answer(request, lambda data, client: service.predict_video(data, client, model=model), "clip.mp4")

    return api


# The API's own documentation page ------------------------------------------------------------------------------
DOCS_ASSETS = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css", "favicon-32x32.png": "image/png"}


def docs_router(title: str = "Facial emotion recognition", openapi_url: str = "/openapi.json") -> APIRouter:
    """``GET /docs``: Swagger UI for the REST API, whole from this server. FastAPI's own page loads Swagger UI's
    script and styles from a CDN, so it is blank offline; here they come from the ``swagger-ui-bundle-v2`` package
    (Swagger UI 5, which reads FastAPI's OpenAPI 3.1), under ``/docs/assets/``. Use with ``FastAPI(docs_url=None)``."""
    from fastapi import HTTPException
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.responses import FileResponse, HTMLResponse
    from swagger_ui_bundle import swagger_ui_path

    docs = APIRouter(include_in_schema=False)

    @docs.get("/docs", response_class=HTMLResponse)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=openapi_url, title=f"{title} – REST API",
                                   swagger_js_url="/docs/assets/swagger-ui-bundle.js",
                                   swagger_css_url="/docs/assets/swagger-ui.css",
                                   swagger_favicon_url="/docs/assets/favicon-32x32.png")

    @docs.get("/docs/assets/{name}")
    def asset(name: str) -> FileResponse:
        if name not in DOCS_ASSETS:  # only these three files of the package, by name: no path reaches the disk
            raise HTTPException(404)
        return FileResponse(f"{swagger_ui_path}/{name}", media_type=DOCS_ASSETS[name],
                            headers={"Cache-Control": "public, max-age=86400"})

    return docs
