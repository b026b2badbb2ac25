// Runs the search off the page's main thread: the page never waits for a step. Messages in:
// {type: "reset", settings}, {type: "start"}, {type: "pause"}, {type: "speed", delay}, {type: "golden"}.
// Messages out: {type: "ready"|"update"|"paused"|"finished"|"error", ...}.
import init, { WasmDemo, golden_cases, golden_trace } from "./pkg/rdarts_web.js";

let demo = null;
let running = false;
let delay = 0;
let stopAfter = Infinity; // advances before pausing on its own (tests)
let advances = 0;
const ready = init();

function post(type, extra) {
  postMessage(Object.assign({ type }, extra));
}

async function reset(settings) {
  await ready;
  running = false;
  if (demo) demo.free();
  demo = null;
  advances = 0;
  try {
    demo = new WasmDemo(JSON.stringify(settings));
    post("ready", { state: JSON.parse(demo.state()) });
  } catch (e) {
    post("error", { message: String(e && e.message || e) });
  }
}

function loop() {
  if (!running || !demo) return;
  const t0 = performance.now();
  let update;
  try {
    update = JSON.parse(demo.advance());
  } catch (e) {
    running = false;
    post("error", { message: String(e && e.message || e) });
    return;
  }
  const ms = performance.now() - t0;
  advances += 1;
  post("update", { update, state: JSON.parse(demo.state()), ms, advances });
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
  if (msg.type === "reset") {
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
  } else if (msg.type === "golden") {
    // The cross-backend golden traces, replayed in this browser (golden.html).
    await ready;
    try {
      for (let i = 0; i < golden_cases(); i++) {
        const t0 = performance.now();
        post("trace", { trace: JSON.parse(golden_trace(i)), ms: performance.now() - t0 });
      }
      post("traces_done", {});
    } catch (e) {
      post("error", { message: String(e && e.message || e) });
    }
  }
};
