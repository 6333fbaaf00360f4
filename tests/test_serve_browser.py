"""The drawing page in a real browser: headless Chromium (Debian's package) driven by Playwright
draws a 3 with mouse strokes and must read 3, and a 7 with the keyboard alone; keyboard shortcuts,
undo, photo upload and a phone-sized screen.

Screenshots of the drawn 3 and of the keyboard's 7 are written to tests/artifacts/serve-draw-3.png
and serve-keyboard-7.png (git-ignored), for a person to look at. Without chromium or Playwright the tests are skipped, saying which is missing.
"""

from __future__ import annotations

import io
import json
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from pictures import paper
from PIL import Image
from servers import Server, serve_process

pytest.importorskip("uvicorn", reason="the serve extra is not installed")
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright is not installed (pip install playwright)"
)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    pytest.skip(
        "no chromium on PATH (Debian: apt-get install chromium; .ci/run installs it)",
        allow_module_level=True,
    )

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# A 3 as two bumps, in fractions of the drawing area: where a person's mouse would go.
THREE = [
    [
        (0.30, 0.22),
        (0.42, 0.16),
        (0.58, 0.16),
        (0.68, 0.24),
        (0.68, 0.36),
        (0.58, 0.46),
        (0.46, 0.49),
    ],
    [
        (0.46, 0.49),
        (0.60, 0.52),
        (0.70, 0.62),
        (0.70, 0.74),
        (0.60, 0.83),
        (0.44, 0.85),
        (0.30, 0.78),
    ],
]
ANSWER_TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def server(trained_run: Path) -> Iterator[Server]:
    with serve_process(trained_run) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


def draw(page: object, strokes: list[list[tuple[float, float]]]) -> None:
    """Real mouse strokes over the drawing area: press, move in small steps, release."""
    box = page.locator("#pad").bounding_box()  # type: ignore[attr-defined]
    mouse = page.mouse  # type: ignore[attr-defined]
    for stroke in strokes:
        x, y = stroke[0]
        mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"])
        mouse.down()
        for x, y in stroke[1:]:
            mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"], steps=6)
        mouse.up()


def ink_rows(page: object) -> tuple[bool, bool]:
    """Whether the top 40% and the bottom 35% of the drawing area hold ink (the 3's bumps)."""
    halves = page.evaluate(  # type: ignore[attr-defined]
        """() => {
            const pad = document.getElementById("pad");
            const data = pad.getContext("2d").getImageData(0, 0, pad.width, pad.height).data;
            const ink = [0, 0];
            for (let i = 0; i < data.length; i += 4) {
                const row = Math.floor(i / 4 / pad.width) / pad.height;
                if (data[i] < 128 && row < 0.4) ink[0] += 1;
                if (data[i] < 128 && row > 0.65) ink[1] += 1;
            }
            return ink;
        }"""
    )
    return bool(halves[0]), bool(halves[1])


def test_drawing_a_3_shows_3(server: Server, browser: object) -> None:
    expect = sync_api.expect
    page = browser.new_page(viewport={"width": 1100, "height": 900})  # type: ignore[attr-defined]
    problems: list[str] = []
    page.on(
        "console",
        lambda message: problems.append(message.text) if message.type == "error" else None,
    )
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(server.url)
    expect(page.locator("#model")).to_contain_text("Model ")

    draw(page, THREE)

    expect(page.locator("#digit")).to_have_text("3", timeout=ANSWER_TIMEOUT_MS)
    expect(page.locator("#bars li.top")).to_contain_text("3")
    expect(page.locator("#layers .unit")).to_have_count(25 + 15)
    # The 20x20 image the network read is drawn: some of its pixels are ink.
    ink = page.evaluate(
        "() => Array.from(document.getElementById('seen').getContext('2d')"
        ".getImageData(0, 0, 20, 20).data).filter((v, i) => i % 4 === 0 && v > 128).length"
    )
    assert 10 < ink < 300
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "serve-draw-3.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot: {shot}")
    assert problems == []
    page.close()


def test_keyboard_undo_clear_and_focusable_buttons(server: Server, browser: object) -> None:
    expect = sync_api.expect
    page = browser.new_page()  # type: ignore[attr-defined]
    page.goto(server.url)
    draw(page, THREE)
    expect(page.locator("#digit")).to_have_text("3", timeout=ANSWER_TIMEOUT_MS)

    page.keyboard.press("u")  # undo the lower bump
    assert ink_rows(page) == (True, False)
    page.keyboard.press("Control+z")
    assert ink_rows(page) == (False, False)
    expect(page.locator("#clear")).to_be_disabled()  # nothing left to undo or clear
    expect(page.locator("#digit")).to_have_text("?")

    draw(page, THREE)
    expect(page.locator("#digit")).to_have_text("3", timeout=ANSWER_TIMEOUT_MS)
    page.keyboard.press("Escape")
    expect(page.locator("#digit")).to_have_text("?")

    page.reload()  # focus starts at the top of the page again
    focused = []
    for _ in range(2):
        page.keyboard.press("Tab")
        focused.append(page.evaluate("() => document.activeElement.id"))
    assert focused == ["pad", "upload"]  # undo and clear are disabled on a blank pad
    page.evaluate(
        "() => document.getElementById('photo')"
        ".addEventListener('click', (event) => { window.chosen = true; event.preventDefault(); })"
    )
    page.keyboard.press("Enter")  # the focused photo button opens the file dialog
    assert page.evaluate("() => window.chosen") is True
    page.close()


# A 7 drawn with the keyboard alone, from the pen's start in the middle: (key, times) pairs.
SEVEN_BY_KEYS = [
    ("Shift+ArrowLeft", 1),  # to the bar's left end, pen up
    ("ArrowLeft", 2),
    ("Shift+ArrowUp", 1),
    ("ArrowUp", 3),
    ("Space", 1),  # pen down
    ("Shift+ArrowRight", 3),  # the bar
    ("Shift+End", 2),  # the stem: down and to the left, then straight down
    ("Shift+ArrowDown", 1),
]


def test_drawing_a_7_with_the_keyboard_only(server: Server, browser: object) -> None:
    expect = sync_api.expect
    page = browser.new_page(viewport={"width": 1100, "height": 900})  # type: ignore[attr-defined]
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(server.url)
    expect(page.locator("#model")).to_contain_text("Model ")
    # The keys are described where a screen reader reads the drawing area.
    hint = page.evaluate(
        "() => document.getElementById(document.getElementById('pad')"
        ".getAttribute('aria-describedby')).textContent"
    )
    assert "arrow keys" in hint and "Space" in hint

    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.id") == "pad"
    expect(page.locator("#pen")).to_be_visible()  # the pen shows where it is
    *before_last, last = SEVEN_BY_KEYS
    for key, times in before_last:
        for _ in range(times):
            page.keyboard.press(key)
    expect(page.locator("#pen-state")).to_contain_text("Pen down")
    # While the pen is down, moving it draws and asks the network, as the mouse does.
    with page.expect_request(lambda request: "/api/v1/predict" in request.url):
        page.keyboard.press(last[0])
    page.keyboard.press("Space")  # lift the pen: the final answer
    expect(page.locator("#pen-state")).to_contain_text("Pen up")

    expect(page.locator("#digit")).to_have_text("7", timeout=ANSWER_TIMEOUT_MS)
    expect(page.locator("#bars li.top")).to_contain_text("7")
    assert ink_rows(page) == (True, True)  # the bar at the top, the stem to the bottom
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "serve-keyboard-7.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot: {shot}")

    page.keyboard.press("u")  # undo takes the keyboard's stroke away like any other
    expect(page.locator("#digit")).to_have_text("?")
    assert ink_rows(page) == (False, False)
    assert problems == []
    page.close()


def test_a_photo_upload_is_read(
    server: Server, browser: object, confident_digits: dict[int, np.ndarray], tmp_path: Path
) -> None:
    expect = sync_api.expect
    photo = tmp_path / "digit.jpg"
    for image in confident_digits.values():  # a photo the server reads as one digit
        big = Image.fromarray(paper(image)).resize((280, 280), Image.Resampling.BILINEAR)
        buffer = io.BytesIO()
        big.convert("RGB").save(buffer, format="JPEG", quality=90)
        photo.write_bytes(buffer.getvalue())
        answer = ask(server, photo.read_bytes())
        if answer["digit"] is not None:
            break
    assert answer["digit"] is not None, "no confident digit reads as one digit when enlarged"
    page = browser.new_page()  # type: ignore[attr-defined]
    page.goto(server.url)

    page.set_input_files("#photo", str(photo))

    expect(page.locator("#digit")).to_have_text(str(answer["digit"]), timeout=ANSWER_TIMEOUT_MS)
    expect(page.locator("#status")).to_contain_text("digit.jpg")

    # Two digits side by side: the page shows the number the API reads, whatever it is.
    pair = tmp_path / "pair.jpg"
    images = list(confident_digits.values())[:2]
    Image.fromarray(np.hstack([paper(image) for image in images])).convert("RGB").resize(
        (560, 280), Image.Resampling.BILINEAR
    ).save(pair, format="JPEG", quality=90)
    answer = ask(server, pair.read_bytes())
    shown = answer["number"] if answer["digit"] is None and answer["number"] else answer["digit"]
    page.set_input_files("#photo", str(pair))
    expect(page.locator("#status")).to_contain_text("pair.jpg", timeout=ANSWER_TIMEOUT_MS)
    expect(page.locator("#digit")).to_have_text(str(shown if shown is not None else "?"))
    page.close()


def ask(server: Server, data: bytes) -> dict[str, object]:
    """The API's answer for a JPEG, straight from the server."""
    request = urllib.request.Request(
        f"{server.url}api/v1/predict", data=data, headers={"Content-Type": "image/jpeg"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        answer: dict[str, object] = json.loads(response.read())
    return answer


def test_the_page_fits_a_phone_screen(server: Server, browser: object) -> None:
    expect = sync_api.expect
    context = browser.new_context(  # type: ignore[attr-defined]
        viewport={"width": 360, "height": 740}, has_touch=True, is_mobile=True
    )
    page = context.new_page()
    page.goto(server.url)
    widths = page.evaluate(
        "() => [document.documentElement.scrollWidth, window.innerWidth,"
        " document.getElementById('pad').getBoundingClientRect().right]"
    )
    assert widths[0] <= widths[1] and widths[2] <= widths[1], widths  # no sideways scrolling
    assert (
        page.evaluate("() => getComputedStyle(document.getElementById('pad')).touchAction")
        == "none"
    )
    draw(page, THREE)  # a mouse on a phone-sized page; the canvas takes pointer events of any kind
    expect(page.locator("#digit")).to_have_text("3", timeout=ANSWER_TIMEOUT_MS)
    context.close()
