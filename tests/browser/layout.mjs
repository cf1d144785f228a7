// Looks at every given page of a served directory as a reader on a phone (390×844) and on a
// desktop (1280×800) would, in one Debian Chromium (through playwright-core), and prints what it
// found as JSON. Used by tests/it/site_browser.rs (issue 22).
//
//   node layout.mjs --root DIR --pages P1,P2,… --shots DIR [--receipt FILE] [--slow PAGE]
//
// For each page and width, after the page's checks are done: the document's width against the
// window's (a page wider than the screen scrolls sideways), every visible control (link, button,
// field, summary) scrolled into view and the element at its centre (a control something else
// covers cannot be tapped), axe-core's serious and critical violations (axe-core from
// node_modules, injected into the page), and a full-page screenshot. On custody.html, a receipt
// is pasted and the Check button clicked the way a finger would (Playwright refuses a click on a
// covered element), and every release's details are unfolded by clicking their summaries. With
// --slow PAGE, that page's requests to the log are held until the page
// has been read while it waits, then let through: it prints what the rows and the banner said
// while checking, and every text the banner's count took.

import { createRequire } from "node:module";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { serve } from "./serve.mjs";

const args = parseArgs(process.argv.slice(2));
const require = createRequire(join(process.env.NODE_PATH || process.cwd(), "noop.js"));
const { chromium } = require("playwright-core");
const AXE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const VIEWPORTS = [
  { name: "phone", width: 390, height: 844 },
  { name: "desktop", width: 1280, height: 800 },
];

function parseArgs(argv) {
  const out = { pages: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === "--root") out.root = resolve(value());
    else if (a === "--pages") out.pages = value().split(",").filter(Boolean);
    else if (a === "--shots") out.shots = resolve(value());
    else if (a === "--receipt") out.receipt = readFileSync(value(), "utf8");
    else if (a === "--slow") out.slow = value();
    else throw new Error(`unknown argument ${a}`);
  }
  if (!out.root || out.pages.length === 0 || !out.shots) throw new Error("--root, --pages and --shots are required");
  return out;
}


// In the page: every visible control, scrolled into view, and whether the element at its centre
// is the control or inside it. A control off screen after scrolling (the skip link) is focused
// first, as a keyboard user would reach it.
async function coveredControls(page) {
  const count = await page.evaluate(() => {
    window.__controls = Array.from(document.querySelectorAll("a[href], button, input, textarea, select, summary")).filter(
      (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== "hidden",
    );
    return window.__controls.length;
  });
  const covered = [];
  for (let n = 0; n < count; n++) {
    const seen = await page.evaluate((n) => {
      const el = window.__controls[n];
      const centre = () => {
        el.scrollIntoView({ block: "center", inline: "center" });
        const r = el.getClientRects()[0];
        return { x: r.left + r.width / 2, y: r.top + r.height / 2 };
      };
      let at = centre();
      const outside = (p) => p.x < 0 || p.y < 0 || p.x >= innerWidth || p.y >= innerHeight;
      if (outside(at)) {
        el.focus();
        at = centre();
      }
      const hit = outside(at) ? null : document.elementFromPoint(at.x, at.y);
      const ok = hit !== null && (hit === el || el.contains(hit));
      const name = (e) =>
        e ? `<${e.tagName.toLowerCase()}${e.id ? "#" + e.id : ""}${e.className && typeof e.className === "string" ? "." + e.className.split(" ").join(".") : ""}> ${JSON.stringify((e.textContent || "").trim().slice(0, 40))}` : "nothing (off screen)";
      if (document.activeElement === el) el.blur();
      return ok ? null : { control: name(el), at: name(hit) };
    }, n);
    if (seen) covered.push(seen);
  }
  return covered;
}

async function axeViolations(page) {
  if (!(await page.evaluate(() => typeof window.axe !== "undefined"))) await page.addScriptTag({ content: AXE });
  return page.evaluate(async () => {
    const result = await window.axe.run(document, { resultTypes: ["violations"] });
    return result.violations
      .filter((v) => v.impact === "serious" || v.impact === "critical")
      .map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 5).map((n) => `${n.target.join(" ")}: ${n.failureSummary}`) }));
  });
}

async function look(page, base, path, viewport) {
  await page.setViewportSize({ width: viewport.width, height: viewport.height });
  await page.goto(base + path, { waitUntil: "load", timeout: 120000 });
  await page.waitForSelector("html[data-glassbox=done]", { state: "attached", timeout: 120000 }).catch(() => {});
  let receipt = null;
  if (path === "custody.html" && args.receipt !== undefined) {
    await page.fill("#gb-receipt", args.receipt);
    // A real click: Playwright refuses it when another element would receive it.
    await page.click("#gb-receipt-check", { timeout: 20000 });
    await page.waitForFunction(() => {
      const a = document.getElementById("gb-receipt-answer");
      return a && !["empty", "checking"].includes(a.dataset.state) && document.documentElement.dataset.glassbox === "done";
    }, null, { timeout: 120000 });
    receipt = await page.$eval("#gb-receipt-answer", (a) => a.dataset.state);
    // Each release's request and approvals, unfolded the way a finger would, so that their
    // tables are measured and checked too.
    for (const summary of await page.$$("details > summary")) await summary.click({ timeout: 20000 });
  }
  const widths = await page.evaluate(() => ({ scrollWidth: document.documentElement.scrollWidth, innerWidth }));
  const covered = await coveredControls(page);
  await page.evaluate(() => window.scrollTo(0, 0));
  const axe = await axeViolations(page);
  const shot = join(args.shots, `${path.replace(/\.html$/, "").replace(/\//g, "-")}-${viewport.name}.png`);
  await page.screenshot({ path: shot, fullPage: true });
  return { page: path, viewport: viewport.name, ...widths, covered, axe, receipt, shot };
}

// The slow page: the log's files are held until the page has been read while it waits.
async function slow(page, base, path) {
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.addInitScript(() => {
    window.__progress = [];
    document.addEventListener("DOMContentLoaded", () => {
      const el = document.getElementById("gb-progress");
      if (!el) return;
      new MutationObserver(() => window.__progress.push(el.textContent)).observe(el, { childList: true, characterData: true, subtree: true });
    });
  });
  let release;
  const held = new Promise((ok) => (release = ok));
  await page.route(/\/log\//, async (route) => {
    await held;
    await route.continue();
  });
  await page.goto(base + path, { waitUntil: "load", timeout: 120000 });
  await page.waitForFunction(() => /^checking 0 of \d+/.test(document.getElementById("gb-progress")?.textContent || ""), null, { timeout: 120000 });
  const read = () =>
    page.evaluate(() => ({
      rows: Array.from(document.querySelectorAll("tr[data-statement] td.gb-status"), (td) => td.innerText.trim()),
      banner: document.querySelector(".gb-banner-status").innerText.trim(),
      progress: document.getElementById("gb-progress").innerText.trim(),
      done: document.documentElement.dataset.glassbox || null,
    }));
  const waiting = await read();
  release();
  await page.waitForSelector("html[data-glassbox=done]", { state: "attached", timeout: 120000 });
  const finished = await read();
  const progress = await page.evaluate(() => window.__progress);
  await page.unrouteAll({ behavior: "ignoreErrors" });
  return { page: path, waiting, finished, progress };
}

mkdirSync(args.shots, { recursive: true });
const { server } = await serve(args.root, true);
const base = `http://127.0.0.1:${server.address().port}/`;
const profile = mkdtempSync(join(tmpdir(), "glassbox-chromium-"));
let context;
const result = { pages: [], slow: null, console: [] };
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium",
    viewport: { width: 1280, height: 800 },
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const page = await context.newPage();
  page.on("pageerror", (e) => result.console.push(`pageerror: ${e.message}`));
  for (const path of args.pages) {
    for (const viewport of VIEWPORTS) result.pages.push(await look(page, base, path, viewport));
  }
  if (args.slow) {
    const fresh = await context.newPage();
    result.slow = await slow(fresh, base, args.slow);
  }
} finally {
  if (context) await context.close();
  server.closeAllConnections();
  await new Promise((ok) => server.close(ok));
  rmSync(profile, { recursive: true, force: true });
}
process.stdout.write(JSON.stringify(result) + "\n");
