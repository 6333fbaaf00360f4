// The drawing page: strokes on a canvas, sent as a PNG to the API while you draw. No framework, no
// build step, no network access beyond this server.
"use strict";

(() => {
  const API = "api/v1";
  const STROKE = 20; // pen width in canvas pixels (the canvas is 280 wide): MNIST-like strokes
  const THROTTLE_MS = 150; // at most one prediction this often while drawing
  const STEP = 10; // the keyboard pen's step in canvas pixels (half a stroke: lines stay solid)
  const BIG_STEP = 40; // with Shift
  const KEYBOARD = "keyboard"; // the keyboard pen's stroke id (pointer ids are numbers)
  // Keys that move the keyboard pen: (dx, dy) in steps. Home/End/PgUp/PgDn are the diagonals, as
  // on a numeric keypad without Num Lock (7 1 9 3).
  const MOVES = {
    ArrowLeft: [-1, 0],
    ArrowRight: [1, 0],
    ArrowUp: [0, -1],
    ArrowDown: [0, 1],
    Home: [-1, -1],
    PageUp: [1, -1],
    End: [-1, 1],
    PageDown: [1, 1],
  };

  const pad = document.getElementById("pad");
  const frame = pad.parentElement;
  const penMark = document.getElementById("pen");
  const penState = document.getElementById("pen-state");
  const ctx = pad.getContext("2d");
  const undoButton = document.getElementById("undo");
  const clearButton = document.getElementById("clear");
  const uploadButton = document.getElementById("upload");
  const photo = document.getElementById("photo");
  const digit = document.getElementById("digit");
  const confidence = document.getElementById("confidence");
  const statusLine = document.getElementById("status");
  const bars = document.getElementById("bars");
  const seen = document.getElementById("seen");
  const layersBox = document.getElementById("layers-box");
  const layers = document.getElementById("layers");

  const strokes = []; // each stroke: [{x, y}, ...] in canvas pixels
  let current = null; // the stroke being drawn, with its pointer id (or KEYBOARD)
  const pen = { x: pad.width / 2, y: pad.height / 2 }; // the keyboard pen, in canvas pixels
  let timer = null;
  let inFlight = false;
  let again = false; // the drawing changed while a request was in flight
  let sequence = 0; // answers to older requests are dropped

  // ------------------------------------------------------------------ probability bars

  const barItems = [];
  for (let d = 0; d < 10; d += 1) {
    const item = document.createElement("li");
    const label = document.createElement("span");
    label.textContent = String(d);
    const track = document.createElement("span");
    track.className = "track";
    const fill = document.createElement("span");
    fill.className = "fill";
    track.appendChild(fill);
    const value = document.createElement("span");
    value.className = "value";
    item.append(label, track, value);
    bars.appendChild(item);
    barItems.push({ item, fill, value });
  }

  // -------------------------------------------------------------------------- drawing

  function paint() {
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, pad.width, pad.height);
    ctx.strokeStyle = "#000";
    ctx.fillStyle = "#000";
    ctx.lineWidth = STROKE;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    for (const stroke of strokes) {
      if (stroke.length === 1) {
        ctx.beginPath();
        ctx.arc(stroke[0].x, stroke[0].y, STROKE / 2, 0, 2 * Math.PI);
        ctx.fill();
        continue;
      }
      ctx.beginPath();
      ctx.moveTo(stroke[0].x, stroke[0].y);
      for (const point of stroke.slice(1)) ctx.lineTo(point.x, point.y);
      ctx.stroke();
    }
    undoButton.disabled = clearButton.disabled = strokes.length === 0;
  }

  function point(event) {
    const box = pad.getBoundingClientRect();
    return {
      x: ((event.clientX - box.left) * pad.width) / box.width,
      y: ((event.clientY - box.top) * pad.height) / box.height,
    };
  }

  pad.addEventListener("pointerdown", (event) => {
    if (current && current.id === KEYBOARD) liftPen(false);
    if (event.button !== 0 || current) return;
    event.preventDefault();
    pad.setPointerCapture(event.pointerId);
    current = { id: event.pointerId, points: [point(event)] };
    strokes.push(current.points);
    paint();
    schedule();
  });

  pad.addEventListener("pointermove", (event) => {
    if (!current || event.pointerId !== current.id) return;
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
    for (const each of events.length ? events : [event]) current.points.push(point(each));
    paint();
    schedule();
  });

  function endStroke(event) {
    if (!current || event.pointerId !== current.id) return;
    const points = current.points;
    current = null;
    movePenTo(points[points.length - 1]); // the keyboard carries on where the pointer stopped
    predictNow();
  }
  pad.addEventListener("pointerup", endStroke);
  pad.addEventListener("pointercancel", endStroke);

  // ------------------------------------------------------------------- keyboard drawing

  function showPen() {
    penMark.style.setProperty("--x", String(pen.x / pad.width));
    penMark.style.setProperty("--y", String(pen.y / pad.height));
    penMark.classList.toggle("down", Boolean(current && current.id === KEYBOARD));
  }

  function movePenTo(point) {
    pen.x = Math.min(pad.width, Math.max(0, point.x));
    pen.y = Math.min(pad.height, Math.max(0, point.y));
    showPen();
  }

  function lowerPen() {
    current = { id: KEYBOARD, points: [{ x: pen.x, y: pen.y }] };
    strokes.push(current.points);
    paint();
    showPen();
    penState.textContent = "Pen down: the arrow keys draw. Space or Enter lifts it.";
    schedule();
  }

  function liftPen(predict = true) {
    current = null;
    showPen();
    penState.textContent = "Pen up: the arrow keys move it without drawing.";
    if (predict) predictNow();
  }

  pad.addEventListener("keydown", (event) => {
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    const move = MOVES[event.key];
    const toggle = event.key === " " || event.key === "Enter";
    if (!move && !toggle) return;
    event.preventDefault(); // no page scrolling while drawing
    event.stopPropagation();
    frame.classList.add("keys"); // show the pen even if focus came from a click
    if (current && current.id !== KEYBOARD) return; // a pointer is drawing
    if (toggle) {
      if (current) liftPen();
      else lowerPen();
      return;
    }
    const step = event.shiftKey ? BIG_STEP : STEP;
    movePenTo({ x: pen.x + move[0] * step, y: pen.y + move[1] * step });
    if (current) {
      current.points.push({ x: pen.x, y: pen.y });
      paint();
      schedule();
    }
  });
  pad.addEventListener("blur", () => {
    if (current && current.id === KEYBOARD) liftPen();
    frame.classList.remove("keys");
  });

  function undo() {
    if (current && current.id === KEYBOARD) liftPen(false);
    if (current || strokes.length === 0) return;
    strokes.pop();
    paint();
    predictNow();
  }

  function clear() {
    if (current && current.id === KEYBOARD) liftPen(false);
    if (current) return;
    strokes.length = 0;
    paint();
    predictNow();
  }

  undoButton.addEventListener("click", undo);
  clearButton.addEventListener("click", clear);
  uploadButton.addEventListener("click", () => photo.click());

  document.addEventListener("keydown", (event) => {
    if (event.altKey || event.target instanceof HTMLInputElement) return;
    const key = event.key.toLowerCase();
    if ((event.ctrlKey || event.metaKey) && key === "z") {
      event.preventDefault();
      undo();
    } else if (event.ctrlKey || event.metaKey) {
      return;
    } else if (key === "u") {
      undo();
    } else if (key === "c" || key === "escape") {
      clear();
    } else if (key === "o") {
      photo.click();
    }
  });

  // ------------------------------------------------------------------------ predicting

  function schedule() {
    if (timer === null) timer = setTimeout(predictNow, THROTTLE_MS);
  }

  function predictNow() {
    if (timer !== null) {
      clearTimeout(timer);
      timer = null;
    }
    if (strokes.length === 0) {
      sequence += 1; // a blank pad: forget any answer still on its way
      show(null, "Draw a digit in the box.");
      return;
    }
    if (inFlight) {
      again = true;
      return;
    }
    inFlight = true;
    // Numbered now, not when the PNG is ready: a clear in between must outdate this answer.
    sequence += 1;
    const mine = sequence;
    pad.toBlob((blob) => send(blob, "image/png", null, mine), "image/png");
  }

  async function send(body, type, label, mine) {
    let answer = null;
    let message = null;
    try {
      const response = await fetch(`${API}/predict?include=image,activations`, {
        method: "POST",
        headers: { "Content-Type": type || "application/octet-stream" },
        body,
      });
      const document_ = await response.json();
      if (response.ok) answer = document_;
      else message = document_.error || `the server answered ${response.status}`;
    } catch (error) {
      message = `cannot reach the server (${error.message})`;
    }
    if (label === null) {
      inFlight = false;
      if (again) {
        again = false;
        predictNow();
        return;
      }
    }
    if (mine !== sequence) return;
    if (message !== null) show(null, message);
    else show(answer, label);
  }

  photo.addEventListener("change", () => {
    const file = photo.files && photo.files[0];
    if (!file) return;
    strokes.length = 0;
    paint();
    statusLine.textContent = `Reading ${file.name}...`;
    sequence += 1;
    send(file, file.type, `Read from ${file.name}.`, sequence);
    photo.value = "";
  });

  // -------------------------------------------------------------------------- showing

  function show(answer, note) {
    // A picture may hold several digits: then `digit` is null and `number` is the answer.
    const read = answer !== null && (answer.digit !== null || Boolean(answer.number));
    const several = read && answer.digit === null;
    const text = !read ? "?" : several ? answer.number : String(answer.digit);
    digit.textContent = text;
    document.body.dataset.digit = read ? text : "";
    confidence.textContent = read ? `${(answer.confidence * 100).toFixed(1)}% sure` : "";
    const notes = note ? [note] : [];
    if (answer !== null && !read) notes.push(`No digit: ${answer.reason || answer.error}.`);
    if (several) notes.push(`${answer.digits.length} digits, each read on its own; the first below.`);
    if (read && answer.unsure) notes.push(`Not sure: ${answer.reason}.`);
    digit.classList.toggle("unsure", read && answer.unsure);
    statusLine.textContent = notes.length ? notes.join(" ") : read ? "" : "Draw a digit in the box.";
    const probabilities = read && !several ? answer.probabilities : null;
    barItems.forEach((bar, d) => {
      const p = probabilities ? probabilities[d] : 0;
      bar.fill.style.width = `${(p * 100).toFixed(1)}%`;
      bar.value.textContent = probabilities ? `${(p * 100).toFixed(1)}%` : "";
      bar.item.classList.toggle("top", probabilities !== null && d === answer.digit);
    });
    showSeen(read ? answer.image : null);
    showLayers(read ? answer.activations : null);
  }

  function showSeen(image) {
    const seenCtx = seen.getContext("2d");
    const pixels = seenCtx.createImageData(20, 20);
    for (let row = 0; row < 20; row += 1) {
      for (let col = 0; col < 20; col += 1) {
        const grey = image ? Math.round(image[row][col] * 255) : 0;
        const at = (row * 20 + col) * 4;
        pixels.data[at] = pixels.data[at + 1] = pixels.data[at + 2] = grey;
        pixels.data[at + 3] = 255;
      }
    }
    seenCtx.putImageData(pixels, 0, 0);
  }

  function showLayers(activations) {
    if (!activations) {
      layers.replaceChildren();
      return;
    }
    layersBox.hidden = false;
    const rows = activations.map((layer) => {
      const row = document.createElement("div");
      row.className = "layer";
      const label = document.createElement("div");
      label.className = "label";
      label.textContent = `Layer ${layer.layer}: ${layer.units} units, ${layer.activation}`;
      const units = document.createElement("div");
      units.className = "units";
      const top = Math.max(...layer.values.map(Math.abs), 1e-6);
      layer.values.forEach((value, index) => {
        const unit = document.createElement("span");
        unit.className = "unit";
        // From the page's background (silent) to deep blue (the layer's strongest output).
        const share = Math.abs(value) / top;
        const mix = (low, high) => Math.round(low + (high - low) * share);
        unit.style.background = `rgb(${mix(243, 30)}, ${mix(244, 64)}, ${mix(246, 175)})`;
        unit.title = `unit ${index + 1}: ${value.toFixed(3)}`;
        units.appendChild(unit);
      });
      row.append(label, units);
      return row;
    });
    layers.replaceChildren(...rows);
  }

  // ---------------------------------------------------------------------------- start

  fetch(`${API}/model`)
    .then((response) => response.json())
    .then((card) => {
      const test = card.metrics && card.metrics.test;
      const score = test ? `, ${(test.accuracy * 100).toFixed(1)}% right on its test set` : "";
      document.getElementById("model").textContent = `Model ${card.name}${score}`;
      layersBox.hidden = !card.shows_activations;
    })
    .catch(() => {});

  paint();
  showPen();
  show(null, "Draw a digit in the box.");
})();
