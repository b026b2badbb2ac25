// Opens a page of the demo in Debian's headless Chromium (never a downloaded browser), waits until
// the page publishes its result (its title turns "rdarts: …"), and prints the result record as one
// JSON line on stdout. For the demo page (index.html) it also takes a screenshot mid-search, after
// a few steps.
//
//   node drive.mjs URL SCREENSHOT.png|- webgpu|no-webgpu
//   node drive.mjs URL controls no-webgpu    (clicks through the controls; prints what it saw)
import { chromium } from "playwright-core";

const [url, screenshot, gpu] = process.argv.slice(2);
if (!url || !screenshot || !["webgpu", "no-webgpu"].includes(gpu)) {
  console.error("usage: node drive.mjs URL SCREENSHOT.png|- webgpu|no-webgpu");
  process.exit(2);
}
const args = [
  "--no-sandbox", "--disable-gpu-sandbox", "--disable-background-networking", "--disable-component-update",
  "--disable-sync", "--no-first-run", "--disable-quic",
];
if (gpu === "webgpu") args.push("--enable-unsafe-webgpu");

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", headless: true, args });
const errors = [];
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1100 } });
  page.on("pageerror", (e) => errors.push(`page error: ${e.message}`));
  page.on("console", (m) => { if (m.type() === "error") errors.push(`console: ${m.text()}`); });
  page.on("worker", (w) => w.on("console", (m) => { if (m.type() === "error") errors.push(`worker console: ${m.text()}`); }));
  await page.goto(url);
  if (screenshot === "controls") {
    // No process.exit here: it would skip the `finally` below, and a browser not closed leaves its
    // singleton folder (org.chromium.Chromium.*) in the temp directory.
    console.log(JSON.stringify(Object.assign(await controls(page), { errors })));
  } else {
    console.log(JSON.stringify(await search(page)));
  }
} finally {
  await browser.close();
}

// The demo's run (or the golden page's replay) to its end: the page's result record, with a
// screenshot mid-search when one is asked for.
async function search(page) {
  let shotAt = null;
  if (screenshot !== "-") {
    // Mid-search: a few steps done (4, or one short of a shorter run's ?steps=), more to come.
    const steps = Number(new URL(url).searchParams.get("steps") || 5);
    const after = Math.max(1, Math.min(4, steps - 1));
    await page.waitForFunction((n) => window.rdarts && window.rdarts.record.updates.length >= n, after, { timeout: 600_000 });
    await page.screenshot({ path: screenshot, fullPage: true });
    shotAt = await page.evaluate(() => window.rdarts.record.updates.length);
  }
  await page.waitForFunction(() => document.title.startsWith("rdarts:"), null, { timeout: 600_000 });
  const result = JSON.parse(await page.locator("#result").textContent());
  result.screenshot_after_updates = shotAt;
  result.errors = errors;
  return result;
}

// Start, Pause, a control change (which resets), Start again, the speed slider: what a student does.
async function controls(page) {
  const updates = () => page.evaluate(() => window.rdarts.record.updates.length);
  const seen = {};
  await page.waitForFunction(() => document.querySelector("#status").textContent.startsWith("Ready"), null, { timeout: 120_000 });
  seen.ready_ops_per_edge = await page.evaluate(() => window.rdarts.latest().ops_normal[0].length);
  seen.backend = await page.evaluate(() => window.rdarts.record.backend);
  await page.click("#start");
  await page.waitForFunction(() => window.rdarts.record.updates.length >= 3, null, { timeout: 120_000 });
  await page.click("#pause");
  await page.waitForFunction(() => document.querySelector("#status").textContent.startsWith("Paused"), null, { timeout: 60_000 });
  seen.paused_at = await updates();
  await page.waitForTimeout(1500);
  seen.after_pause_wait = await updates();
  seen.start_enabled_when_paused = await page.isEnabled("#start");
  await page.selectOption("#space", "s2");
  await page.waitForFunction(() => document.querySelector("#status").textContent.startsWith("Ready"), null, { timeout: 120_000 });
  seen.after_reset_updates = await updates();
  seen.s2_ops_per_edge = await page.evaluate(() => window.rdarts.latest().ops_normal[0]);
  await page.fill("#speed", "200");
  await page.dispatchEvent("#speed", "input");
  seen.speed_label = await page.textContent("#speed_label");
  await page.click("#start");
  await page.waitForFunction(() => window.rdarts.record.updates.length >= 2, null, { timeout: 120_000 });
  seen.s2_updates = await page.evaluate(() => window.rdarts.record.updates.slice(0, 2));
  seen.max_page_work_ms = await page.evaluate(() => window.rdarts.maxPageWork());
  // A Rust panic inside the worker: the page shows its message, not "unreachable executed".
  seen.errors_before_panic = [...errors];
  await page.evaluate(() => window.rdarts.panic("a panic on purpose"));
  await page.waitForFunction(() => document.querySelector("#status").textContent.startsWith("Error"), null, { timeout: 60_000 });
  seen.panic_status = await page.textContent("#status");
  return seen;
}
