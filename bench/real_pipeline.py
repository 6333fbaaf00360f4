"""Does `digitcli predict` read real pictures end to end? Real sets and transforms of them, per set.

    python bench/real_pipeline.py make [OUT]                  # write the sets (default bench/output/real)
    python bench/real_pipeline.py run RUN [--sets OUT] [--src SRC] [--only NAME ...]

`make` writes labelled folders (subfolders 0-9) that mimic the kinds of pictures users bring,
built from `../shared/data/real` (seeded, so the same every time):

- photos, drawn_28px: the evaluation-only sets as they are (linked, not copied);
- canvas_thick / canvas_dark: drawn_28px digits on a 280x280 canvas, strokes redrawn with a round
  brush 8-30 px wide (soft edge), dark on white / light on dark;
- mouse_thin: drawn_28px digits on a 200x200 canvas, strokes 1-3 px, aliased (no grey);
  mouse_gaps: the same with breaks in the lines (a canvas drawing a dot per mouse event);
- page_small: a drawn_28px digit 40-120 px tall, anywhere on a 1200x900 off-white page;
- page_on_desk: every fourth drawn_28px digit on a sheet of paper 40-75% of the picture's sides,
  tilted up to 15 degrees, photographed on a dark desk (white sheet) or a light one (grey sheet),
  with uneven light, noise, blur and JPEG;
- page_squared: every fourth drawn_28px digit (another quarter) 120-220 px tall on squared paper
  (grey lines 1-2 px wide every 18-32 px);
- conditions: every other drawn_28px digit under one of ten capture conditions in turn (a soft
  shadow over half, turned 25 degrees, 30 px tall, defocused, motion-blurred, low contrast,
  over-exposed, a glare spot, chalk on a noisy board, lined paper with a margin line), JPEG;
- photos_x0.3, photos_x0.6, photos_x1.5: the photos resized; photos_jpeg25: JPEG quality 25;
- usps, optdigits, semeion (+ `_inv`): the test splits as PNGs, white on black (as stored) and
  dark on white.

`run` calls the CLI (`python -m digitcli predict SET -r --format jsonl --model RUN`, with SRC first
on PYTHONPATH, default this checkout's src) on each set and prints, per set: the single answer
right (the record's number, or digit on older code, is the label), read as several digits,
rejected (no digit; of those, as a scene), unsure (the answer is kept in "right"), and the most
common errors (label>answer; '-' no answer, several digits as read). It reads older checkouts'
records too (no `number`/`status`: an `error` is a rejection), for before/after comparisons.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
REAL = REPO.parent / "shared" / "data" / "real"
DEFAULT_OUT = REPO / "bench" / "output" / "real"
ndimage: Any = None  # scipy.ndimage, imported by `make`


# ---------------------------------------------------------------- making the sets


def _drawn() -> list[tuple[int, Path, np.ndarray]]:
    """drawn_28px as (label, path, ink mask in [0, 1]: 1 = ink)."""
    out = []
    for path in sorted((REAL / "drawn_28px").glob("*/*.png")):
        gray = np.asarray(Image.open(path).convert("L"), dtype=np.float32) / 255.0
        out.append((int(path.parent.name), path, 1.0 - gray))
    return out


def _thin(mask: np.ndarray) -> np.ndarray:
    """Zhang-Suen thinning of a boolean mask to 1-px strokes."""
    img = np.pad(mask.astype(np.uint8), 1)
    while True:
        changed = False
        for step in (0, 1):
            p = [
                img[:-2, 1:-1], img[:-2, 2:], img[1:-1, 2:], img[2:, 2:],
                img[2:, 1:-1], img[2:, :-2], img[1:-1, :-2], img[:-2, :-2],
            ]  # fmt: skip
            neighbours = sum(q.astype(np.int32) for q in p)
            ring = [*p, p[0]]
            transitions = sum(
                ((ring[i] == 0) & (ring[i + 1] == 1)).astype(np.int32) for i in range(8)
            )
            if step == 0:
                cond = (p[0] * p[2] * p[4] == 0) & (p[2] * p[4] * p[6] == 0)
            else:
                cond = (p[0] * p[2] * p[6] == 0) & (p[0] * p[4] * p[6] == 0)
            centre = img[1:-1, 1:-1]
            remove = (
                (centre == 1) & (neighbours >= 2) & (neighbours <= 6) & (transitions == 1) & cond
            )
            if remove.any():
                centre[remove] = 0
                changed = True
        if not changed:
            return img[1:-1, 1:-1].astype(bool)


def _skeleton(ink: np.ndarray, side: int, level: int = 100) -> np.ndarray:
    """The strokes' centre lines on a side x side canvas (the 28 px drawing scaled up, its ink
    above `level` of 255: faint anti-aliased joints fall below 100 and break the lines)."""
    big = np.asarray(
        Image.fromarray((ink * 255).astype(np.uint8)).resize(
            (side, side), Image.Resampling.BILINEAR
        ),
        dtype=np.float32,
    )
    return _thin(big > level)


def _save(gray: np.ndarray, path: Path, quality: int | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(np.clip(gray, 0, 255).astype(np.uint8))
    if quality is None:
        image.save(path)
    else:
        image.save(path, quality=quality)


def _scaled(
    ink: np.ndarray, side: int, resample: Image.Resampling = Image.Resampling.BILINEAR
) -> np.ndarray:
    """A 28 px drawing's ink (in [0, 1]) resized to side x side, in 0-255 (float32)."""
    return np.asarray(
        Image.fromarray((ink * 255).astype(np.uint8)).resize((side, side), resample),
        dtype=np.float32,
    )


def _canvas(drawn: list[tuple[int, Path, np.ndarray]], out: Path, dark: bool, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for label, path, ink in drawn:
        skeleton = _skeleton(ink, 280, level=30)
        width = rng.uniform(8, 30)
        distance = ndimage.distance_transform_edt(~skeleton)
        # A round brush with a 1.5 px soft edge, as canvas apps draw.
        stroke = np.clip((width / 2 + 0.75 - distance) / 1.5, 0, 1)
        gray = stroke * 255 if dark else 255 - stroke * 255
        _save(gray, out / str(label) / f"{path.stem}.png")


def _mouse(drawn: list[tuple[int, Path, np.ndarray]], out: Path, seed: int, level: int) -> None:
    rng = np.random.default_rng(seed)
    for label, path, ink in drawn:
        line = _skeleton(ink, 200, level)
        width = int(rng.integers(1, 4))
        if width == 2:
            line = line | np.roll(line, 1, axis=1)
        elif width == 3:
            line = ndimage.binary_dilation(line, np.ones((3, 3), bool))
        _save(np.where(line, 0, 255), out / str(label) / f"{path.stem}.png")


def _page(drawn: list[tuple[int, Path, np.ndarray]], out: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for label, path, ink in drawn[::2]:
        tall = rng.uniform(40, 120)  # the digit is ~18 of the 28 px
        side = max(28, round(28 * tall / 18))
        digit = _scaled(ink, side, Image.Resampling.LANCZOS) / 255.0
        paper = rng.uniform(225, 250)
        page = paper + rng.normal(0, 2.0, (900, 1200))
        y = int(rng.integers(20, 900 - side - 20))
        x = int(rng.integers(20, 1200 - side - 20))
        ink_tone = rng.uniform(20, 80)
        region = page[y : y + side, x : x + side]
        page[y : y + side, x : x + side] = region * (1 - digit) + ink_tone * digit
        _save(page, out / str(label) / f"{path.stem}.png")


def _desk(drawn: list[tuple[int, Path, np.ndarray]], out: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for label, path, ink in drawn[::4]:
        height, width = (480, 640) if rng.random() < 0.5 else (768, 1024)
        # A white sheet on a dark desk, or a grey one (in shade) on a light desk.
        dark = rng.random() < 0.7
        desk = rng.uniform(20, 90) if dark else rng.uniform(215, 250)
        paper = rng.uniform(190, 240) if dark else rng.uniform(140, 190)
        sheet_h = int(height * rng.uniform(0.4, 0.75))
        sheet_w = int(width * rng.uniform(0.4, 0.75))
        sheet = np.full((sheet_h, sheet_w), paper, dtype=np.float32)
        side = int(min(sheet_h, sheet_w) * rng.uniform(0.3, 0.6))
        digit = _scaled(ink, side)
        y, x = (sheet_h - side) // 2, (sheet_w - side) // 2
        sheet[y : y + side, x : x + side] *= 1 - rng.uniform(0.6, 0.85) * digit / 255
        # Tilted on the desk; -1 marks the desk around the turned sheet.
        turned = np.asarray(
            Image.fromarray(sheet, mode="F").rotate(
                rng.uniform(-15, 15), expand=True, fillcolor=-1
            ),
            dtype=np.float32,
        )[:height, :width]
        picture = np.full((height, width), desk, dtype=np.float32)
        top = int(rng.integers(0, height - turned.shape[0] + 1))
        left = int(rng.integers(0, width - turned.shape[1] + 1))
        window = picture[top : top + turned.shape[0], left : left + turned.shape[1]]
        window[turned >= 0] = turned[turned >= 0]
        # Light falling off across the picture, sensor noise, a little blur, JPEG.
        rows, cols = np.mgrid[0:height, 0:width]
        picture *= (
            1 + rng.uniform(-0.25, 0.1) * cols / width + rng.uniform(-0.2, 0.1) * rows / height
        )
        picture += rng.normal(0, rng.uniform(1, 6), (height, width))
        picture = ndimage.gaussian_filter(picture, rng.uniform(0.3, 1.2))
        target = out / str(label) / f"{path.stem}.jpg"
        _save(picture, target, quality=85)


def _squared(drawn: list[tuple[int, Path, np.ndarray]], out: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for label, path, ink in drawn[1::4]:
        page = np.full((400, 400), rng.uniform(225, 250), dtype=np.float32)
        # Squared paper: 1-2 px lines every 18-32 px, grey to darker grey, in both directions.
        spacing, offset = int(rng.integers(18, 33)), int(rng.integers(0, 18))
        thickness, tone = int(rng.integers(1, 3)), rng.uniform(150, 215)
        for start in range(offset, 400, spacing):
            page[start : start + thickness, :] = tone
            page[:, start : start + thickness] = tone
        side = int(rng.integers(120, 220))
        digit = _scaled(ink, side)
        y, x = (int(rng.integers(30, 400 - side - 30)) for _ in range(2))
        page[y : y + side, x : x + side] *= 1 - rng.uniform(0.7, 0.9) * digit / 255
        page += rng.normal(0, 2.0, page.shape)
        _save(page, out / str(label) / f"{path.stem}.png")


def _conditions(drawn: list[tuple[int, Path, np.ndarray]], out: Path, seed: int) -> None:
    """Every other drawn_28px digit, 160 px tall on a 480x360 picture, under one of ten capture
    conditions in turn (the condition is the file name's prefix)."""
    rng = np.random.default_rng(seed)
    height, width = 360, 480

    def on_paper(ink: np.ndarray, side: int = 160, paper: float = 0.95, pen: float = 0.12) -> Any:
        digit = _scaled(ink, side) / 255
        picture = np.full((height, width), paper, dtype=np.float32)
        top = (height - side) // 2 + int(rng.integers(-30, 31))
        left = (width - side) // 2 + int(rng.integers(-60, 61))
        window = picture[top : top + side, left : left + side]
        window[:] = window * (1 - digit) + pen * digit
        return picture

    rows, cols = np.mgrid[0:height, 0:width]
    conditions = {
        "shadow": lambda ink: (
            on_paper(ink)
            * (1 - 0.45 / (1 + np.exp(-(cols - width / 2 - rng.integers(-60, 61)) / 15)))
        ),
        "turned": lambda ink: np.asarray(
            Image.fromarray(on_paper(ink), mode="F").rotate(
                float(rng.choice([-25, 25])), fillcolor=0.95, resample=Image.Resampling.BILINEAR
            )
        ),
        "tiny": lambda ink: on_paper(ink, side=30),
        "defocus": lambda ink: ndimage.gaussian_filter(on_paper(ink), 4),
        "motion": lambda ink: ndimage.uniform_filter1d(on_paper(ink), 9, axis=1),
        "low_contrast": lambda ink: on_paper(ink, paper=0.75, pen=0.55),
        "over_exposed": lambda ink: np.clip(on_paper(ink, paper=1.0, pen=0.7) * 1.1, 0, 1),
        "glare": lambda ink: (
            on_paper(ink)
            + 0.5
            * np.exp(
                -(
                    (rows - height / 2 - rng.integers(-50, 51)) ** 2
                    + (cols - width / 2 - rng.integers(-80, 81)) ** 2
                )
                / (2 * 40**2)
            )
        ),
        "chalkboard": lambda ink: (
            on_paper(ink, paper=0.2, pen=0.85) + rng.normal(0, 0.05, (height, width))
        ),
        "lined": lambda ink: np.minimum(
            on_paper(ink), np.where((rows % 28 < 2) | ((cols >= 60) & (cols < 62)), 0.65, 1.0)
        ),
    }
    names = list(conditions)
    for index, (label, path, ink) in enumerate(drawn[::2]):
        name = names[index % len(names)]
        picture = conditions[name](ink) + rng.normal(0, 0.01, (height, width))
        _save(
            np.clip(picture, 0, 1) * 255, out / str(label) / f"{name}-{path.stem}.jpg", quality=90
        )


def _photos(out: Path) -> None:
    for path in sorted((REAL / "photos").glob("*/*.png")):
        image = Image.open(path).convert("RGB")
        for scale in (0.3, 0.6, 1.5):
            size = (max(8, round(image.width * scale)), max(8, round(image.height * scale)))
            target = out / f"photos_x{scale}" / path.parent.name / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            image.resize(size, Image.Resampling.LANCZOS).save(target)
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=25)
        target = out / "photos_jpeg25" / path.parent.name / f"{path.stem}.jpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(buffer.getvalue())


def _npz_tests(out: Path) -> None:
    for name in ("usps", "optdigits", "semeion"):
        with np.load(REAL / f"{name}.npz") as data:
            images, labels = data["x_test"], data["y_test"]
        for i, (image, label) in enumerate(zip(images, labels, strict=True)):
            _save(image, out / name / str(int(label)) / f"{i:05d}.png")
            _save(
                255 - image.astype(np.int32), out / f"{name}_inv" / str(int(label)) / f"{i:05d}.png"
            )


def make(out: Path, only: list[str] | None = None) -> None:
    global ndimage
    from scipy import ndimage  # heavy: only when making the sets

    out.mkdir(parents=True, exist_ok=True)
    for name in ("photos", "drawn_28px"):
        link = out / name
        if not link.exists():
            link.symlink_to(REAL / name)
    drawn = _drawn()
    makers = {
        "canvas_thick": lambda: _canvas(drawn, out / "canvas_thick", dark=False, seed=1),
        "canvas_dark": lambda: _canvas(drawn, out / "canvas_dark", dark=True, seed=2),
        "mouse_thin": lambda: _mouse(drawn, out / "mouse_thin", seed=3, level=30),
        # Broken lines, as a canvas that draws a dot per mouse event (no line between them).
        "mouse_gaps": lambda: _mouse(drawn, out / "mouse_gaps", seed=3, level=100),
        "page_small": lambda: _page(drawn, out / "page_small", seed=4),
        "page_on_desk": lambda: _desk(drawn, out / "page_on_desk", seed=5),
        "page_squared": lambda: _squared(drawn, out / "page_squared", seed=6),
        "conditions": lambda: _conditions(drawn, out / "conditions", seed=7),
        "photos_*": lambda: _photos(out),
        "usps, optdigits, semeion": lambda: _npz_tests(out),
    }
    for name, maker in makers.items():
        if not only or name in only:
            maker()
    print(f"sets written under {out}")


# ---------------------------------------------------------------- measuring


def _answer(record: dict[str, object]) -> str:
    number = record.get("number")
    if number is not None:
        return str(number)
    digit = record.get("digit")
    return "" if digit is None else str(digit)


def measure(set_dir: Path, run: Path, src: Path) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(src), "NO_COLOR": "1"}
    command = [sys.executable, "-m", "digitcli", "predict", str(set_dir), "-r"]
    command += ["--format", "jsonl", "--model", str(run)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    records = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    if not records:
        raise SystemExit(f"no records for {set_dir} (exit {done.returncode}): {done.stderr[-500:]}")
    right = several = rejected = scene = unsure = 0
    errors: Counter[str] = Counter()
    for record in records:
        label = Path(str(record["path"])).parent.name
        got = _answer(record)
        status = record.get("status") or ("error" if record.get("error") else "ok")
        if status in ("no_digit", "error") or got == "":
            rejected += 1
            scene += "scene" in str(record.get("error") or "")
        unsure += status == "unsure"
        several += len(got) > 1
        if got == label:
            right += 1
        else:
            errors[f"{label}>{got or '-'}"] += 1
    n = len(records)
    return {
        "n": n,
        "right": right / n,
        "several": several / n,
        "rejected": rejected / n,
        "scene": scene / n,
        "unsure": unsure / n,
        "errors": ", ".join(f"{k} {v}" for k, v in errors.most_common(5)),
    }


def run(run_dir: Path, sets: Path, src: Path, only: list[str] | None) -> None:
    names = sorted(p.name for p in sets.iterdir() if p.is_dir())
    order = [n for n in _ORDER if n in names] + [n for n in names if n not in _ORDER]
    print(f"model {run_dir}; code {src}")
    print("| set | n | right | several digits | rejected (scene) | unsure | top errors |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name in order:
        if only and name not in only:
            continue
        row = measure(sets / name, run_dir, src)
        print(
            f"| {name} | {row['n']} | {row['right']:.1%} | {row['several']:.1%} | "
            f"{row['rejected']:.1%} ({row['scene']:.1%}) | {row['unsure']:.1%} | {row['errors']} |",
            flush=True,
        )


_ORDER = [
    "photos", "photos_x0.3", "photos_x0.6", "photos_x1.5", "photos_jpeg25", "drawn_28px",
    "canvas_thick", "canvas_dark", "mouse_thin", "mouse_gaps", "page_small",
    "usps", "usps_inv", "optdigits", "optdigits_inv", "semeion", "semeion_inv",
]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    making = sub.add_parser("make")
    making.add_argument("out", type=Path, nargs="?", default=DEFAULT_OUT)
    making.add_argument("--only", nargs="*", help="make only these sets (mouse_thin ...)")
    running = sub.add_parser("run")
    running.add_argument("run", type=Path)
    running.add_argument("--sets", type=Path, default=DEFAULT_OUT)
    running.add_argument("--src", type=Path, default=REPO / "src")
    running.add_argument("--only", nargs="*")
    args = parser.parse_args()
    if args.command == "make":
        make(args.out, args.only)
    else:
        run(args.run, args.sets, args.src, args.only)


if __name__ == "__main__":
    main()
