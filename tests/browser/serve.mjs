// A static file server confined to a directory, for the Chromium tests (visit.mjs, layout.mjs):
// only regular files under the root, with content types, and optionally one `bytes=a-b` range
// per request; it counts what it served.

import { createServer } from "node:http";
import { readFileSync, statSync } from "node:fs";
import { join, normalize, sep } from "node:path";

const TYPES = { ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".css": "text/css", ".json": "application/json" };

// A static file server confined to `root`; with `range`, honours one `bytes=a-b` range.
export function serve(root, range) {
  const stats = { bytes: 0, requests: [] };
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, "http://x").pathname);
    const file = normalize(join(root, path));
    let body;
    try {
      if (!(file === root || file.startsWith(root + sep)) || !statSync(file).isFile()) throw new Error("not a file");
      body = readFileSync(file);
    } catch {
      stats.requests.push({ path, status: 404 });
      res.writeHead(404).end();
      return;
    }
    const dot = file.lastIndexOf(".");
    const type = TYPES[dot > file.lastIndexOf(sep) ? file.slice(dot) : ""] || "application/octet-stream";
    const headers = { "Content-Type": type, "Cache-Control": "no-cache" };
    let status = 200;
    const m = range && /^bytes=(\d+)-(\d+)$/.exec(req.headers.range || "");
    if (m && Number(m[1]) <= Number(m[2]) && Number(m[1]) < body.length) {
      const end = Math.min(Number(m[2]), body.length - 1);
      headers["Content-Range"] = `bytes ${m[1]}-${end}/${body.length}`;
      body = body.subarray(Number(m[1]), end + 1);
      status = 206;
    }
    if (range) headers["Accept-Ranges"] = "bytes";
    stats.bytes += body.length;
    stats.requests.push({ path, status, bytes: body.length, range: req.headers.range || null });
    res.writeHead(status, headers).end(body);
  });
  return new Promise((ok) => server.listen(0, "127.0.0.1", () => ok({ server, stats })));
}
