// The page: controls, the cell graphs, the charts. The search itself runs in worker.js.

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";
const params = new URLSearchParams(location.search);

// Op colours, as in the native report's plots.
const COLOURS = {
  none: "#bbbbbb", max_pool_3x3: "#1f77b4", avg_pool_3x3: "#17becf", skip_connect: "#d62728",
  sep_conv_3x3: "#2ca02c", sep_conv_5x5: "#98df8a", dil_conv_3x3: "#9467bd", dil_conv_5x5: "#c5b0d5",
  noise: "#ff7f0e",
};
const colour = (op) => COLOURS[op] || "#444";

// ---------------------------------------------------------------- responsiveness
// The longest gap between two 10 ms ticks while searching: everything that held up the main thread,
// the page's own work and whatever else the machine did (reported, for information).
let lastTick = performance.now();
let maxBlockMs = 0;
let ticking = false;
setInterval(() => {
  const now = performance.now();
  if (ticking) maxBlockMs = Math.max(maxBlockMs, now - lastTick - 10);
  lastTick = now;
}, 10);

// ---------------------------------------------------------------- backend line
// What the browser offers, seen from the page (the worker sets up its own WebGPU device).
async function probeWebGPU() {
  let gpu = "this browser offers no WebGPU (navigator.gpu is missing)";
  let webgpu = false;
  if (navigator.gpu) {
    try {
      const adapter = await navigator.gpu.requestAdapter();
      if (adapter) {
        webgpu = true;
        const info = adapter.info || {};
        const name = [info.vendor, info.architecture, info.description].filter(Boolean).join(" ") || "unnamed adapter";
        gpu = `this browser offers WebGPU (${name}${adapter.isFallbackAdapter || info.isFallbackAdapter ? ", a software fallback" : ""})`;
      } else {
        gpu = "this browser has navigator.gpu but gave no WebGPU adapter";
      }
    } catch (e) {
      gpu = `WebGPU failed to start (${e.message})`;
    }
  }
  return { webgpu, gpu };
}

// The backend line: where the worker computes, and why there. `chosen` is the worker's answer
// to {type: "backend"}: {kind: "wgpu"|"cpu", description}.
function describeBackend(probe, choice, chosen, error) {
  const offer = probe.gpu[0].toUpperCase() + probe.gpu.slice(1);
  let line;
  if (chosen.kind === "wgpu") {
    const kernels = chosen.wgsl_kernels ? " with rdarts' own WGSL kernels for the mixed operations" : "";
    line = `Backend: WebGPU (${chosen.description.replace(/^WebGPU: /, "")}) — Burn's wgpu backend${kernels}, driven from a Web Worker. ${offer}.`;
  } else {
    const software = chosen.description.includes("software fallback");
    const why = error ? `WebGPU could not be used: ${error}`
      : choice === "cpu" ? "the page was opened with ?backend=cpu"
      : software ? `${probe.gpu}, which computes on the CPU far more slowly than this backend (open the page with ?backend=wgpu to use it anyway)`
      : probe.webgpu ? `the worker got no WebGPU device (${chosen.description.replace(/^.*— /, "")})`
      : probe.gpu;
    line = `Backend: CPU — Burn's flex backend compiled to WebAssembly, in a Web Worker, because ${why}.`;
  }
  $("backend").textContent = line;
  return { backend: chosen.kind, webgpu: probe.webgpu, wgsl_kernels: chosen.wgsl_kernels, choice, description: line };
}

// ---------------------------------------------------------------- drawing helpers
function el(name, attrs, parent) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (parent) parent.appendChild(e);
  return e;
}

// A cell: inputs c_{k-2}, c_{k-1}, the intermediate nodes, and the output, left to right; every
// edge drawn once per candidate op as an arc whose width and opacity are the op's weight.
function drawCell(svg, ops, weights, nodes) {
  svg.replaceChildren();
  const states = nodes + 2;
  const x = (i) => 40 + i * (440 / states);
  const y = 170;
  const labels = ["c_{k-2}", "c_{k-1}"].concat([...Array(nodes).keys()].map(String));
  let e = 0;
  let drawn = 0;
  for (let i = 0; i < nodes; i++) {
    for (let j = 0; j < i + 2; j++, e++) {
      const from = x(j), to = x(i + 2);
      const row = weights[e] || [];
      const k = row.length;
      row.forEach((w, kk) => {
        const op = ops[e][kk];
        if (op === "none") return;
        const lift = 28 + (to - from) * 0.32 + (kk - (k - 1) / 2) * 7;
        el("path", {
          d: `M ${from} ${y} Q ${(from + to) / 2} ${y - 2 * lift} ${to} ${y}`,
          fill: "none", stroke: colour(op), "stroke-width": (0.6 + 7 * w).toFixed(2),
          "stroke-opacity": (0.12 + 0.88 * w).toFixed(3), class: "op-edge",
        }, svg).appendChild(el("title", {})).textContent = `${labels[j]} → ${labels[i + 2]}: ${op} ${(100 * w).toFixed(1)}%`;
        drawn++;
      });
    }
  }
  const out = 495;
  for (let i = 0; i < nodes; i++) {
    el("line", { x1: x(i + 2), y1: y, x2: out, y2: y + 30, stroke: "#999", "stroke-dasharray": "3 3" }, svg);
  }
  labels.forEach((l, i) => {
    el("circle", { cx: x(i), cy: y, r: 13, fill: i < 2 ? "#e8f0fe" : "#fff3d6", stroke: "#555" }, svg);
    el("text", { x: x(i), y: y + 4, "text-anchor": "middle", "font-size": 10 }, svg).textContent = i < 2 ? (i === 0 ? "k−2" : "k−1") : l;
  });
  el("circle", { cx: out, cy: y + 30, r: 12, fill: "#e6f4ea", stroke: "#555" }, svg);
  el("text", { x: out, y: y + 34, "text-anchor": "middle", "font-size": 10 }, svg).textContent = "c_k";
  return drawn;
}

// A line chart of several series [{label, colour, points: [[x, y]]}].
function drawChart(svg, series, opts) {
  svg.replaceChildren();
  const W = 420, H = 220, L = 46, R = 10, T = 12, B = 30;
  const pts = series.flatMap((s) => s.points).filter((p) => Number.isFinite(p[1]));
  const xs = pts.map((p) => p[0]), ys = pts.map((p) => p[1]);
  const x0 = opts.xmin ?? Math.min(0, ...xs), x1 = Math.max(x0 + 1, ...xs, opts.xmax ?? 0);
  let y0 = opts.ymin ?? (ys.length ? Math.min(...ys) : 0), y1 = opts.ymax ?? (ys.length ? Math.max(...ys) : 1);
  if (y1 - y0 < 1e-9) { y0 -= 0.5; y1 += 0.5; }
  const sx = (v) => L + (W - L - R) * (v - x0) / (x1 - x0);
  const sy = (v) => H - B - (H - T - B) * (v - y0) / (y1 - y0);
  el("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: "#888" }, svg);
  el("line", { x1: L, y1: T, x2: L, y2: H - B, stroke: "#888" }, svg);
  for (const v of [y0, (y0 + y1) / 2, y1]) {
    el("text", { x: L - 4, y: sy(v) + 3, "text-anchor": "end", "font-size": 9 }, svg).textContent = opts.fmt ? opts.fmt(v) : v.toPrecision(3);
  }
  el("text", { x: (L + W) / 2, y: H - 6, "text-anchor": "middle", "font-size": 10 }, svg).textContent = opts.xlabel;
  let points = 0;
  series.forEach((s, si) => {
    const p = s.points.filter((q) => Number.isFinite(q[1]));
    if (p.length) {
      el("polyline", { points: p.map((q) => `${sx(q[0]).toFixed(1)},${sy(q[1]).toFixed(1)}`).join(" "), fill: "none", stroke: s.colour, "stroke-width": 1.8 }, svg);
      if (s.dots) p.forEach((q) => el("circle", { cx: sx(q[0]), cy: sy(q[1]), r: 2.5, fill: s.colour, class: "chart-point" }, svg));
      points += p.length;
    }
    el("text", { x: L + 8, y: T + 10 + 12 * si, "font-size": 10, fill: s.colour }, svg).textContent = s.label;
  });
  (opts.marks || []).forEach((m) => {
    el("line", { x1: sx(m.x), y1: T, x2: sx(m.x), y2: H - B, stroke: m.colour, "stroke-dasharray": "4 3" }, svg);
    el("text", { x: sx(m.x) + 3, y: H - B - 4, "font-size": 9, fill: m.colour }, svg).textContent = m.label;
  });
  return points;
}

// ---------------------------------------------------------------- state and rendering
const history = { steps: [], epochs: [] };
let latest = null;
let rendered = { normal: 0, reduce: 0, lambda: 0, acc: 0, pf: 0 };
const record = { backend: null, updates: [], call_ms: [] };

// The controls start from the URL's parameters (?space=s2&order=second&…), so a setting can be linked.
for (const id of ["space", "order", "weight_decay", "drop_path"]) if (params.has(id)) $(id).value = params.get(id);
if (params.has("early_stop")) $("early_stop").checked = params.get("early_stop") === "1";

function settings() {
  return {
    space: $("space").value,
    order: $("order").value,
    weight_decay: Number($("weight_decay").value),
    drop_path: Number($("drop_path").value),
    early_stop: $("early_stop").checked,
    seed: Number(params.get("seed") || 2),
    epochs: Number(params.get("epochs") || 12),
  };
}

function render(state) {
  latest = state;
  rendered.normal = drawCell($("normal"), state.ops_normal, state.weights_normal, state.nodes);
  rendered.reduce = drawCell($("reduce"), state.ops_reduce, state.weights_reduce, state.nodes);
  $("genotype").textContent = state.genotype;
  $("param_free").textContent = `${state.parameter_free} of ${2 * state.nodes}`;
  $("es_line").textContent = state.early_stop
    ? `DARTS-ES ${state.finished && settings().early_stop ? "stopped" : "would stop"}: λmax climbed; its answer is the genotype after epoch ${state.early_stop[0] + 1}.`
    : "";
  // Epochs are shown counted from 1, each point at its epoch's end.
  const es = state.early_stop ? [{ x: state.early_stop[0] + 1, colour: "#d62728", label: "ES" }] : [];
  rendered.lambda = drawChart($("chart_lambda"), [
    { label: "λmax", colour: "#9467bd", dots: true, points: state.epochs.map((e) => [e.epoch + 1, e.lambda_max ?? NaN]) },
  ], { xlabel: "epoch", xmax: settings().epochs, marks: es });
  rendered.acc = drawChart($("chart_acc"), [
    { label: "train (running)", colour: "#1f77b4", points: history.steps.map((s) => [s.epoch + (s.step + 1) / s.steps, s.train_acc]) },
    { label: "validation (un-augmented)", colour: "#2ca02c", dots: true, points: state.epochs.map((e) => [e.epoch + 1, e.valid_acc]) },
  ], { xlabel: "epoch", ymin: 0, ymax: 1, xmax: settings().epochs, fmt: (v) => `${Math.round(100 * v)}%` });
  rendered.pf = drawChart($("chart_pf"), [
    { label: "parameter-free ops", colour: "#d62728", dots: true, points: state.epochs.map((e) => [e.epoch + 1, e.parameter_free]) },
  ], { xlabel: "epoch", ymin: 0, ymax: 2 * state.nodes, xmax: settings().epochs, fmt: (v) => v.toFixed(0), marks: es });
}

function status(text) { $("status").textContent = text; }

function legend() {
  $("legend").replaceChildren(...Object.entries(COLOURS).filter(([op]) => op !== "none").map(([op, c]) => {
    const s = document.createElement("span");
    s.style.setProperty("--c", c);
    s.textContent = op;
    return s;
  }));
}

// ---------------------------------------------------------------- the worker
const worker = new Worker("./worker.js", { type: "module" });
let stepsWanted = params.has("steps") ? Number(params.get("steps")) : undefined;

function publish(reason) {
  const result = {
    reason,
    backend: record.backend,
    max_page_work_ms: maxPageWorkMs,
    max_main_thread_block_ms: maxBlockMs,
    max_worker_call_ms: Math.max(0, ...record.call_ms),
    median_worker_call_ms: record.call_ms.slice().sort((a, b) => a - b)[Math.floor(record.call_ms.length / 2)] ?? null,
    updates: record.updates,
    // How often the wasm module's constructors ran: 1, or every call into it re-ran them (tests).
    constructor_runs: record.constructor_runs ?? null,
    state: latest,
    rendered,
    settings: settings(),
  };
  $("result").textContent = JSON.stringify(result);
  document.title = `rdarts: ${reason}`;
}

// The longest the page's own work took for one message from the worker (drawing the cells and
// charts): the page's blocking step.
let maxPageWorkMs = 0;
worker.onmessage = (event) => {
  const t0 = performance.now();
  handle(event.data);
  maxPageWorkMs = Math.max(maxPageWorkMs, performance.now() - t0);
};

function handle(msg) {
  if (msg.type === "backend") {
    record.backend = describeBackend(probe, backendChoice, msg.backend, msg.error);
    reset();
  } else if (msg.type === "ready") {
    history.steps = []; history.epochs = [];
    render(msg.state);
    status("Ready. Press Start.");
    if (params.get("autostart") === "1") start();
  } else if (msg.type === "update") {
    const u = msg.update;
    record.updates.push(u);
    record.call_ms.push(msg.ms);
    record.constructor_runs = msg.constructor_runs;
    if (u.kind === "step") history.steps.push(u);
    render(msg.state);
    const what = u.kind === "step"
      ? `epoch ${u.epoch + 1}, step ${u.step + 1}/${u.steps}: train loss ${u.train_loss.toFixed(3)}, validation loss ${u.arch_loss.toFixed(3)}`
      : u.kind === "epoch" ? `epoch ${u.epoch + 1} done: validation accuracy (un-augmented images) ${(100 * u.valid_acc).toFixed(1)}%${u.lambda_max != null ? `, λmax ${u.lambda_max.toFixed(4)}` : ""}` : "";
    status(`${what} (${msg.ms.toFixed(0)} ms in the worker)`);
  } else if (msg.type === "paused") {
    ticking = false;
    $("start").disabled = false; $("pause").disabled = true;
    status(`Paused after ${msg.advances} steps. ${$("status").textContent}`);
    if (stepsWanted !== undefined) publish("paused");
  } else if (msg.type === "finished") {
    ticking = false;
    $("start").disabled = true; $("pause").disabled = true;
    const why = record.updates.length && latest ? (latest.early_stop && settings().early_stop ? "DARTS-ES stopped the search." : "Search finished.") : "";
    status(why);
    publish("finished");
  } else if (msg.type === "error") {
    ticking = false;
    status(`Error: ${msg.message}`);
    $("start").disabled = false; $("pause").disabled = true;
    publish(`error: ${msg.message}`);
  }
}

function start() {
  ticking = true; lastTick = performance.now();
  $("start").disabled = true; $("pause").disabled = false;
  worker.postMessage({ type: "start", stopAfter: stepsWanted });
}

function reset() {
  ticking = false;
  record.updates = []; record.call_ms = [];
  $("start").disabled = false; $("pause").disabled = true;
  status("Building the network…");
  worker.postMessage({ type: "reset", settings: settings() });
}

$("start").onclick = start;
$("pause").onclick = () => worker.postMessage({ type: "pause" });
$("reset").onclick = reset;
for (const id of ["space", "order", "weight_decay", "drop_path", "early_stop"]) $(id).onchange = reset;
$("speed").oninput = () => {
  const d = Number($("speed").value);
  $("speed_label").textContent = d === 0 ? "full" : `${d} ms pause per step`;
  worker.postMessage({ type: "speed", delay: d });
};

// For tests and the curious: the record of this run.
window.rdarts = {
  record, history, latest: () => latest, maxBlock: () => maxBlockMs, maxPageWork: () => maxPageWorkMs,
  // The end-to-end test's check that a Rust panic reaches this page as a readable error.
  panic: (message) => worker.postMessage({ type: "panic", message }),
};

legend();
// ?backend=cpu keeps the search off WebGPU (auto: WebGPU when the browser offers it).
const backendChoice = params.get("backend") || "auto";
let probe = null;
probeWebGPU().then((p) => {
  probe = p;
  status("Setting up the backend…");
  worker.postMessage({ type: "backend", choice: backendChoice });
});
