// Opens a page of the demo in Debian's headless Chromium (never a downloaded browser), waits until
// the page publishes its result (its title turns "rdarts: …"), and prints the result record as one
// JSON line on stdout. For the demo page (index.html) it also takes a screenshot mid-search, after
// a few steps.
//
//   node drive.mjs URL SCREENSHOT.png|- webgpu|no-webgpu
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
  let shotAt = null;
  if (screenshot !== "-") {
    // Mid-search: a few steps done, more to come.
    await page.waitForFunction(() => window.rdarts && window.rdarts.record.updates.length >= 4, null, { timeout: 300_000 });
    await page.screenshot({ path: screenshot, fullPage: true });
    shotAt = await page.evaluate(() => window.rdarts.record.updates.length);
  }
  await page.waitForFunction(() => document.title.startsWith("rdarts:"), null, { timeout: 600_000 });
  const result = JSON.parse(await page.locator("#result").textContent());
  result.screenshot_after_updates = shotAt;
  result.errors = errors;
  console.log(JSON.stringify(result));
} finally {
  await browser.close();
}
