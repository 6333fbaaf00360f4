"""`digitcli serve`'s HTTP API through Starlette's test client: the record, the extras, the card,
and a 4xx JSON error for every kind of bad request (the server process itself is tested in
test_serve_process.py, the page in test_serve_browser.py)."""

from __future__ import annotations

import base64
import io
import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from pictures import paper
from PIL import Image
from typer.testing import CliRunner

pytest.importorskip("starlette", reason="the serve extra is not installed")
pytest.importorskip("httpx2", reason="Starlette's test client needs httpx2 (the dev extra)")

from starlette.testclient import TestClient

from digitcli.cli import app as cli_app
from digitcli.imaging import decode_image
from digitcli.preprocess import canonicalize
from digitcli.runs import resolve_model
from digitcli.serve.app import create_app
from digitcli.serve.limits import Limits
from digitcli.serve.service import Predictor
from digitcli.vocabulary import Invert

PREDICT = "/api/v1/predict"


def png_bytes(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def predictor(trained_run: Path) -> Predictor:
    return Predictor(resolve_model(trained_run))


@pytest.fixture(scope="module")
def client(predictor: Predictor) -> Iterator[TestClient]:
    limits = Limits(max_upload_bytes=200_000, max_pixels=250_000, timeout=30)
    with TestClient(create_app(predictor, limits), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture(scope="module")
def digit(confident_digits: dict[int, np.ndarray]) -> tuple[int, bytes]:
    """(label, PNG bytes) of a picture the model reads confidently: dark ink on white."""
    label, image = next(iter(confident_digits.items()))
    return label, png_bytes(paper(image))


def assert_error(response: object, status: int, code: str) -> dict[str, str]:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"] == "application/json"  # type: ignore[attr-defined]
    document = response.json()  # type: ignore[attr-defined]
    assert document["code"] == code
    assert document["error"] and "\n" not in document["error"]
    return document  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- answers


def test_predict_returns_the_record_predict_json_prints(
    client: TestClient, digit: tuple[int, bytes], trained_run: Path, tmp_path: Path
) -> None:
    label, data = digit
    (tmp_path / "digit.png").write_bytes(data)
    result = CliRunner().invoke(
        cli_app, ["predict", "--model", str(trained_run), "--format", "json", "digit.png"]
    )
    assert result.exit_code == 0, result.stderr
    (expected,) = json.loads(result.stdout)

    response = client.post(PREDICT, content=data, headers={"Content-Type": "image/png"})

    assert response.status_code == 200
    document = response.json()
    assert document["digit"] == label
    assert document.pop("model") == trained_run.name
    assert document.pop("path") == "upload"
    expected.pop("path")
    assert expected.pop("model") == str(trained_run)  # predict names the model as given
    assert document == expected


def test_min_confidence_marks_answers_unsure_as_predict_does(
    predictor: Predictor, digit: tuple[int, bytes], trained_run: Path, tmp_path: Path
) -> None:
    _, data = digit
    (tmp_path / "digit.png").write_bytes(data)
    command = ["predict", "--model", str(trained_run), "--format", "json", "--min-confidence", "1"]
    result = CliRunner().invoke(cli_app, [*command, "digit.png"])
    (expected,) = json.loads(result.stdout)
    strict = Predictor(predictor.files, min_confidence=1.0)

    with TestClient(create_app(strict)) as client:
        document = client.post(PREDICT, content=data, headers={"Content-Type": "image/png"}).json()

    assert document["status"] == expected["status"] == "unsure"
    assert document["unsure"] is True and document["reason"] == expected["reason"]


def test_multipart_upload_and_json_bodies_give_the_same_answer(
    client: TestClient, digit: tuple[int, bytes]
) -> None:
    label, data = digit
    raw = client.post(PREDICT, content=data, headers={"Content-Type": "image/png"}).json()
    form = client.post(PREDICT, files={"file": ("mine.png", data, "image/png")}).json()
    encoded = base64.b64encode(data).decode()
    as_json = client.post(PREDICT, json={"image": encoded, "name": "x.png"}).json()
    data_url = client.post(PREDICT, json={"image": f"data:image/png;base64,{encoded}"}).json()
    octets = client.post(
        PREDICT, content=data, headers={"Content-Type": "application/octet-stream"}
    ).json()

    assert form["path"] == "mine.png" and as_json["path"] == "x.png"
    for document in (form, as_json, data_url, octets):
        assert document["digit"] == label
        assert document["probabilities"] == raw["probabilities"]


def test_worker_processes_give_the_same_answers_and_errors(
    predictor: Predictor, client: TestClient, digit: tuple[int, bytes]
) -> None:
    _, data = digit
    url = f"{PREDICT}?include=image,activations"
    png = {"Content-Type": "image/png"}
    expected = client.post(url, content=data, headers=png).json()
    limits = Limits(max_pixels=250_000, workers=2)

    with TestClient(create_app(predictor, limits)) as processes:
        answers = [processes.post(url, content=data, headers=png).json() for _ in range(3)]
        bad = processes.post(PREDICT, content=b"not a picture", headers=png)
        big = processes.post(
            PREDICT, content=png_bytes(np.full((600, 600), 255, np.uint8)), headers=png
        )

    assert answers == [expected] * 3
    assert_error(bad, 422, "not_an_image")
    assert_error(big, 413, "too_many_pixels")


def test_extras_the_image_the_model_saw_and_the_hidden_activations(
    client: TestClient, digit: tuple[int, bytes], predictor: Predictor
) -> None:
    _, data = digit
    response = client.post(
        f"{PREDICT}?include=image,activations", content=data, headers={"Content-Type": "image/png"}
    )

    document = response.json()
    image = np.array(document["image"])
    assert image.shape == (20, 20)
    seen = canonicalize(decode_image(data), Invert.auto)  # what `predict` feeds the network
    np.testing.assert_allclose(image, seen, atol=0.0006)
    layers = document["activations"]
    assert [(layer["layer"], layer["units"], layer["activation"]) for layer in layers] == [
        (1, 25, "relu"),
        (2, 15, "relu"),
    ]
    hidden = predictor.network.layer_outputs(seen.reshape(1, 400))
    for layer, values in zip(layers, hidden[:-1], strict=True):
        np.testing.assert_allclose(layer["values"], values[0], atol=6e-5)
    plain = client.post(PREDICT, content=data, headers={"Content-Type": "image/png"}).json()
    assert "image" not in plain and "activations" not in plain


def test_json_body_options_override_the_query(client: TestClient, digit: tuple[int, bytes]) -> None:
    _, data = digit
    body = {"image": base64.b64encode(data).decode(), "include": ["image"], "invert": "yes"}
    document = client.post(f"{PREDICT}?include=activations", json=body).json()
    assert "image" in document and "activations" not in document


def test_a_blank_picture_is_an_answer_without_a_digit(client: TestClient) -> None:
    blank = png_bytes(np.full((280, 280), 255, dtype=np.uint8))
    response = client.post(
        f"{PREDICT}?include=image", content=blank, headers={"Content-Type": "image/png"}
    )

    assert response.status_code == 200
    document = response.json()
    assert document["digit"] is None and document["probabilities"] is None
    assert document["status"] == "no_digit" and "no ink" in document["reason"]
    assert document["image"] is None


def test_health_card_and_openapi(client: TestClient, trained_run: Path) -> None:
    health = client.get("/api/v1/health").json()
    assert health == {"status": "ok", "version": health["version"], "model": trained_run.name}

    card = client.get("/api/v1/model").json()
    assert [layer["units"] for layer in card["layers"]] == [25, 15, 10]
    assert card["parameters"] == 400 * 25 + 25 + 25 * 15 + 15 + 15 * 10 + 10
    assert card["data"]["source"] == "digits" and card["seed"] == 1234
    assert 0.5 < card["metrics"]["test"]["accuracy"] <= 1
    assert card["shows_activations"] is True

    spec = client.get("/api/v1/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    assert set(spec["paths"]) == {"/predict", "/health", "/model", "/openapi.json"}
    assert "200,000 bytes" in spec["paths"]["/predict"]["post"]["description"]


def test_the_page_and_its_assets_come_from_the_server_itself(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for asset, kind in (("static/app.js", "javascript"), ("static/style.css", "css")):
        assert f'"{asset}"' in page.text
        response = client.get(f"/{asset}")
        assert response.status_code == 200 and kind in response.headers["content-type"]
        # Works offline: nothing is fetched from another host.
        assert "http://" not in response.text and "https://" not in response.text
    assert "http://" not in page.text and "https://" not in page.text


# ------------------------------------------------------------------------ bad requests


def test_not_an_image_is_422(client: TestClient) -> None:
    response = client.post(
        PREDICT, content=b"hello, not a picture", headers={"Content-Type": "image/png"}
    )
    assert "not an image" in assert_error(response, 422, "not_an_image")["error"]


def test_a_truncated_image_is_422(client: TestClient, digit: tuple[int, bytes]) -> None:
    _, data = digit
    response = client.post(
        PREDICT, content=data[: len(data) // 2], headers={"Content-Type": "image/png"}
    )
    assert "truncated" in assert_error(response, 422, "not_an_image")["error"]


def test_a_picture_too_small_to_hold_a_digit_is_422(client: TestClient) -> None:
    tiny = png_bytes(np.zeros((2, 2), dtype=np.uint8))
    response = client.post(PREDICT, content=tiny, headers={"Content-Type": "image/png"})
    assert "too small" in assert_error(response, 422, "not_an_image")["error"]


def test_a_body_over_the_upload_limit_is_413(client: TestClient) -> None:
    response = client.post(PREDICT, content=b"\0" * 200_001, headers={"Content-Type": "image/png"})
    assert "200,000-byte" in assert_error(response, 413, "too_large")["error"]


def test_a_chunked_body_is_stopped_at_the_upload_limit(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: the size shows only while reading
        for _ in range(50):
            yield b"\0" * 10_000

    response = client.post(PREDICT, content=chunks(), headers={"Content-Type": "image/png"})
    assert_error(response, 413, "too_large")


def test_an_image_over_the_pixel_limit_is_413(client: TestClient) -> None:
    # 600x600 = 360,000 pixels > 250,000, in a few hundred bytes: the header says it all.
    big = png_bytes(np.full((600, 600), 255, dtype=np.uint8))
    assert len(big) < 200_000
    response = client.post(PREDICT, content=big, headers={"Content-Type": "image/png"})
    assert "600x600" in assert_error(response, 413, "too_many_pixels")["error"]


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_wrong_or_missing_content_type_is_415(client: TestClient, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post(PREDICT, content=b"abc", headers=headers)
    assert_error(response, 415, "unsupported_media_type")


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"", "image/png"),
        (b"", "application/json"),
        (json.dumps({"image": ""}).encode(), "application/json"),
    ],
)
def test_an_empty_body_is_400(client: TestClient, body: bytes, content_type: str) -> None:
    response = client.post(PREDICT, content=body, headers={"Content-Type": content_type})
    assert_error(response, 400, "empty")


def test_an_empty_file_in_a_form_is_400(client: TestClient) -> None:
    response = client.post(PREDICT, files={"file": ("empty.png", b"", "image/png")})
    assert_error(response, 400, "empty")


def test_a_form_without_a_file_is_400(client: TestClient) -> None:
    response = client.post(PREDICT, files={"other": ("x.png", b"abc", "image/png")})
    assert "'file'" in assert_error(response, 400, "bad_request")["error"]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", "invalid_json"),
        (b"[1, 2]", "bad_request"),
        (b'{"picture": "abc"}', "bad_request"),
        (b'{"image": "***"}', "invalid_base64"),
        (b'{"image": "aGVsbG8=", "include": 3}', "bad_request"),
    ],
)
def test_a_bad_json_body_is_400(client: TestClient, body: bytes, code: str) -> None:
    response = client.post(PREDICT, content=body, headers={"Content-Type": "application/json"})
    assert_error(response, 400, code)


@pytest.mark.parametrize("query", ["invert=sideways", "include=everything", "include=image,x"])
def test_bad_options_are_400(client: TestClient, digit: tuple[int, bytes], query: str) -> None:
    response = client.post(
        f"{PREDICT}?{query}", content=digit[1], headers={"Content-Type": "image/png"}
    )
    assert_error(response, 400, "bad_request")


def test_wrong_method_and_unknown_path_are_json_too(client: TestClient) -> None:
    assert_error(client.get(PREDICT), 405, "method_not_allowed")
    assert_error(client.get("/api/v1/nothing"), 404, "not_found")
    assert_error(client.get("/static/missing.js"), 404, "not_found")


def test_a_request_over_the_time_limit_is_503_and_frees_the_client(
    predictor: Predictor, digit: tuple[int, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    original = Predictor.predict

    def stuck(self: Predictor, *args: object, **kwargs: object) -> object:
        release.wait(30)  # a picture that takes far longer than the limit
        return original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Predictor, "predict", stuck)
    limits = Limits(
        timeout=2.0
    )  # reading the body in-process takes far less, even on a busy machine
    try:
        with TestClient(create_app(predictor, limits)) as client:
            response = client.post(PREDICT, content=digit[1], headers={"Content-Type": "image/png"})
            assert_error(response, 503, "timeout")
            assert response.headers["retry-after"] == "1"
    finally:
        release.set()


def test_serve_with_a_missing_model_is_one_error_line(runner: CliRunner) -> None:
    result = runner.invoke(cli_app, ["serve", "--model", "no-such-run", "--port", "0"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: no-such-run: ")
    assert result.stderr.count("\n") == 1


def test_serve_without_a_run_uses_the_bundled_model(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    monkeypatch.chdir(tmp_path)  # no ./results here, as on a fresh install
    # A taken port makes the server stop right after choosing its model.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = runner.invoke(cli_app, ["serve", "--port", str(port)])
    assert result.exit_code == 1
    model_line, error = result.stderr.splitlines()
    assert model_line == "model: builtin real-pictures (bundled)"
    assert error.startswith(f"error: cannot listen on 127.0.0.1:{port}: ")


def test_serve_on_a_taken_port_is_one_error_line(runner: CliRunner, trained_run: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = runner.invoke(cli_app, ["serve", "--model", str(trained_run), "--port", str(port)])
    assert result.exit_code == 1
    model_line, error = result.stderr.splitlines()  # which model it loaded, then the one error
    assert model_line == f"model: {trained_run}"
    assert error.startswith(f"error: cannot listen on 127.0.0.1:{port}: ")


def test_serve_help_names_the_extra_to_install(runner: CliRunner) -> None:
    result = runner.invoke(cli_app, ["serve", "--help"])
    assert result.exit_code == 0
    assert "pip install 'digitcli[serve]'" in result.stdout  # not eaten as Rich markup


def test_serve_uses_the_runs_threshold_unless_given(trained_run: Path, tmp_path: Path) -> None:
    from digitcli.runs import CALIBRATION_FILE

    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    calibration = json.loads((run / CALIBRATION_FILE).read_text())
    calibration["min_confidence"] = 0.77
    (run / CALIBRATION_FILE).write_text(json.dumps(calibration))
    assert Predictor(resolve_model(run)).min_confidence == 0.77
    assert Predictor(resolve_model(run), min_confidence=0.1).min_confidence == 0.1
