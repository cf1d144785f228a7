// Opens one page of a served directory in Debian's Chromium (through playwright-core) and prints
// what the reader sees as JSON. Used by tests/it/site_browser.rs and `cargo xtask bench site`.
//
//   node visit.mjs --root DIR --page PATH [--screenshot FILE] [--no-range] [--no-js]
//                  [--receipt FILE | --receipt-file FILE] [--click SELECTOR] [--timeout MS] [--no-ed25519]
//                  [--no-webcrypto]
//   node visit.mjs --lines
//
// It serves DIR itself on 127.0.0.1 (an ephemeral port; a static server with or without HTTP
// Range support that counts the bytes it sends), opens the page in a fresh browser context (its
// own cookies, storage and cache: nothing of another visit), waits for html[data-glassbox=done] (unless JavaScript is off), optionally pastes a
// receipt and presses the check button (--receipt) or chooses a receipt file in the page's file
// picker (--receipt-file, Playwright's setInputFiles: the page reads the real file), clicks a
// link (--click, then notes which <details> are open), unfolds every <details>, takes a screenshot, and prints {rows, banner, receipt, tables, bytesServed, requests, console}. It closes the context and the
// server itself. --no-ed25519 makes the page's WebCrypto refuse Ed25519 as browsers without it do
// (NotSupportedError); --no-webcrypto removes crypto.subtle, as on a page served over plain HTTP. playwright-core is found through NODE_PATH (GLASSBOX_TEST_NODE_MODULES).
//
// With --lines it launches Chromium once and then reads visits from stdin, one per line (a JSON
// array of the arguments above), answering each with one line on stdout: {"ok": <what a visit
// prints>} or {"error": "<message>"}; it closes the browser and exits when stdin ends. Launching
// Chromium costs about two seconds on two cores, and the test suite makes a hundred visits.

import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { join, resolve } from "node:path";
import { serve } from "./serve.mjs";

const require = createRequire(join(process.env.NODE_PATH || process.cwd(), "noop.js"));
const { chromium } = require("playwright-core");

function parseArgs(argv) {
  const out = { range: true, js: true, timeout: 60000, ed25519: true, webcrypto: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === "--root") out.root = resolve(value());
    else if (a === "--page") out.page = value();
    else if (a === "--screenshot") out.screenshot = value();
    else if (a === "--receipt") out.receipt = readFileSync(value(), "utf8");
    else if (a === "--receipt-file") out.receiptFile = resolve(value());
    else if (a === "--click") out.click = value();
    else if (a === "--timeout") out.timeout = Number(value());
    else if (a === "--no-range") out.range = false;
    else if (a === "--no-js") out.js = false;
    else if (a === "--no-ed25519") out.ed25519 = false;
    else if (a === "--no-webcrypto") out.webcrypto = false;
    else throw new Error(`unknown argument ${a}`);
  }
  if (!out.root || !out.page) throw new Error("--root and --page are required");
  return out;
}


// One visit in a fresh context of `browser`: what the reader sees.
async function visit(browser, args) {
  const { server, stats } = await serve(args.root, args.range);
  let context;
  let result;
  try {
    context = await browser.newContext({ javaScriptEnabled: args.js, viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const console = [];
    page.on("console", (m) => console.push(`${m.type()}: ${m.text()}`));
    page.on("pageerror", (e) => console.push(`pageerror: ${e.message}`));
    if (!args.ed25519) {
      await page.addInitScript(() => {
        const subtle = globalThis.crypto.subtle;
        const name = (alg) => String(typeof alg === "string" ? alg : alg && alg.name).toLowerCase();
        const refuse = () => Promise.reject(new DOMException("Unrecognized name.", "NotSupportedError"));
        for (const method of ["importKey", "verify", "generateKey"]) {
          const original = subtle[method].bind(subtle);
          const at = method === "importKey" ? 2 : 0;
          subtle[method] = (...a) => (name(a[at]) === "ed25519" ? refuse() : original(...a));
        }
      });
    }
    if (!args.webcrypto) {
      await page.addInitScript(() => {
        Object.defineProperty(Crypto.prototype, "subtle", { get: () => undefined, configurable: true });
      });
    }
    const url = `http://127.0.0.1:${server.address().port}/${args.page.replace(/^\//, "")}`;
    await page.goto(url, { waitUntil: "load", timeout: args.timeout });
    if (args.js) await page.waitForSelector("html[data-glassbox=done]", { state: "attached", timeout: args.timeout });
    let receipt = null;
    if (args.receipt !== undefined || args.receiptFile !== undefined) {
      if (args.receiptFile !== undefined) {
        await page.setInputFiles("#gb-receipt-file", args.receiptFile);
      } else {
        await page.fill("#gb-receipt", args.receipt);
        await page.click("#gb-receipt-check");
      }
      await page.waitForFunction(
        () => {
          const a = document.getElementById("gb-receipt-answer");
          return a && !["empty", "checking"].includes(a.dataset.state) && document.documentElement.dataset.glassbox === "done";
        },
        null,
        { timeout: args.timeout },
      );
      receipt = await page.$eval("#gb-receipt-answer", (a) => ({
        pasted: document.getElementById("gb-receipt").value,
        state: a.dataset.state,
        text: a.textContent.trim(),
        rows: Array.from(a.querySelectorAll("tr[data-receipt-statement]"), (tr) => ({
          logIndex: Number(tr.dataset.receiptStatement),
          state: tr.dataset.state || null,
          cells: Array.from(tr.cells, (c) => c.textContent.trim()),
        })),
      }));
    }
    let opened = null;
    if (args.click !== undefined) {
      // The link must change the fragment. The page's own hashchange listener (registered at
      // load) runs before this one, so once this one has run, what the page does on a
      // fragment is done: location.hash alone changes before either runs.
      await page.evaluate(() => {
        window.gbHashChanges = 0;
        addEventListener("hashchange", () => window.gbHashChanges++);
      });
      await page.click(args.click, { timeout: args.timeout });
      await page.waitForFunction(() => window.gbHashChanges > 0, null, { timeout: args.timeout });
      opened = await page.evaluate(() => Array.from(document.querySelectorAll("details[open]"), (d) => d.id));
    }
    // Folded details (the custody page's releases) unfolded, as a reader does to see them: the
    // text of a folded row is not what anyone sees (its innerText is empty).
    await page.evaluate(() => document.querySelectorAll("details").forEach((d) => (d.open = true)));
    if (args.screenshot) await page.screenshot({ path: args.screenshot, fullPage: true });
    const seen = await page.evaluate(() => ({
      done: document.documentElement.dataset.glassbox || null,
      rows: Array.from(document.querySelectorAll("tr[data-statement]"), (tr) => ({
        statement: tr.dataset.statement,
        part: tr.dataset.part || null,
        state: tr.dataset.state || null,
        // What the reader sees (innerText): the server writes a "checking…" and a JavaScript-off
        // text, and the page's style shows one.
        status: Array.from(tr.querySelectorAll("td.gb-status"), (td) => td.innerText.trim()).join(" | "),
      })),
      banner: document.getElementById("gb-banner")
        ? { state: document.getElementById("gb-banner").dataset.state || null, text: document.getElementById("gb-banner").textContent.trim() }
        : null,
      tables: Array.from(document.querySelectorAll("table"), (t) =>
        Array.from(t.rows, (r) => Array.from(r.cells, (c) => c.innerText.trim())),
      ),
    }));
    result = { ...seen, receipt, opened, console };
  } finally {
    if (context) await context.close();
    server.closeAllConnections();
    await new Promise((ok) => server.close(ok));
  }
  result.bytesServed = stats.bytes;
  result.requests = stats.requests;
  return result;
}

// Debian's Chromium, headless; playwright gives it a temporary profile of its own.
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
try {
  if (process.argv[2] === "--lines") {
    const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
    for await (const line of lines) {
      let answer;
      try {
        answer = { ok: await visit(browser, parseArgs(JSON.parse(line))) };
      } catch (e) {
        answer = { error: String((e && e.stack) || e) };
      }
      process.stdout.write(JSON.stringify(answer) + "\n");
    }
  } else {
    process.stdout.write(JSON.stringify(await visit(browser, parseArgs(process.argv.slice(2)))) + "\n");
  }
} finally {
  await browser.close();
}
