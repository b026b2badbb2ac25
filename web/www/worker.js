// Runs the search off the page's main thread: the page never waits for a step. Messages in:
// {type: "backend", choice}, {type: "reset", settings}, {type: "start"}, {type: "pause"},
// {type: "speed", delay}, {type: "golden"}, {type: "panic", message} (tests: a Rust panic on purpose).
// Messages out: {type: "backend"|"ready"|"update"|"paused"|"finished"|"error", ...}.
// Every call into the search returns a promise (WebGPU's reads are asynchronous) and is awaited
// before the next.
import init, { WasmDemo, constructor_runs, golden_cases, golden_trace, raise_panic, select_backend, take_panic } from "./pkg/rdarts_web.js";

let demo = null;
let running = false;
let delay = 0;
let stopAfter = Infinity; // advances before pausing on its own (tests)
let advances = 0;
let looping = false; // a loop() is between awaits
let ready = init();

function post(type, extra) {
  postMessage(Object.assign({ type }, extra));
}

// What went wrong, readably: a Rust panic reaches JavaScript as "unreachable executed", so the
// message the panic hook recorded is asked for first.
function describe(e) {
  const panic = take_panic();
  if (panic) return `rdarts stopped on an internal error (please report it; reload the page to start again): ${panic}`;
  return String(e && e.message || e);
}

async function reset(settings) {
  await ready;
  running = false;
  if (demo) demo.free();
  demo = null;
  advances = 0;
  try {
    demo = new WasmDemo(JSON.stringify(settings));
    post("ready", { state: JSON.parse(await demo.state()) });
  } catch (e) {
    post("error", { message: describe(e) });
  }
}

async function loop() {
  if (!running || !demo || looping) return;
  looping = true;
  const current = demo;
  const t0 = performance.now();
  let update, state;
  try {
    update = JSON.parse(await current.advance());
    state = JSON.parse(await current.state());
  } catch (e) {
    looping = false;
    if (current !== demo) return; // reset while this step ran
    running = false;
    post("error", { message: describe(e) });
    return;
  }
  looping = false;
  if (current !== demo) return;
  const ms = performance.now() - t0;
  advances += 1;
  post("update", { update, state, ms, advances, constructor_runs: constructor_runs() });
  if (demo.finished()) {
    running = false;
    post("finished", { advances });
  } else if (advances >= stopAfter) {
    running = false;
    post("paused", { advances });
  } else {
    setTimeout(loop, delay);
  }
}

onmessage = async (event) => {
  const msg = event.data;
  if (msg.type === "backend") {
    // Once per page, before the first reset: WebGPU can be set up only once.
    ready = ready.then(() => select_backend(msg.choice));
    try {
      post("backend", { backend: JSON.parse(await ready) });
    } catch (e) {
      post("backend", { backend: { kind: "cpu", description: "" }, error: String(e && e.message || e) });
      ready = Promise.resolve();
    }
  } else if (msg.type === "reset") {
    await reset(msg.settings);
  } else if (msg.type === "start") {
    await ready;
    if (msg.stopAfter !== undefined) stopAfter = msg.stopAfter;
    if (!running) { running = true; loop(); }
  } else if (msg.type === "pause") {
    running = false;
    post("paused", { advances });
  } else if (msg.type === "speed") {
    delay = msg.delay;
  } else if (msg.type === "panic") {
    // The end-to-end test of the path above (drive.mjs).
    await ready;
    running = false;
    try {
      raise_panic(msg.message);
    } catch (e) {
      post("error", { message: describe(e) });
    }
  } else if (msg.type === "golden") {
    // The cross-backend golden traces, replayed in this browser (golden.html).
    await ready;
    try {
      for (let i = 0; i < golden_cases(); i++) {
        const t0 = performance.now();
        post("trace", { trace: JSON.parse(await golden_trace(i)), ms: performance.now() - t0 });
      }
      post("traces_done", {});
    } catch (e) {
      post("error", { message: describe(e) });
    }
  }
};
