// Checks verify.js's Merkle tree proofs under Node, against a reference RFC 6962 tree written
// here independently (a naive tree hash and the tlog-tiles layout). Used by
// tests/it/site_browser.rs.
//
//   node tree-proofs.mjs PATH/TO/verify.js
//
// For trees of every size up to 40 and of sizes around tile boundaries (255 to 65,537 leaves), the
// consistency proof that verify.js reads from the tiles must accept every true (old size, old
// root) and refuse a wrong old root; a forked history and a flipped byte in a tile the proof
// reads must be refused; every inclusion proof of a sample of leaves must hold. Prints
// {cases, failures} as JSON; the Rust test fails on any failure.

import { createHash } from "node:crypto";
import { pathToFileURL } from "node:url";

const { TiledTree, Failure, base } = await import(pathToFileURL(process.argv[2]).href);

const sha256 = (...parts) => createHash("sha256").update(Buffer.concat(parts)).digest();
const leafHash = (data) => sha256(Buffer.of(0), Buffer.from(data));
const nodeHash = (left, right) => sha256(Buffer.of(1), left, right);

// RFC 6962 section 2.1: MTH of a list of leaf hashes.
function mth(hashes) {
  if (hashes.length === 1) return hashes[0];
  let k = 1;
  while (k * 2 < hashes.length) k *= 2;
  return nodeHash(mth(hashes.slice(0, k)), mth(hashes.slice(k)));
}

// tlog-tiles: tile/<L>/<N>[.p/<W>] holds the hashes of the complete nodes at height 8·L.
function tileName(level, index, width) {
  let digits = String(index);
  while (digits.length % 3) digits = "0" + digits;
  const groups = digits.match(/.../g);
  const name = groups.map((g, i) => (i < groups.length - 1 ? "x" + g : g)).join("/");
  return `tile/${level}/${name}${width < 256 ? `.p/${width}` : ""}`;
}

function tilesOf(leaves) {
  const tiles = new Map();
  let nodes = leaves;
  for (let level = 0; nodes.length > 0; level++) {
    for (let t = 0; t * 256 < nodes.length; t++) {
      const part = nodes.slice(t * 256, t * 256 + 256);
      tiles.set(tileName(level, t, part.length), Buffer.concat(part));
    }
    const up = [];
    for (let i = 0; (i + 1) * 256 <= nodes.length; i++) up.push(mth(nodes.slice(i * 256, i * 256 + 256)));
    nodes = up;
  }
  return tiles;
}

// Each tree is served under its own URL, so that verify.js's per-page fetch cache never mixes
// two trees' tiles.
const served = new Map(); // URL -> bytes
let trees = 0;
globalThis.fetch = async (url) => {
  const bytes = served.get(String(url));
  return bytes ? new Response(bytes, { status: 200 }) : new Response(null, { status: 404 });
};
function serve(tiles) {
  const prefix = `http://log.test/${trees++}/`;
  for (const [path, bytes] of tiles) served.set(prefix + path, bytes);
  return prefix;
}

const leaves = Array.from({ length: 65537 }, (_, i) => leafHash(`leaf ${i}`));
const roots = new Map();
const root = (n) => {
  if (!roots.has(n)) roots.set(n, mth(leaves.slice(0, n)));
  return roots.get(n);
};

let cases = 0;
const failures = [];
// Runs one proof against the tree served at `prefix`; `want` is whether it must hold.
async function expect(what, prefix, n, want, proof) {
  cases++;
  base.log = prefix;
  const tree = new TiledTree(n, root(n));
  try {
    await proof(tree);
    if (!want) failures.push(`${what}: accepted`);
  } catch (e) {
    if (!(e instanceof Failure)) failures.push(`${what}: threw ${e.stack}`);
    else if (want) failures.push(`${what}: refused (${e.message})`);
  }
}
const consistent = (m, oldRoot) => (tree) => tree.proveConsistency(m, oldRoot);

for (let n = 1; n <= 40; n++) {
  const prefix = serve(tilesOf(leaves.slice(0, n)));
  for (let m = 1; m <= n; m++) {
    await expect(`${m} -> ${n}`, prefix, n, true, consistent(m, root(m)));
    await expect(`${m} -> ${n}, wrong old root`, prefix, n, false, consistent(m, root(m === 1 ? 2 : m - 1)));
  }
  for (let i = 0; i < n; i++) {
    await expect(`leaf ${i} in ${n}`, prefix, n, true, (tree) => tree.proveInclusion(i, leaves[i]));
  }
}

const olds = [1, 2, 3, 7, 8, 100, 255, 256, 257, 300, 511, 512, 513, 999, 4096, 65535, 65536];
for (const n of [255, 256, 257, 511, 512, 513, 1000, 65535, 65536, 65537]) {
  const prefix = serve(tilesOf(leaves.slice(0, n)));
  for (const m of olds.filter((m) => m <= n)) {
    await expect(`${m} -> ${n}`, prefix, n, true, consistent(m, root(m)));
    await expect(`${m} -> ${n}, wrong old root`, prefix, n, false, consistent(m, root(m - 1 || 2)));
  }
  for (const i of [0, 1, 255, 256, n - 1]) {
    if (i < n) await expect(`leaf ${i} in ${n}`, prefix, n, true, (tree) => tree.proveInclusion(i, leaves[i]));
  }
}

// Another history signed at a larger size: the first 300 leaves differ.
{
  const other = Array.from({ length: 300 }, (_, i) => leafHash(`other ${i}`));
  const prefix = serve(tilesOf(leaves.slice(0, 600)));
  await expect("a forked history", prefix, 600, false, consistent(300, mth(other)));
}
// A flipped byte in a hash the proof 300 -> 600 reads: MTH(D[0:256]), the first node of the
// level-1 tile, and a leaf hash of the partial level-0 tile, under D[512:600].
for (const [tile, offset] of [
  ["tile/1/000.p/2", 5],
  ["tile/0/002.p/88", 40],
]) {
  const tiles = tilesOf(leaves.slice(0, 600));
  const bytes = Buffer.from(tiles.get(tile));
  bytes[offset] ^= 1;
  tiles.set(tile, bytes);
  await expect(`300 -> 600, ${tile} byte ${offset} flipped`, serve(tiles), 600, false, consistent(300, root(300)));
}

console.log(JSON.stringify({ cases, failures }));
