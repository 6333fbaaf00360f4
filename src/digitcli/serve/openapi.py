"""The API's OpenAPI 3.1 document, written out by hand: Starlette has no schema generator of its
own worth the name, and a hand-kept document says exactly what the endpoints promise."""

from __future__ import annotations

from typing import Any, get_args

from digitcli import __version__
from digitcli.predict import Status
from digitcli.serve.limits import Limits

API_VERSION = "v1"
API_PREFIX = f"/api/{API_VERSION}"

_PROBABILITY = {"type": "number", "minimum": 0, "maximum": 1}
_RECORD = {
    "type": "object",
    "description": "The record `digitcli predict --format json` prints, plus the model's name.",
    "required": [
        "path",
        "digit",
        "confidence",
        "probabilities",
        "top3",
        "error",
        "unsure",
        "status",
        "reason",
        "model",
    ],
    "properties": {
        "path": {"type": "string", "description": "The upload's file name, or `upload`."},
        "digit": {"type": ["integer", "null"], "minimum": 0, "maximum": 9},
        "confidence": {**_PROBABILITY, "type": ["number", "null"]},
        "probabilities": {
            "type": ["array", "null"],
            "items": _PROBABILITY,
            "minItems": 10,
            "maxItems": 10,
            "description": "Softmax over the digits 0-9.",
        },
        "top3": {
            "type": "array",
            "items": {"type": "array", "prefixItems": [{"type": "integer"}, _PROBABILITY]},
        },
        "error": {
            "type": ["string", "null"],
            "description": "Why there is no digit (e.g. `no ink found`); null when there is one.",
        },
        "unsure": {
            "type": "boolean",
            "description": "The calibrated confidence is below the server's --min-confidence.",
        },
        "status": {"enum": list(get_args(Status))},
        "reason": {
            "type": ["string", "null"],
            "description": "Why the answer is unsure, or why no digit was found.",
        },
        "model": {"type": "string", "description": "The run the model comes from."},
        "image": {
            "type": ["array", "null"],
            "description": "With include=image: the 20x20 image the network read, rows of values "
            "from 0 (background) to 1 (ink).",
            "items": {"type": "array", "items": _PROBABILITY},
        },
        "activations": {
            "type": ["array", "null"],
            "description": "With include=activations: each hidden layer's outputs (null for "
            "networks too large to show).",
            "items": {
                "type": "object",
                "properties": {
                    "layer": {"type": "integer"},
                    "units": {"type": "integer"},
                    "activation": {"type": "string"},
                    "values": {"type": "array", "items": {"type": "number"}},
                },
            },
        },
    },
}
_ERROR = {
    "type": "object",
    "required": ["error", "code"],
    "properties": {
        "error": {"type": "string", "description": "One line for a person."},
        "code": {
            "type": "string",
            "description": "bad_request, empty, invalid_json, invalid_base64, not_found, "
            "method_not_allowed, request_timeout, too_large, too_many_pixels, "
            "unsupported_media_type, not_an_image, timeout.",
        },
    },
}


def _json(schema: dict[str, Any] | str, description: str) -> dict[str, Any]:
    if isinstance(schema, str):
        schema = {"$ref": f"#/components/schemas/{schema}"}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json("Error", description)


def openapi_document(limits: Limits) -> dict[str, Any]:
    binary = {"type": "string", "format": "binary"}
    predict = {
        "summary": "Read the digit in one picture",
        "description": "Send the picture as the raw body (Content-Type image/png, image/jpeg, ... "
        "or application/octet-stream), as a multipart form field `file`, or as JSON "
        '`{"image": "<base64 or data: URL>", "name": "...", "invert": "...", "include": [...]}`. '
        "The raw body costs the server least (nothing to unpack). "
        "A picture without a digit is an answer (status no_digit, digit null, `reason` says "
        "why), not an error. "
        f"Limits: {limits.max_upload_bytes:,} bytes per request, {limits.max_pixels:,} pixels "
        f"per image, {limits.timeout:g} s per request.",
        "parameters": [
            {
                "name": "invert",
                "in": "query",
                "schema": {"enum": ["auto", "yes", "no"], "default": "auto"},
                "description": "yes: dark ink on light paper; no: light strokes on dark; auto: "
                "guess from the border.",
            },
            {
                "name": "include",
                "in": "query",
                "schema": {"type": "string"},
                "description": "Comma-separated extras: image (the 20x20 image the network "
                "read), activations (hidden layers' outputs).",
            },
        ],
        "requestBody": {
            "required": True,
            "content": {
                "image/*": {"schema": binary},
                "application/octet-stream": {"schema": binary},
                "multipart/form-data": {
                    "schema": {"type": "object", "properties": {"file": binary}}
                },
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["image"],
                        "properties": {
                            "image": {"type": "string"},
                            "name": {"type": "string"},
                            "invert": {"enum": ["auto", "yes", "no"]},
                            "include": {
                                "type": "array",
                                "items": {"enum": ["image", "activations"]},
                            },
                        },
                    }
                },
            },
        },
        "responses": {
            "200": _json("Prediction", "The prediction record."),
            "400": _error("Malformed request: bad option, bad JSON or base64, empty body."),
            "408": _error("The body did not arrive within the time limit."),
            "413": _error("The body has too many bytes, or the image too many pixels."),
            "415": _error("A Content-Type the endpoint does not take."),
            "422": _error("The bytes are not a readable image (PNG, JPEG, BMP, GIF, TIFF, WebP)."),
            "503": _error("No answer within the time limit."),
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "digitcli",
            "version": __version__,
            "description": "Read handwritten digits with a small neural network. API version "
            f"{API_VERSION}; every path below starts with {API_PREFIX}.",
        },
        "servers": [{"url": API_PREFIX}],
        "paths": {
            "/predict": {"post": predict},
            "/health": {
                "get": {
                    "summary": "Is the server up, and which model does it run",
                    "responses": {"200": _json("Health", "Up.")},
                }
            },
            "/model": {
                "get": {
                    "summary": "The model card: layers, training data, scores",
                    "responses": {"200": _json("ModelCard", "The card.")},
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1.")},
                }
            },
        },
        "components": {
            "schemas": {
                "Prediction": _RECORD,
                "Error": _ERROR,
                "Health": {
                    "type": "object",
                    "properties": {
                        "status": {"const": "ok"},
                        "version": {"type": "string"},
                        "model": {"type": "string"},
                    },
                },
                "ModelCard": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "engine": {"type": "string"},
                        "input": {"type": "object"},
                        "layers": {"type": "array", "items": {"type": "object"}},
                        "parameters": {"type": "integer"},
                        "classes": {"type": "array", "items": {"type": "integer"}},
                        "shows_activations": {"type": "boolean"},
                        "min_confidence": {"type": "number"},
                        "created": {"type": ["string", "null"]},
                        "seed": {"type": ["integer", "null"]},
                        "data": {"type": "object"},
                        "metrics": {"type": "object"},
                    },
                },
            }
        },
    }
