"""The HTTP side: routes, request parsing, limits and JSON errors around `service.Predictor`.

`create_app` returns a plain Starlette app. Every failure a client can cause is a JSON body
`{"error": "<one line>", "code": "<word>"}` with a 4xx status; decoding and predicting run in a
bounded thread pool (or worker processes, see `workers`) under a time limit, so a slow or hostile
request never blocks the event loop.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from digitcli import __version__
from digitcli.errors import ImageError, ImageTooLargeError
from digitcli.serve.limits import BodyLimit, BodyTooLarge, Limits
from digitcli.serve.openapi import API_PREFIX, openapi_document
from digitcli.serve.service import Predictor
from digitcli.serve.workers import Job, ProcessWorkers, ThreadWorkers, WorkerDied
from digitcli.vocabulary import Invert

INCLUDES = ("image", "activations")
# The page's own assets only: the page must work offline, and nothing else may run in it.
PAGE_POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "too_large",
    415: "unsupported_media_type",
    422: "not_an_image",
    503: "timeout",
}


class ApiError(Exception):
    """A request the API refuses: the status, a code word and one line for a person."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or _CODES.get(status, "error")


def create_app(predictor: Predictor, limits: Limits | None = None) -> Starlette:
    limits = limits or Limits()
    page = (resources.files("digitcli.serve") / "static" / "index.html").read_bytes()
    openapi = openapi_document(limits)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        workers = (
            ProcessWorkers(predictor, limits.workers)
            if limits.workers
            else ThreadWorkers(predictor, limits.threads)
        )
        await workers.start()
        app.state.workers = workers
        try:
            yield
        finally:
            await workers.close()

    async def index(request: Request) -> Response:
        return HTMLResponse(page, headers={"Content-Security-Policy": PAGE_POLICY})

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "version": __version__, "model": predictor.name})

    async def model_card(request: Request) -> Response:
        return JSONResponse(predictor.card())

    async def openapi_json(request: Request) -> Response:
        return JSONResponse(openapi)

    async def predict(request: Request) -> Response:
        invert, includes = _options(request.query_params.get("invert"), _query_includes(request))
        try:
            with anyio.fail_after(limits.timeout):
                data, name, overrides = await _read_image(request)
        except TimeoutError:
            raise ApiError(
                408, f"the request was not received within {limits.timeout:g} s"
            ) from None
        if overrides:
            invert, includes = _options(
                overrides.get("invert", invert.value), overrides.get("include", includes)
            )
        if not data:
            raise ApiError(400, "the image is empty (0 bytes)", "empty")

        job = Job(
            data,
            name,
            invert,
            limits.max_pixels,
            with_image="image" in includes,
            with_activations="activations" in includes,
        )
        try:
            with anyio.fail_after(limits.timeout):
                document = await request.app.state.workers.run(job)
        except TimeoutError:
            raise ApiError(
                503, f"no answer within the {limits.timeout:g} s limit; try a smaller image"
            ) from None
        except ImageTooLargeError as exc:
            raise ApiError(413, _without_name(exc.message, name), "too_many_pixels") from None
        except ImageError as exc:
            raise ApiError(422, _without_name(exc.message, name)) from None
        except WorkerDied as exc:
            raise ApiError(503, exc.message, "worker_died") from None
        return JSONResponse(document)

    api = [
        Route("/health", health, methods=["GET"]),
        Route("/model", model_card, methods=["GET"]),
        Route("/predict", predict, methods=["POST"]),
        Route("/openapi.json", openapi_json, methods=["GET"]),
    ]
    return Starlette(
        routes=[
            Route("/", index, methods=["GET"]),
            Mount(API_PREFIX, routes=api),
            Mount("/static", StaticFiles(packages=[("digitcli.serve", "static")]), name="static"),
        ],
        middleware=[Middleware(BodyLimit, limit=limits.max_upload_bytes)],
        exception_handlers={
            ApiError: _api_error,
            HTTPException: _http_error,
            BodyTooLarge: _too_large,
            Exception: _unexpected,
        },
        lifespan=lifespan,
    )


def _query_includes(request: Request) -> list[str]:
    return [part for value in request.query_params.getlist("include") for part in value.split(",")]


def _options(invert: object, includes: object) -> tuple[Invert, set[str]]:
    choices = ", ".join(choice.value for choice in Invert)
    if invert is None:
        invert = Invert.auto.value
    if not isinstance(invert, str) or invert not in {choice.value for choice in Invert}:
        raise ApiError(400, f"invert must be one of {choices}, got {invert!r}")
    if isinstance(includes, str):
        includes = includes.split(",")
    if not isinstance(includes, list | set) or not all(isinstance(x, str) for x in includes):
        raise ApiError(400, "include must be a list of names")
    wanted = {name.strip() for name in includes if name.strip()}
    unknown = sorted(wanted - set(INCLUDES))
    if unknown:
        raise ApiError(400, f"include: unknown {', '.join(unknown)} (known: {', '.join(INCLUDES)})")
    return Invert(invert), wanted


async def _read_image(request: Request) -> tuple[bytes, str, dict[str, Any]]:
    """(image bytes, a name for the record, options the body sets) from a raw image body, a
    multipart form (field `file`) or a JSON object (`image`: base64 or a data: URL)."""
    header = request.headers.get("content-type")
    media = (header or "").split(";")[0].strip().lower()
    if media.startswith("image/") or media == "application/octet-stream":
        return await request.body(), "upload", {}
    if media == "multipart/form-data":
        async with request.form(max_files=1, max_fields=4) as form:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise ApiError(400, "the form has no file field named 'file'")
            return await upload.read(), upload.filename or "upload", {}
    if media == "application/json":
        return _json_image(await request.body())
    allowed = "image/*, application/octet-stream, multipart/form-data or application/json"
    if not header:
        raise ApiError(415, f"no Content-Type: send {allowed}")
    raise ApiError(415, f"Content-Type {media!r} is not accepted: send {allowed}")


def _json_image(body: bytes) -> tuple[bytes, str, dict[str, Any]]:
    if not body:
        raise ApiError(400, "the request body is empty", "empty")
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        raise ApiError(400, "the body is not valid JSON", "invalid_json") from None
    if not isinstance(document, dict) or not isinstance(document.get("image"), str):
        raise ApiError(400, 'the JSON body must be an object with "image": base64 or a data: URL')
    text: str = document["image"]
    if text.startswith("data:"):
        _, _, text = text.partition(",")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, '"image" is not valid base64', "invalid_base64") from None
    name = document.get("name")
    overrides = {key: document[key] for key in ("invert", "include") if key in document}
    return data, name if isinstance(name, str) and name else "upload", overrides


def _without_name(message: str, name: str) -> str:
    # imaging names the file first; the client knows which file it sent.
    return message.removeprefix(f"{name}: ")


def _error(status: int, message: str, code: str | None = None) -> JSONResponse:
    return JSONResponse(
        {"error": message, "code": code or _CODES.get(status, "error")}, status_code=status
    )


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    response = _error(exc.status, exc.message, exc.code)
    if exc.status == 503:
        response.headers["Retry-After"] = "1"
    return response


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    messages = {404: "no such page or endpoint", 405: f"{request.method} is not allowed here"}
    message = messages.get(exc.status_code) or " ".join(str(exc.detail).split())
    response = _error(exc.status_code, message)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def _too_large(request: Request, exc: Exception) -> Response:
    return _error(413, str(exc), "too_large")


async def _unexpected(request: Request, exc: Exception) -> Response:
    # A bug: still one JSON line, never a traceback page; the server logs the traceback.
    return _error(500, f"unexpected {type(exc).__name__} (a bug; please report it)", "internal")
