// Replays the golden traces in this browser (golden.html) and publishes them for the tests.
const worker = new Worker("./worker.js", { type: "module" });
const traces = [];
let backend = null;
worker.onmessage = (event) => {
  const msg = event.data;
  if (msg.type === "backend") {
    backend = Object.assign({ error: msg.error ?? null }, msg.backend);
    document.getElementById("backend").textContent = `Backend: ${backend.description}${backend.error ? ` (${backend.error})` : ""}`;
    worker.postMessage({ type: "golden" });
  } else if (msg.type === "trace") {
    traces.push(msg.trace);
    const li = document.createElement("li");
    li.textContent = `${msg.trace.space} ${msg.trace.order}: ${msg.trace.train_loss.length} steps in ${msg.ms.toFixed(0)} ms`;
    document.getElementById("list").appendChild(li);
  } else if (msg.type === "traces_done" || msg.type === "error") {
    document.getElementById("result").textContent = JSON.stringify({ reason: msg.type === "error" ? `error: ${msg.message}` : "finished", backend, traces });
    document.title = msg.type === "error" ? "rdarts: error" : "rdarts: finished";
  }
};
worker.postMessage({ type: "backend", choice: new URLSearchParams(location.search).get("backend") || "auto" });
