// glassbox site: in-browser verification (docs/formats.md section 19).
//
// Every page carries its data in <script id="glassbox-data">. This module checks, in the
// reader's browser and against nothing but the verifier key printed on the page:
//   1. the log's checkpoint: a C2SP signed note signed by that key, for the page's origin, that
//      is the one the site was generated from or extends it (an RFC 6962 consistency proof from
//      hash tiles), plus the witnesses' tlog-cosignature/v1 lines;
//   2. for each statement the page shows: its log entry (an HTTP range of an entry bundle), the
//      RFC 6962 inclusion of that entry under the checkpoint's root, recomputed from hash tiles;
//      the envelope (its sha256 is the one the entry names), one DSSE signature by a key the
//      policy trusts, and every claim the page makes about the statement;
//   3. on the custody page, that each release's request and approvals are the ones it names,
//      and a sample receipt, pasted or chosen as a file (released, requested or not requested).
//   4. that every cell of a statement row shows what the verified statement says (its claims,
//      log index, signer and envelope link), or is marked as not checked.
// It fetches only from the site and the log, each tile once per page. Ed25519 is WebCrypto's;
// where the browser lacks it, the site's copy of noble-ed25519 (noble-ed25519.js), and where
// neither can run the page says it checked nothing, accusing nobody.

const STATE_OK = "verified";
const STATE_FAILED = "failed";
const TILE_HEIGHT = 8;
const TILE_WIDTH = 256;
const HASH_SIZE = 32;
const INTAKE_SHARD = 64; // intake batch records per custody/intakes/<N>.json

// A check that failed, with the reason the reader sees after "FAILED: ".
class Failure extends Error {}
const fail = (why) => {
  throw new Failure(why);
};

// ---------------------------------------------------------------------------------------------
// Bytes, encodings, hashes

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8", { fatal: true });

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function equalBytes(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

function fromBase64(text, what) {
  try {
    const raw = atob(text);
    return Uint8Array.from(raw, (c) => c.charCodeAt(0));
  } catch {
    fail(`${what} is not base64`);
  }
}

function toBase64(bytes) {
  return btoa(String.fromCharCode(...bytes));
}

function toHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function fromHex(text, what) {
  if (typeof text !== "string" || !/^([0-9a-f]{2})*$/.test(text)) fail(`${what} is not lowercase hex`);
  return Uint8Array.from(text.match(/../g) || [], (h) => parseInt(h, 16));
}

async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

// RFC 6962: leaf = SHA-256(0x00 || data), node = SHA-256(0x01 || left || right).
const leafHash = (data) => sha256(concat(Uint8Array.of(0), data));
const nodeHash = (left, right) => sha256(concat(Uint8Array.of(1), left, right));

// The RFC 6962 Merkle tree hash of a list of hashes taken as the tree's nodes at one level:
// split at the largest power of two below the count.
async function treeHash(hashes) {
  if (hashes.length === 0) fail("the log's tiles do not cover the checkpoint");
  if (hashes.length === 1) return hashes[0];
  let split = 1;
  while (split * 2 < hashes.length) split *= 2;
  return nodeHash(await treeHash(hashes.slice(0, split)), await treeHash(hashes.slice(split)));
}

// Ed25519: WebCrypto's where the browser has it, else the site's copy of noble-ed25519
// (noble-ed25519.js beside this module, formats.md section 19), loaded only then. A browser that
// can do neither, or a page without WebCrypto at all (plain HTTP), checks nothing and says so:
// that is the browser's limit, not a forgery.

// The browser cannot check this page; the reason is shown as a neutral state, never FAILED.
class CannotCheck extends Error {}

// RFC 8032 section 7.1, TEST 1 (the empty message): how a verifier is proved to work here.
const RFC8032_TEST1 = {
  publicKey: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
  signature:
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
};

let ed25519 = null; // (publicKey, signature, message) => Promise<boolean>, chosen once per page

async function webCryptoVerify(publicKey, signature, message) {
  const key = await crypto.subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"]);
  return crypto.subtle.verify({ name: "Ed25519" }, key, signature, message);
}

// noble's strict branch (zip215: false, RFC 8032 and FIPS 186-5): non-canonical encodings and
// small-order keys are refused, as glassbox's verify_strict refuses them.
// A malformed key or signature (noble throws) verifies nothing.
function nobleVerifier(noble) {
  return (publicKey, signature, message) =>
    noble.verifyAsync(signature, message, publicKey, { zip215: false }).catch(() => false);
}

// Whether `verify` checks RFC 8032's TEST 1 and refuses it with one bit changed.
async function works(verify) {
  try {
    const pub = fromHex(RFC8032_TEST1.publicKey, "a test key");
    const sig = fromHex(RFC8032_TEST1.signature, "a test signature");
    const bad = sig.slice();
    bad[0] ^= 1;
    return (await verify(pub, sig, new Uint8Array(0))) === true && (await verify(pub, bad, new Uint8Array(0))) === false;
  } catch {
    return false;
  }
}

// Chooses the Ed25519 verifier of this page, or throws CannotCheck.
async function chooseEd25519() {
  if (!globalThis.crypto || !globalThis.crypto.subtle) {
    throw new CannotCheck(
      "this browser offers no WebCrypto to this page (a page served over plain HTTP gets none: the site must be served over HTTPS, or from localhost)",
    );
  }
  if (await works(webCryptoVerify)) return webCryptoVerify;
  let noble;
  try {
    noble = await import("./noble-ed25519.js");
  } catch {
    throw new CannotCheck("this browser cannot check Ed25519 signatures, and the site's own verifier (noble-ed25519.js) did not load");
  }
  const verify = nobleVerifier(noble);
  if (await works(verify)) return verify;
  throw new CannotCheck("this browser cannot check Ed25519 signatures");
}

async function ed25519Verify(publicKey, signature, message) {
  try {
    return (await ed25519(publicKey, signature, message)) === true;
  } catch {
    return false; // a malformed key or signature verifies nothing
  }
}

// ---------------------------------------------------------------------------------------------
// Fetching: the site and the log, each URL once per page

const fetched = new Map(); // URL (and range) -> Promise<Uint8Array | null>
const firstRange = new Map(); // URL -> the first range request made of it
const whole = new Map(); // URL -> the whole file, when its server ignored a range
let base = { site: "", log: "" };

function fetchBytes(url, { range = null, noStore = false } = {}) {
  const key = range ? `${url}#${range[0]}-${range[1]}` : url;
  if (!fetched.has(key)) {
    let promise;
    if (!range) {
      promise = get(url, null, noStore);
    } else if (!firstRange.has(url)) {
      promise = get(url, range, noStore);
      firstRange.set(url, promise);
    } else {
      // Later ranges of a file wait for the first: a server that ignored it sent the whole
      // file, which is then sliced instead of fetched again.
      promise = firstRange
        .get(url)
        .catch(() => null)
        .then(() => (whole.has(url) ? slice(whole.get(url), range, url) : get(url, range, noStore)));
    }
    fetched.set(key, promise);
  }
  return fetched.get(key);
}

function slice(bytes, range, url) {
  const part = bytes.slice(range[0], range[1] + 1);
  if (part.length !== range[1] - range[0] + 1) fail(`${url} is shorter than the log says`);
  return part;
}

async function get(url, range, noStore) {
  const headers = range ? { Range: `bytes=${range[0]}-${range[1]}` } : {};
  const reply = await fetch(url, { headers, cache: noStore ? "no-store" : "default" });
  if (reply.status === 404) return null;
  if (!reply.ok) fail(`${url} answered HTTP ${reply.status}`);
  const bytes = new Uint8Array(await reply.arrayBuffer());
  if (!range) return bytes;
  if (reply.status === 200) {
    whole.set(url, bytes); // the server ignores ranges
    return slice(bytes, range, url);
  }
  if (reply.status !== 206 || bytes.length !== range[1] - range[0] + 1) fail(`${url} did not answer the range asked for`);
  return bytes;
}

async function fetchRequired(url, what) {
  const bytes = await fetchBytes(url);
  if (bytes === null) fail(`${what} is missing (${url})`);
  return bytes;
}

async function fetchJson(url, what) {
  const bytes = await fetchBytes(url);
  if (bytes === null) return null;
  try {
    return JSON.parse(utf8Decoder.decode(bytes));
  } catch {
    fail(`${what} is not JSON`);
  }
}

// ---------------------------------------------------------------------------------------------
// Keys and the signed checkpoint (formats.md section 15)

// `<name>+<key hash, 8 hex>+<base64(alg || public key)>`; the key hash is the first four bytes
// of SHA-256(name || "\n" || alg || public key).
async function parseVerifierKey(text, alg) {
  const first = text.indexOf("+");
  const second = text.indexOf("+", first + 1);
  if (first <= 0 || second < 0) fail(`the verifier key ${text} is malformed`);
  const name = text.slice(0, first);
  const hash = fromHex(text.slice(first + 1, second), "a verifier key's hash");
  const key = fromBase64(text.slice(second + 1), "a verifier key");
  if (key.length !== 33 || key[0] !== alg || hash.length !== 4) fail(`the verifier key ${name} is malformed`);
  const expected = (await sha256(concat(utf8.encode(name + "\n"), key))).slice(0, 4);
  if (!equalBytes(expected, hash)) fail(`the verifier key ${name} has a wrong key hash`);
  return { name, hash, publicKey: key.slice(1) };
}

// A signed note: the body (through its final newline), a blank line, and signature lines
// `— <name> <base64(key hash || signature)>`.
function parseNote(text) {
  const split = text.lastIndexOf("\n\n"); // signature lines are never empty
  if (split < 0 || !text.endsWith("\n")) fail("the checkpoint is not a signed note");
  const body = text.slice(0, split + 1);
  const signatures = text
    .slice(split + 2, -1)
    .split("\n")
    .map((line) => {
      const m = /^\u2014 (\S+) (\S+)$/.exec(line);
      if (!m) fail("the checkpoint has a malformed signature line");
      const bytes = fromBase64(m[2], "a checkpoint signature");
      if (bytes.length < 5) fail("the checkpoint has a malformed signature line"); // key id and one byte
      return { name: m[1], hash: bytes.slice(0, 4), bytes: bytes.slice(4) };
    });
  const lines = body.split("\n");
  if (lines.length < 4 || !/^(0|[1-9][0-9]*)$/.test(lines[1])) fail("the checkpoint's body is malformed");
  // Sizes are read as Numbers; past 2^53 they would silently round.
  if (!Number.isSafeInteger(Number(lines[1]))) fail("the checkpoint's size is too large to check here");
  const root = fromBase64(lines[2], "the checkpoint's root");
  if (root.length !== HASH_SIZE) fail("the checkpoint's root is not a SHA-256 hash");
  return { body, signatures, origin: lines[0], size: Number(lines[1]), root };
}

// Fetches and checks the checkpoint; returns {size, root, cosigned: [{name, time}]}.
async function checkCheckpoint(data) {
  const logKey = await parseVerifierKey(data.vkey, 0x01);
  const bytes = await fetchBytes(new URL("checkpoint", base.log).href, { noStore: true });
  if (bytes === null) fail("the log's checkpoint is missing");
  let note;
  try {
    note = parseNote(utf8Decoder.decode(bytes));
  } catch (e) {
    if (e instanceof Failure) throw e;
    fail("the checkpoint is not UTF-8 text");
  }
  const body = utf8.encode(note.body);
  // Lines of unknown keys are ignored; every line naming the log's key must verify, and one must
  // exist (formats.md section 15, "Checkpoint tolerance").
  let signed = false;
  for (const s of note.signatures) {
    if (s.name === logKey.name && equalBytes(s.hash, logKey.hash)) {
      signed = s.bytes.length === 64 && (await ed25519Verify(logKey.publicKey, s.bytes, body));
      if (!signed) break;
    }
  }
  if (!signed) fail(`checkpoint not signed by ${logKey.name}`);
  if (note.origin !== data.origin) fail(`the checkpoint is for ${note.origin}, not ${data.origin}`);
  const generated = data.checkpoint;
  if (note.size < generated.size) fail(`the log shrank: ${note.size} entries, the site showed ${generated.size}`);
  // The log must be the one the site was generated from or extend it, not another history
  // signed by the same key.
  const root = fromBase64(generated.root, "the site's checkpoint root");
  if (root.length !== HASH_SIZE) fail("the site's checkpoint root is not a SHA-256 hash");
  const tree = new TiledTree(note.size, note.root);
  await tree.proveConsistency(generated.size, root);
  const cosigned = [];
  for (const witness of data.witnesses || []) {
    const key = await parseVerifierKey(witness.vkey, 0x04).catch(() => null);
    if (key === null) continue;
    // A witness counts when every line naming its key is a valid cosignature (the latest time).
    let latest = null;
    for (const s of note.signatures) {
      if (s.name !== key.name || !equalBytes(s.hash, key.hash)) continue;
      const time = s.bytes.length === 72 ? new DataView(s.bytes.buffer, s.bytes.byteOffset, 8).getBigUint64(0) : null;
      const message = time === null ? null : concat(utf8.encode(`cosignature/v1\ntime ${time}\n`), body);
      if (time === null || time > 0x7fffffffffffffffn || !(await ed25519Verify(key.publicKey, s.bytes.slice(8), message))) {
        latest = null;
        break;
      }
      if (latest === null || time > latest) latest = time;
    }
    if (latest !== null) cosigned.push({ name: witness.name, time: Number(latest) });
  }
  return { size: note.size, root: note.root, cosigned, tree, extends: note.size > generated.size ? generated.size : null };
}

// ---------------------------------------------------------------------------------------------
// Tiles and inclusion (tlog-tiles, formats.md section 15)

// `<N>` in groups of three digits, all but the last prefixed with `x`; `.p/<W>` when partial.
function bundleName(index, width) {
  let digits = String(index);
  while (digits.length % 3) digits = "0" + digits;
  const groups = digits.match(/.../g);
  const name = groups.map((g, i) => (i < groups.length - 1 ? "x" + g : g)).join("/");
  return `${name}${width < TILE_WIDTH ? `.p/${width}` : ""}`;
}

function tilePath(kind, index, width) {
  return `tile/${kind}/${bundleName(index, width)}`;
}

// The tree of one checkpoint as hash tiles. Nodes at level 8·L are stored in the tiles of
// level L; `group(L, n)` is the hash of the leaves tile (L, n) covers, computed from all the
// hashes of that tile (and of the partial tiles below it on the right edge), so that a changed
// byte anywhere in a tile used changes the result.
class TiledTree {
  constructor(size, root) {
    this.size = BigInt(size);
    this.root = root;
    this.groups = new Map(); // "L/n" -> Promise<hash>
  }

  span(level) {
    return 1n << BigInt(TILE_HEIGHT * level); // leaves under one node at level 8·L
  }

  nodesAt(level) {
    return this.size / this.span(level);
  }

  width(level, index) {
    const left = this.nodesAt(level) - BigInt(index) * BigInt(TILE_WIDTH);
    return Number(left < 0n ? 0n : left > TILE_WIDTH ? BigInt(TILE_WIDTH) : left);
  }

  async tile(level, index) {
    const width = this.width(level, index);
    if (width === 0) return [];
    const url = new URL(tilePath(level, index, width), base.log).href;
    const bytes = await fetchBytes(url);
    if (bytes === null) fail(`the log's hash tile ${tilePath(level, index, width)} is missing`);
    if (bytes.length !== width * HASH_SIZE) fail("a hash tile has the wrong size");
    return Array.from({ length: width }, (_, i) => bytes.slice(i * HASH_SIZE, (i + 1) * HASH_SIZE));
  }

  // Whether group (L, n) has the right edge's partial hash appended: it is the last group of its
  // level and the leaves past its level's whole nodes are not covered by them.
  hasEdge(level, index) {
    const last = this.nodesAt(level) / BigInt(TILE_WIDTH) === BigInt(index);
    return level > 0 && last && this.size % this.span(level) !== 0n;
  }

  // The hash of group (L, n): its tile's hashes, then the edge from the level below.
  group(level, index) {
    const key = `${level}/${index}`;
    if (!this.groups.has(key)) {
      this.groups.set(
        key,
        (async () => {
          const hashes = await this.tile(level, index);
          if (this.hasEdge(level, index)) hashes.push(await this.group(level - 1, this.nodesAt(level)));
          return treeHash(hashes);
        })(),
      );
    }
    return this.groups.get(key);
  }

  // Recomputes the root from the leaf at `index` upwards, checking at each level that the tile
  // holds the hash computed below; fails unless the result is the checkpoint's root.
  async proveInclusion(index, leaf) {
    const i = BigInt(index);
    if (i >= this.size) fail("the entry is not under the checkpoint");
    let hash = leaf;
    for (let level = 0; ; level++) {
      const node = i / this.span(level); // the leaf's ancestor at level 8·L
      const groupIndex = node / BigInt(TILE_WIDTH);
      const hashes = await this.tile(level, groupIndex);
      const slot = Number(node % BigInt(TILE_WIDTH));
      if (slot < hashes.length) {
        if (!equalBytes(hashes[slot], hash)) {
          fail(level === 0 ? "the log's hash tile does not hold this entry" : "inclusion proof does not reach the checkpoint's root");
        }
        if (this.hasEdge(level, groupIndex)) hashes.push(await this.group(level - 1, this.nodesAt(level)));
      } else {
        hashes.push(hash); // the ancestor is the right edge's partial subtree itself
      }
      hash = await treeHash(hashes);
      if (this.span(level + 1) >= this.size) break; // this group covers the whole tree
    }
    if (!equalBytes(hash, this.root)) fail("inclusion proof does not reach the checkpoint's root");
  }

  // The hash of the complete subtree of 2^height leaves that starts at leaf index·2^height: a
  // hash of the tile of level ⌊height/8⌋, or the tree hash of the 2^(height mod 8) hashes of
  // that tile under it. Unauthenticated: only a proof that checks it against a root gives it
  // meaning.
  async subtree(height, index) {
    const below = BigInt(height % TILE_HEIGHT);
    if ((BigInt(index) + 1n) << BigInt(height) > this.size) fail("the log's tiles do not cover the checkpoint");
    const first = BigInt(index) << below; // its leftmost node at level 8·L
    const hashes = await this.tile(Math.floor(height / TILE_HEIGHT), first / BigInt(TILE_WIDTH));
    const slot = Number(first % BigInt(TILE_WIDTH));
    const count = 1 << Number(below);
    if (slot + count > hashes.length) fail("the log's tiles do not cover the checkpoint");
    return treeHash(hashes.slice(slot, slot + count));
  }

  // MTH(D[lo:hi]) for a subtree of RFC 6962's recursion: the complete subtrees that [lo, hi)
  // splits into, largest first, hashed together from the right.
  async rangeHash(lo, hi) {
    const parts = [];
    while (lo < hi) {
      let height = 0n;
      while (lo % (2n << height) === 0n && lo + (2n << height) <= hi) height++;
      parts.push(this.subtree(Number(height), lo >> height));
      lo += 1n << height;
    }
    const hashes = await Promise.all(parts);
    let hash = hashes.pop();
    while (hashes.length) hash = await nodeHash(hashes.pop(), hash);
    return hash;
  }

  // RFC 6962 section 2.1.2, SUBPROOF(m, D[lo:hi], complete): the consistency proof's hashes (as
  // promises), read from this tree's tiles.
  consistencyPath(m, lo, hi, complete) {
    const n = hi - lo;
    if (m === n) return complete ? [] : [this.rangeHash(lo, hi)];
    let k = 1n;
    while (k * 2n < n) k *= 2n;
    if (m <= k) return [...this.consistencyPath(m, lo, lo + k, complete), this.rangeHash(lo + k, hi)];
    return [...this.consistencyPath(m - k, lo + k, hi, false), this.rangeHash(lo, lo + k)];
  }

  // Fails unless the tree of `size` leaves with `root` is a prefix of this one: the consistency
  // proof read from this tree's tiles, verified as RFC 9162 section 2.1.4.2 says against both
  // roots (so no tile is taken on trust).
  async proveConsistency(size, root) {
    const m = BigInt(size);
    const inconsistent = () =>
      fail(`the log's ${this.size} entries do not extend the ${m} the site was generated from (consistency proof fails)`);
    if (m === this.size) {
      if (!equalBytes(root, this.root)) fail("the log's root at the site's size is not the one the site was generated from");
      return;
    }
    if (m === 0n) return; // the empty tree is a prefix of every tree
    if (m > this.size) inconsistent();
    const path = await Promise.all(this.consistencyPath(m, 0n, this.size, true));
    if ((m & (m - 1n)) === 0n) path.unshift(root); // the old tree is one subtree of the new
    let fn = m - 1n;
    let sn = this.size - 1n;
    while (fn & 1n) {
      fn >>= 1n;
      sn >>= 1n;
    }
    let fr = path[0];
    let sr = path[0];
    for (const c of path.slice(1)) {
      if (sn === 0n) inconsistent();
      if (fn & 1n || fn === sn) {
        fr = await nodeHash(c, fr);
        sr = await nodeHash(c, sr);
        while (!(fn & 1n) && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      } else {
        sr = await nodeHash(sr, c);
      }
      fn >>= 1n;
      sn >>= 1n;
    }
    if (sn !== 0n || !equalBytes(fr, root) || !equalBytes(sr, this.root)) inconsistent();
  }
}

// The entry of a statement record: a range of its entry bundle, length-prefixed.
async function readEntry(tree, record) {
  const bundle = BigInt(record.logIndex) / BigInt(TILE_WIDTH);
  const path = tilePath("entries", bundle, tree.width(0, bundle));
  const start = record.entryOffset;
  const bytes = await fetchBytes(new URL(path, base.log).href, { range: [start, start + 2 + record.entryLength - 1] });
  if (bytes === null) fail(`the log's entry bundle ${path} is missing`);
  if (((bytes[0] << 8) | bytes[1]) !== record.entryLength) fail("the entry's length prefix is not the site's");
  return bytes.slice(2);
}

// The envelope line of a statement record: the site's copy when the page links to one, else a
// range of the log's envelope bundle (intake batches and requests get no copy on the site).
async function readEnvelope(tree, record) {
  if (record.envelopeUrl) return fetchRequired(new URL(record.envelopeUrl, base.site).href, "the envelope");
  const bundle = BigInt(record.logIndex) / BigInt(TILE_WIDTH);
  const path = `envelopes/${bundleName(bundle, tree.width(0, bundle))}`;
  const start = record.envelopeOffset;
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(record.envelopeLength)) fail("the site names no envelope");
  const bytes = await fetchBytes(new URL(path, base.log).href, { range: [start, start + record.envelopeLength - 1] });
  if (bytes === null) fail(`the log's envelope bundle ${path} is missing`);
  return bytes;
}

// ---------------------------------------------------------------------------------------------
// Statements: entry, envelope, DSSE signature, claims

// DSSE's pre-authentication encoding; lengths are byte lengths in ASCII decimal.
function pae(type, body) {
  const t = utf8.encode(type);
  return concat(utf8.encode(`DSSEv1 ${t.length} `), t, utf8.encode(` ${body.length} `), body);
}

function shortKey(id) {
  return id.length > 16 ? id.slice(0, 16) + "…" : id;
}

function describe(value) {
  const text = JSON.stringify(value);
  return text === undefined ? "nothing" : text.length > 80 ? text.slice(0, 80) + "…" : text;
}

function deepEqual(a, b) {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && deepEqual(a[k], b[k]));
}

function lookup(payload, path) {
  let at = payload;
  for (const part of path === "" ? [] : path.split(".")) {
    if (at === null || typeof at !== "object" || !Object.hasOwn(at, part)) return undefined;
    at = at[part];
  }
  return at;
}

// Checks one statement record; returns its decoded payload. Throws a Failure.
// A key's id is computed here, not taken from the page: the SHA-256 of the canonical JSON
// {"keytype":"ed25519","keyval":{"public":"<hex>"},"scheme":"ed25519"} (formats.md section 2), so
// that the id a signer cell shows is the id of the key whose signature verified.
async function keyIdOf(publicKey) {
  return toHex(await sha256(utf8.encode(`{"keytype":"ed25519","keyval":{"public":"${toHex(publicKey)}"},"scheme":"ed25519"}`)));
}
const keyIds = new Map(); // public key (base64) -> Promise of its id
async function checkKeyId(key) {
  const publicKey = String(key.publicKey);
  if (!keyIds.has(publicKey)) {
    keyIds.set(publicKey, Promise.resolve().then(() => keyIdOf(fromBase64(publicKey, "a trusted key"))));
  }
  const id = await keyIds.get(publicKey);
  if (id !== key.keyid) fail(`the page names key ${describe(key.keyid)}, but its public key's id is ${shortKey(id)}`);
}

async function checkStatement(record, checkpoint) {
  const tree = checkpoint.tree;
  if (record.logIndex === null || record.logIndex === undefined) fail("this statement is not in the log");
  const entry = await readEntry(tree, record);
  await tree.proveInclusion(record.logIndex, await leafHash(entry));
  let named;
  try {
    named = JSON.parse(utf8Decoder.decode(entry)).envelope;
  } catch {
    fail("the log entry is not JSON");
  }
  if (named !== `sha256:${record.envelope}`) fail("the log entry names another envelope than the site");
  const line = await readEnvelope(tree, record);
  if (toHex(await sha256(line)) !== record.envelope) fail("envelope does not match the log entry");
  let envelope;
  try {
    envelope = JSON.parse(utf8Decoder.decode(line));
  } catch {
    fail("the envelope is not JSON");
  }
  const payload = fromBase64(String(envelope.payload), "the envelope's payload");
  const message = pae(String(envelope.payloadType), payload);
  for (const key of record.keys || []) await checkKeyId(key);
  // Every trusted key with a signature that verifies: the signer cell must name one of them.
  const signers = [];
  const signatures = Array.isArray(envelope.signatures) ? envelope.signatures : [];
  for (const key of record.keys || []) {
    for (const signature of signatures) {
      if (signature.keyid && signature.keyid !== key.keyid) continue;
      const sig = fromBase64(String(signature.sig), "a signature");
      if (await ed25519Verify(fromBase64(key.publicKey, "a trusted key"), sig, message)) {
        signers.push(key);
        break;
      }
    }
  }
  if (signers.length === 0) {
    fail(`no signature by ${(record.keys || []).map((k) => shortKey(k.keyid)).join(" or ") || "a trusted key"} verifies`);
  }
  let statement;
  try {
    statement = JSON.parse(utf8Decoder.decode(payload));
  } catch {
    fail("the statement is not JSON");
  }
  for (const claim of record.claims || []) {
    const actual = lookup(statement, claim.path);
    if (!deepEqual(actual, claim.value)) {
      fail(`the page says ${describe(claim.value)} but the statement says ${describe(actual)} (${claim.path})`);
    }
  }
  return { statement, signers };
}

// ---------------------------------------------------------------------------------------------
// What a row shows (formats.md section 19, "What a row shows"): each cell of a statement row is
// compared with the verified statement, so that the badge covers the text the reader sees. The
// same rules are in src/site/html.rs, which writes the cells.

// A claimed value as a cell shows it: a string as itself, an integer within 2^53 in decimal,
// anything else (absent, null, a list, an object) as "none".
function shown(value) {
  if (typeof value === "string") return value;
  if (typeof value === "number" && Number.isSafeInteger(value)) return String(value);
  return "none";
}

function field(object, name) {
  return object !== null && typeof object === "object" && !Array.isArray(object) && Object.hasOwn(object, name)
    ? object[name]
    : undefined;
}

// A flag: "yes", "no", else "none" (src/site/html.rs, shown_yes_no).
function shownYesNo(value) {
  return value === true ? "yes" : value === false ? "no" : "none";
}

// A list's length in decimal, else "none" (src/site/html.rs, shown_count).
function shownCount(value) {
  return Array.isArray(value) ? String(value.length) : "none";
}

// A review's scope: "full", "delta from <from>", "some paths only", else its kind.
function shownScope(scope) {
  const kind = field(scope, "kind");
  if (kind === "full") return "full";
  if (kind === "delta") return `delta from ${shown(field(scope, "from"))}`;
  if (kind === "paths") return "some paths only";
  return shown(kind);
}

// A review's findings, one line each: "<severity> <path>:<line>: <text>".
function shownFindings(findings) {
  const text = (f, k) => (typeof field(f, k) === "string" ? field(f, k) : "");
  const line = (f) => {
    const n = field(f, "line");
    return Number.isSafeInteger(n) && n >= 0 ? n : 0;
  };
  return (Array.isArray(findings) ? findings : []).map((f) => `${text(f, "severity")} ${text(f, "path")}:${line(f)}: ${text(f, "text")}`);
}

// A trusted signer as the signer cell names it (src/site/model.rs, trusted_signer).
function signerText(key, role) {
  return `${String(key.keyid).slice(0, 16)} (${key.name}), trusted ${role}`;
}

// Checks one cell of a statement row; returns why it is wrong, or null.
function checkCell(cell, record, verified) {
  const text = cell.textContent;
  if (cell.hasAttribute("data-claim")) {
    const path = cell.dataset.claim;
    const value = lookup(verified.statement, path);
    const format = cell.dataset.format || "";
    if (format === "findings") {
      const lines = shownFindings(value);
      const items = Array.from(cell.querySelectorAll("li"), (li) => li.textContent);
      const whole = lines.length === 0 ? "none" : lines.join("");
      if (!deepEqual(items, lines) || text !== whole) {
        return `the page shows the findings ${describe(lines.length ? items : text)} but the statement says ${describe(lines)} (${path})`;
      }
      return null;
    }
    const formats = { "": shown, scope: shownScope, "yes-no": shownYesNo, count: shownCount };
    const expected = Object.hasOwn(formats, format) ? formats[format](value) : null;
    if (expected === null) return `the page shows ${path} in a form this browser does not know`;
    return text === expected ? null : `the page shows ${describe(text)} but the statement says ${describe(expected)} (${path})`;
  }
  if (cell.hasAttribute("data-log-index")) {
    return text === String(record.logIndex) ? null : `the page shows log index ${describe(text)}, but the entry is at ${record.logIndex}`;
  }
  if (cell.hasAttribute("data-signer")) {
    const names = verified.signers.map((k) => signerText(k, record.role));
    return names.includes(text) ? null : `the page shows the signer ${describe(text)}, but the signature that verifies is ${names.join(" or ")}`;
  }
  if (cell.hasAttribute("data-envelope")) {
    const links = cell.querySelectorAll("a");
    const wanted = record.envelopeUrl ? new URL(record.envelopeUrl, base.site).href : null;
    const ok = links.length === 1 && wanted !== null && links[0].href === wanted && text === "envelope";
    return ok ? null : "the page's envelope link is not this statement's envelope";
  }
  return "a cell shows something the browser cannot check and does not say so";
}

const SAMPLE_RELEASE = "https://glassbox.dev/sample-release/v1";
const SAMPLE_REQUEST = "https://glassbox.dev/sample-request/v1";
const SAMPLE_DECISION = "https://glassbox.dev/sample-decision/v1";

// The forms a statement's row may take, by the verified statement's predicate type: for each
// form, the headers of the table it sits in (none for the rebuilds page's one-row tables) and
// what each cell shows (a claim's path and format, the log index, the signer, the envelope
// link, a cell marked unchecked), in order, then the status cell. `#` in a claim's path is a
// list index, the same one throughout the row. The page cannot choose another field of a
// statement, another form, or another table's headers. The release pages are
// src/site/pages.rs, the rebuilds page src/site/rebuilds.rs, the custody page
// src/site/custody/releases.rs.
const SLSA_PROVENANCE = "https://slsa.dev/provenance/v1";
const SLSA_VSA = "https://slsa.dev/verification_summary/v1";
const REVIEW = "https://glassbox.dev/review/v1";
const BUILD_PARAMETERS = "predicate.buildDefinition.externalParameters";
const RESULT = "claim predicate.verificationResult";
// A rebuilds page cell: the result, what the release page says of a mismatch (a link to its
// report, marked unchecked, or the signed report digest), the log index, the key of its
// column, the envelope, and a link to the release page when the key made more verdicts.
const REBUILDS_CELLS = [[], ["unchecked"], ["claim predicate.reproduction.differences.digest.sha256"]].flatMap(
  (mismatch) => [[], ["unchecked"]].map((more) => [RESULT, ...mismatch, "log-index", "signer", "envelope", ...more]),
);
const ROW_FORMS = {
  [SLSA_PROVENANCE]: {
    name: "provenance",
    forms: [
      { headers: ["name", "sha256", "checked in this browser"], cells: ["claim subject.#.name", "claim subject.#.digest.sha256"] },
      {
        headers: ["log index", "source digest", "git commit", "target", "builder key", "raw", "checked in this browser"],
        cells: [
          "log-index",
          `claim ${BUILD_PARAMETERS}.source.digest.sha256`,
          `claim ${BUILD_PARAMETERS}.source.digest.gitCommit`,
          `claim ${BUILD_PARAMETERS}.target`,
          "signer",
          "envelope",
        ],
      },
    ],
  },
  [SLSA_VSA]: {
    name: "rebuild verdict",
    forms: [
      {
        headers: ["rebuilder key", "result", "rebuilt at", "log index", "report (not checked)", "raw", "checked in this browser"],
        cells: ["signer", RESULT, "claim predicate.timeVerified", "log-index", "unchecked", "envelope"],
      },
      ...REBUILDS_CELLS.map((cells) => ({ headers: [], cells })),
    ],
  },
  [REVIEW]: {
    name: "review",
    forms: [
      {
        headers: ["reviewer key", "criteria", "scope", "source", "findings", "log index", "raw", "checked in this browser"],
        cells: [
          "signer",
          "claim predicate.criteria",
          "claim predicate.scope scope",
          "claim subject.0.digest.sha256",
          "claim predicate.findings findings",
          "log-index",
          "envelope",
        ],
      },
    ],
  },
  [SAMPLE_RELEASE]: {
    name: "release",
    forms: [
      {
        headers: ["log index", "request", "break-glass", "approvals", "destination", "recipient", "released at", "gateway key", "raw", "checked in this browser"],
        cells: [
          "log-index",
          "claim predicate.request",
          "claim predicate.breakGlass yes-no",
          "claim predicate.approvals count",
          "claim predicate.destination",
          "claim predicate.recipient",
          "claim predicate.releasedAt",
          "signer",
          "envelope",
        ],
      },
    ],
  },
  [SAMPLE_REQUEST]: {
    name: "request",
    forms: [
      {
        headers: ["log index", "reason", "requester's role", "requester's country", "destination", "requested at", "break-glass", "requester key", "raw", "checked in this browser"],
        cells: [
          "log-index",
          "claim predicate.reason",
          "claim predicate.requester.role",
          "claim predicate.requester.country",
          "claim predicate.destination",
          "claim predicate.requestedAt",
          "claim predicate.breakGlass yes-no",
          "signer",
          "envelope",
        ],
      },
    ],
  },
  [SAMPLE_DECISION]: {
    name: "approval",
    forms: [
      {
        headers: ["log index", "decision", "decided at", "approver key and group", "raw", "checked in this browser"],
        cells: ["log-index", "claim predicate.decision", "claim predicate.decidedAt", "signer", "envelope"],
      },
    ],
  },
};

// What a cell shows, as ROW_FORMS names it. A cell marked unchecked is that, whatever else it
// carries: checkRows does not check it.
function cellKind(cell) {
  if (cell.classList.contains("gb-unverified")) return "unchecked";
  if (cell.hasAttribute("data-claim")) {
    const [claim, format] = [cell.dataset.claim, cell.dataset.format || ""];
    // A space would let a path pass for a path and a format ("predicate.findings findings").
    if (/\s/.test(claim) || /\s/.test(format)) return "a cell nothing checks";
    return `claim ${claim}${format ? ` ${format}` : ""}`;
  }
  for (const kind of ["log-index", "signer", "envelope"]) if (cell.hasAttribute(`data-${kind}`)) return kind;
  return "a cell nothing checks";
}

// Whether a row's cell kinds are a form's, `#` standing for one list index throughout.
function sameCells(kinds, cells) {
  if (kinds.length !== cells.length) return false;
  let index = null;
  return cells.every((pattern, n) => {
    const [head, ...rest] = pattern.split("#");
    if (rest.length === 0) return kinds[n] === pattern;
    const tail = rest.join("#");
    const kind = kinds[n];
    if (!kind.startsWith(head) || !kind.endsWith(tail) || kind.length <= head.length + tail.length) return false;
    const digits = kind.slice(head.length, kind.length - tail.length);
    if (!/^(0|[1-9][0-9]*)$/.test(digits) || (index !== null && digits !== index)) return false;
    index = digits;
    return true;
  });
}

// Whether a cell shows its text as it is: one column and one row, not hidden, no style or
// direction of its own, and inside only the elements the generator writes (a link, code, a
// list of findings), so that what the reader sees is the text verify.js compares.
const PLAIN_INSIDE = { A: ["href"], CODE: [], UL: ["class"], LI: [] };
function plainCell(cell) {
  const own = cell.colSpan === 1 && cell.rowSpan === 1 && !cell.hidden && !cell.hasAttribute("style") && !cell.hasAttribute("dir");
  return (
    own &&
    Array.from(cell.querySelectorAll("*")).every(
      (el) => Object.hasOwn(PLAIN_INSIDE, el.tagName) && Array.from(el.attributes).every((a) => PLAIN_INSIDE[el.tagName].includes(a.name)),
    )
  );
}

// The headers a row's table shows: the texts of its one `thead`'s one row of plain `th` cells,
// with no header cell elsewhere in the table; [] for a table with no `thead` and no `th`; null
// when they cannot be read that plainly (a hidden head, a second head row, a spanning cell).
function tableHeaders(table) {
  const heads = Array.from(table.children).filter((el) => el.tagName === "THEAD");
  if (heads.length === 0) return table.querySelector("th") === null ? [] : null;
  const head = heads[0];
  if (heads.length > 1 || table.hidden || head.hidden || head.rows.length !== 1 || head.rows[0].hidden) return null;
  const cells = Array.from(head.rows[0].cells);
  if (!cells.every((th) => th.tagName === "TH" && th.children.length === 0 && plainCell(th))) return null;
  const stray = Array.from(table.querySelectorAll("th")).some((th) => th.closest("table") === table && th.closest("thead") !== head);
  return stray ? null : cells.map((th) => th.textContent);
}

// Why a row does not have one of its type's forms (cells, then the table's headers), or null.
// A form without headers is the rebuilds page's: a one-row table in a rebuilder's column.
function checkColumns(tr, { name, forms }) {
  const cells = Array.from(tr.cells);
  const status = cells.pop();
  if (!status || status.tagName !== "TD" || !status.classList.contains("gb-status") || tr.querySelectorAll(".gb-status").length !== 1) {
    return `the ${name} row does not end in its one status cell`;
  }
  if (hiddenByMarkup(tr) || !cells.every((c) => c.classList.contains("gb-unverified") || plainCell(c))) {
    return `the ${name} row shows a cell in a way this browser does not compare (hidden, spanning, styled or with other markup)`;
  }
  const kinds = cells.map(cellKind);
  const shaped = forms.filter((f) => sameCells(kinds, f.cells));
  if (shaped.length === 0) return `the page shows other fields than a ${name} row has (${kinds.join(", ")})`;
  const table = tr.closest("table");
  const headers = table && tableHeaders(table);
  if (!headers) return `the ${name} row is in a table whose headers this browser cannot read plainly`;
  const rebuildsCell = rebuildsCellOf(table) !== null && table.rows.length === 1;
  const fits = shaped.some((f) => deepEqual(headers, f.headers) && (f.headers.length > 0 || rebuildsCell));
  if (!fits) return `the ${name} row is in a table of other columns (${headers.join(", ")})`;
  return null;
}

// Checks every row showing `record` against its verified statement: each row's own verdict,
// null when it shows only what the statement says.
function checkRows(rows, record, verified) {
  const type = verified.statement.predicateType;
  // A statement of another type has no row on any page the generator writes.
  const rowType = Object.hasOwn(ROW_FORMS, type) ? ROW_FORMS[type] : null;
  const shownPaths = new Set();
  for (const tr of rows) for (const cell of tr.querySelectorAll("td[data-claim]")) shownPaths.add(cell.dataset.claim);
  // Every claim in the page's data is shown in a checked cell: a claimed cell turned into an
  // unchecked one is caught.
  const hidden = (record.claims || []).find((c) => !shownPaths.has(c.path));
  if (hidden) return rows.map(() => `the page claims ${hidden.path} but shows it in no checked cell`);
  return rows.map((tr) => {
    const columns = rowType ? checkColumns(tr, rowType) : `the page shows a statement of type ${describe(type)}, which no page has`;
    if (columns) return columns;
    for (const cell of tr.cells) {
      if (cell.classList.contains("gb-status") || cell.classList.contains("gb-unverified")) continue;
      const why = checkCell(cell, record, verified);
      if (why) return why;
    }
    return null;
  });
}

// ---------------------------------------------------------------------------------------------
// The custody page's releases (formats.md section 19, "The custody page's releases"): each
// `[data-release-detail]` block shows the request a release names and the approvals it lists.
// Once every row is checked on its own, each verified request or approval row in a block must
// be what its verified release names (a request row: the release's `predicate.request`; an
// approval row: listed in `predicate.approvals`, an approval, of that request), else it fails;
// and every statement the release names must have a row in the block or a `[data-missing]`
// line saying the site cannot show it, else the release's rows fail, as they do when the block's
// heading or its id names another log index. Default-deny: a request or approval row that is
// not in a block whose release verified and whose links were checked fails (a block for an
// unknown or failed release, a second block for one release, a row outside any block).

// A release block's heading (src/site/custody/releases.rs, summary).
const detailHeading = (index) => `The request and approvals of the release at log index ${index}`;

function checkReleaseDetails(results, byId) {
  const rowsOf = (id) => byId.get(id) || [];
  const linked = new Set(); // the rows whose link to their verified release was checked
  const seen = new Set(); // releases with a block already
  for (const block of document.querySelectorAll("[data-release-detail]")) {
    const release = results.get(block.dataset.releaseDetail);
    if (!release || !release.ok || release.statement.predicateType !== SAMPLE_RELEASE) continue;
    if (seen.has(block.dataset.releaseDetail)) continue; // a second block: its rows stay unlinked
    seen.add(block.dataset.releaseDetail);
    const heading = block.querySelector(":scope > summary");
    const headed = heading && heading.textContent === detailHeading(release.record.logIndex);
    if (!headed || block.id !== `release-${release.record.logIndex}`) {
      for (const tr of rowsOf(block.dataset.releaseDetail)) {
        setStatus(tr, STATE_FAILED, `the heading of its details names another release (${describe(heading && heading.textContent)})`);
      }
      continue;
    }
    const request = lookup(release.statement, "predicate.request");
    if (typeof request !== "string") {
      for (const tr of rowsOf(block.dataset.releaseDetail)) setStatus(tr, STATE_FAILED, "the release names no request");
      continue;
    }
    const listed = lookup(release.statement, "predicate.approvals");
    const approvals = Array.isArray(listed) ? listed : [];
    const at = `the release at log index ${release.record.logIndex}`;
    const present = new Set(Array.from(block.querySelectorAll("[data-missing]"), (el) => el.dataset.missing));
    for (const tr of block.querySelectorAll("tr[data-statement]")) {
      const result = results.get(tr.dataset.statement);
      if (!result) continue;
      const digest = `sha256:${result.record.envelope}`;
      present.add(digest);
      if (!result.ok || tr.dataset.state !== STATE_OK) continue; // its own FAILED stands
      let why = null;
      if (tr.dataset.part === "request") {
        if (digest !== request) why = `this is not the request ${at} names (${describe(request)})`;
      } else if (tr.dataset.part === "approval") {
        if (!approvals.includes(digest)) why = `${at} does not list this approval`;
        else if (lookup(result.statement, "predicate.request") !== request) why = `this decision is about another request than ${at}'s`;
        else if (lookup(result.statement, "predicate.decision") !== "approve") why = "this decision is not an approval";
      } else {
        why = "a row of a release's details that says neither request nor approval";
      }
      if (why) setStatus(tr, STATE_FAILED, why);
      else linked.add(tr);
    }
    const named = [request, ...approvals];
    const left = named.findIndex((d) => !present.has(d));
    if (left !== -1) {
      for (const tr of rowsOf(block.dataset.releaseDetail)) {
        setStatus(tr, STATE_FAILED, `the page does not show ${describe(named[left])}, which this release names`);
      }
    }
  }
  // Default-deny by what the row is, whatever the page marks it as: every verified request or
  // decision (and every row marked as one) must have been linked to its release above.
  for (const tr of Array.from(byId.values()).flat()) {
    const result = results.get(tr.dataset.statement);
    const type = result && result.ok ? result.statement.predicateType : null;
    const part = tr.hasAttribute("data-part") || type === SAMPLE_REQUEST || type === SAMPLE_DECISION;
    if (part && tr.dataset.state === STATE_OK && !linked.has(tr)) {
      setStatus(tr, STATE_FAILED, "it is not shown under a verified release that names it");
    }
  }
}


// ---------------------------------------------------------------------------------------------
// Which release a row is about (formats.md section 19, "Which release a row is about"). Each
// statement row is first checked on its own; then, grouped as src/site/model.rs `releases` groups
// them, a provenance, rebuild verdict or review row must be about the page's release, else it
// fails. A release page's data names its release ({component, version, target}); its heading
// (the first child of <main>, shown) and its title must be that name. A provenance is about it
// when its target is the release's and its first subject ending in `-<target>.tar.gz` names the
// release's component and version, and it counts only when a row of the page shows its signer.
// A verdict is about it when its input attestations name such a provenance's envelope, or, when
// it is not a PASSED one, when a subject names such a provenance's artifact; a review when its
// subject is such a provenance's source digest. On a page whose data names no release, only the
// rebuilds page's verdict cells may show such a statement, each in the row of the release whose
// bundle it names (`rebuildsColumn`).

const RELEASE_TYPES = new Set([SLSA_PROVENANCE, SLSA_VSA, REVIEW]);
// A release's name as its heading and its rebuilds-page row show it. The text must read back as
// one release, and look like no other: its component, version and target are each made of ASCII
// letters, digits, `.`, `_`, `+` and `-` (what cargo's package names, semver and target triples
// use). With a space, `a 1.0` version `2.0` and `a` version `1.0 2.0` both read `a 1.0 2.0 (…)`;
// a tab, a no-break or zero-width space, a control character or a combining mark draws like
// another name, and a bracket of the name drawn right to left does. A release with any other
// character has no name (null), so nothing is tied to it (src/site/model.rs
// `plain_release_name` makes no release of it either).
const PLAIN_NAME = /^[A-Za-z0-9._+-]+$/;
const plainRelease = (r) => [r.component, r.version, r.target].every((part) => typeof part === "string" && PLAIN_NAME.test(part));
const releaseHeading = (r) => (plainRelease(r) ? `${r.component} ${r.version} (${r.target})` : null);
const SITE_TITLE = " · glassbox transparency"; // src/site/html.rs, page
const listOf = (value) => (Array.isArray(value) ? value : []);
const textAt = (statement, path) => {
  const value = lookup(statement, path);
  return typeof value === "string" ? value : "";
};
// A digest as glassbox reads a provenance's subjects (64 lowercase hex digits), and as it reads
// verdicts' subjects and inputs (either case, an optional `sha256:`), lowercased.
const strictDigest = (d) => (typeof d === "string" && /^[0-9a-f]{64}$/.test(d) ? d : null);
function lenientDigest(d) {
  if (typeof d !== "string") return null;
  const hex = d.startsWith("sha256:") ? d.slice(7) : d;
  return /^[0-9a-fA-F]{64}$/.test(hex) ? hex.toLowerCase() : null;
}
const digestOf = (descriptor) => field(field(descriptor, "digest"), "sha256");

// `<component>-<version>` split as src/review/sign.rs `split_stem` splits it: at a `-` followed
// by a digit, the first after which a dotted version starts, else the last; null without one.
function splitStem(stem) {
  const cuts = [];
  for (let i = 1; i < stem.length; i++) {
    if (stem[i] === "-" && /^[0-9]/.test(stem.slice(i + 1))) cuts.push(i);
  }
  const cut = cuts.find((i) => /^[0-9]*\.[0-9]/.test(stem.slice(i + 1))) ?? cuts[cuts.length - 1];
  return cut === undefined ? null : { component: stem.slice(0, cut), version: stem.slice(cut + 1) };
}

// The release a provenance is of, as src/site/model.rs reads it, or null.
function releaseOf(statement) {
  const target = textAt(statement, `${BUILD_PARAMETERS}.target`);
  const suffix = `-${target}.tar.gz`;
  const first = listOf(statement.subject).find((s) => typeof field(s, "name") === "string" && s.name.endsWith(suffix));
  const split = first ? splitStem(first.name.slice(0, first.name.length - suffix.length)) : null;
  const release = split && { ...split, target };
  return release && plainRelease(release) ? release : null;
}

// Whether nothing the generator writes hides `el`: a `hidden` attribute (also "until-found") on
// it or an ancestor, a dialog or popover around it; and, where the browser can tell, whether it is
// rendered (styles are the host's: threat-model.md section 7).
const hiddenByMarkup = (el) => el.closest("[hidden], dialog, [popover], template") !== null;
function rendered(el) {
  if (hiddenByMarkup(el)) return false;
  return typeof el.checkVisibility !== "function" || el.checkVisibility({ opacityProperty: true, visibilityProperty: true });
}

// The page's one heading, when it is what a reader sees first: the first child of <main>, text
// only and without attributes, rendered, inside the page and above every table; and on a page
// with nothing that can lift or cover it (a dialog, a popover, a template, an open shadow root:
// the generator writes none).
function shownHeading() {
  const headings = document.querySelectorAll("h1");
  const h1 = headings.length === 1 ? headings[0] : null;
  const main = document.getElementById("gb-main");
  if (!h1 || !main || main.tagName !== "MAIN" || main.firstElementChild !== h1) return null;
  if (h1.children.length > 0 || h1.attributes.length > 0 || !rendered(h1)) return null;
  if (document.querySelector("dialog, [popover], template")) return null;
  if (Array.from(document.querySelectorAll("*")).some((el) => el.shadowRoot)) return null;
  const box = h1.getBoundingClientRect();
  if (box.width === 0 || box.height === 0 || box.left + window.scrollX < 0) return null;
  for (const table of document.querySelectorAll("table")) {
    if (table.getBoundingClientRect().top < box.bottom) return null;
  }
  return h1.textContent;
}

// The text of the document's one <title>: an HTML title element in <head> (an SVG <title> in the
// body is not the tab's title), as written, without document.title's whitespace collapsing.
function titleText() {
  const titles = document.querySelectorAll("title");
  const title = titles.length === 1 ? titles[0] : null;
  return title instanceof HTMLTitleElement && title.parentElement === document.head ? title.textContent : null;
}

// The rebuilder's cell a table sits in when it is a rebuilds page's headerless cell table, or null.
function rebuildsCellOf(table) {
  return table && table.matches("td[data-rebuilder] > table.gb-cell") ? table.parentElement : null;
}

// A rebuilds page's verdict row: the one row of a headerless cell table, in a cell of the page's
// one matrix, in the column of the key whose signature verified (the cell's and its heading's
// `data-rebuilder`, the heading's short id), in the row of the release the verdict is about: the
// row's heading, a `th` holding one link of plain text, must read `<component> <version>
// (<target>)` for a target one of the verdict's subjects names (`<target>/<file>`) and the
// bundle it names (`predicate.resourceUri`, `<component>-<version>-<target>.tar.gz`) split as a
// provenance's is. No cell of the matrix spans rows or columns, so that a cell's index is the
// column it is drawn in.
function rebuildsColumn(tr, { signers, statement }) {
  const table = tr.closest("table");
  const cell = rebuildsCellOf(table);
  const headers = table && tableHeaders(table);
  const outer = cell && cell.parentElement.closest("table");
  if (!cell || !headers || headers.length > 0 || !outer || !isMatrix(outer)) {
    return "a verdict on this page is shown only in a rebuilder's cell";
  }
  const key = cell.dataset.rebuilder;
  if (!signers.some((k) => k.keyid === key)) return "the verdict is in the column of another key than the one whose signature verifies";
  const head = outer.tHead && outer.tHead.rows.length === 1 ? outer.tHead.rows[0].cells[cell.cellIndex] : null;
  const code = head ? head.querySelectorAll("code") : [];
  if (!head || head.dataset.rebuilder !== key || code.length !== 1 || code[0].textContent !== key.slice(0, 8)) {
    return "the verdict's column is headed by another key than the one whose signature verifies";
  }
  const uri = textAt(statement, "predicate.resourceUri");
  const heading = rowHeading(cell.parentElement);
  const about =
    heading !== null &&
    listOf(statement.subject).some((subject) => {
      const name = field(subject, "name");
      const slash = typeof name === "string" ? name.indexOf("/") : -1;
      if (slash <= 0) return false;
      const target = name.slice(0, slash);
      const suffix = `-${target}.tar.gz`;
      const split = uri.endsWith(suffix) ? splitStem(uri.slice(0, uri.length - suffix.length)) : null;
      return split !== null && releaseHeading({ ...split, target }) === heading;
    });
  if (!about) return `the verdict is about another release (${describe(uri)}) than its row's`;
  return null;
}

// Whether `table` is the rebuilds page's matrix: the one `table.gb-matrix`, inside no other
// table, with one head row, and no cell of it spanning rows or columns (read once per table).
const matrices = new WeakMap();
function isMatrix(table) {
  if (!matrices.has(table)) {
    const plain = Array.from(table.rows).every((row) => Array.from(row.cells).every((c) => c.rowSpan === 1 && c.colSpan === 1));
    const one = document.querySelectorAll("table.gb-matrix").length === 1;
    matrices.set(table, plain && one && table.matches("table.gb-matrix") && !table.parentElement.closest("table"));
  }
  return matrices.get(table);
}

// The text of a rebuilds-page row's heading: its first cell, a `th` holding one link and nothing
// else, whose one child is text, not hidden by markup; else null.
function rowHeading(row) {
  const th = row && row.cells[0];
  if (!th || th.tagName !== "TH" || th.childNodes.length !== 1 || hiddenByMarkup(th)) return null;
  if (th.hasAttribute("style") || th.hasAttribute("dir")) return null;
  const link = th.firstChild;
  if (link.nodeType !== Node.ELEMENT_NODE || link.tagName !== "A" || link.attributes.length !== 1 || !link.hasAttribute("href")) return null;
  if (link.childNodes.length !== 1 || link.firstChild.nodeType !== Node.TEXT_NODE) return null;
  return link.textContent;
}

function checkReleaseLinks(results, data, byId) {
  const all = Array.from(byId.values()).flat();
  const rows = all.filter((tr) => {
    const result = results.get(tr.dataset.statement);
    return result && result.ok && tr.dataset.state === STATE_OK && RELEASE_TYPES.has(result.statement.predicateType);
  });
  const statementOf = (tr) => results.get(tr.dataset.statement).statement;
  const heading = shownHeading();
  if (!Object.hasOwn(data, "release")) {
    // The rebuilds page, where it is served, as the generator titles it.
    const path = location.pathname;
    const rebuilds = (path.endsWith("/rebuilds.html") || path.endsWith("/rebuilds")) && heading === "Rebuilds" && titleText() === `Rebuilds${SITE_TITLE}`;
    for (const tr of rows) {
      if (!rebuilds || statementOf(tr).predicateType !== SLSA_VSA) {
        setStatus(tr, STATE_FAILED, "this page names no release for it to be about");
        continue;
      }
      const why = rebuildsColumn(tr, results.get(tr.dataset.statement));
      if (why) setStatus(tr, STATE_FAILED, why);
    }
    return;
  }
  const release = data.release;
  const named = ["component", "version", "target"].every((k) => typeof field(release, k) === "string");
  const title = named ? releaseHeading(release) : null;
  if (!named || title === null || heading !== title || titleText() !== `${title}${SITE_TITLE}`) {
    const why = !named
      ? "the page's data does not name its release plainly"
      : title === null
        ? "the page's release has a name that could read as another's (a character other than ASCII letters, digits, . _ + -)"
        : `the page's heading is not the release its data names (${describe(title)})`;
    for (const tr of rows) setStatus(tr, STATE_FAILED, why);
    return;
  }
  const items = [];
  for (const [id] of byId) {
    const result = results.get(id);
    if (result && result.ok && RELEASE_TYPES.has(result.statement.predicateType)) {
      items.push({ id, envelope: result.record.envelope, statement: result.statement });
    }
  }
  // A provenance counts only when a row of the page shows its signer (whose own cells may still
  // fail that row alone).
  const signerShown = (id) => byId.get(id).some((tr) => tr.querySelector(":scope > td[data-signer]") && !hiddenByMarkup(tr));
  for (const [id, why] of releaseTies(release, items, signerShown)) {
    if (why === null) continue;
    const provenance = results.get(id).statement.predicateType === SLSA_PROVENANCE;
    for (const tr of byId.get(id)) if (provenance || tr.dataset.state === STATE_OK) setStatus(tr, STATE_FAILED, why);
  }
}

// Which of a release page's verified statements are about `release`, as `glassbox site` groups
// them (src/site/model.rs, `releases`; tests/vectors/release-grouping.json holds the cases both
// must agree on): a map from each statement's id to null when it is, else why not. `items`: the
// page's verified provenances, verdicts and reviews, as {id, envelope, statement}; a provenance
// counts only if `signerShown(id)`.
function releaseTies(release, items, signerShown) {
  const ties = new Map();
  const artifacts = new Set();
  const provenances = new Set();
  const sources = new Set();
  for (const { id, envelope, statement } of items) {
    if (statement.predicateType !== SLSA_PROVENANCE) continue;
    const of = releaseOf(statement);
    let why = null;
    if (!of || of.component !== release.component || of.version !== release.version || of.target !== release.target) {
      why = `this provenance is of another release (${describe(of && releaseHeading(of))})`;
    } else if (!signerShown(id)) {
      why = "no row of this page shows this provenance's signer";
    }
    ties.set(id, why);
    if (why !== null) continue;
    for (const subject of listOf(statement.subject)) {
      const digest = strictDigest(digestOf(subject));
      if (digest) artifacts.add(digest);
    }
    provenances.add(envelope);
    const source = textAt(statement, `${BUILD_PARAMETERS}.source.digest.sha256`);
    if (source !== "") sources.add(source);
  }
  const none = provenances.size === 0 ? "no provenance of this release verified on this page, so " : "";
  for (const { id, statement } of items) {
    if (statement.predicateType === SLSA_VSA) {
      const inputs = listOf(field(statement.predicate, "inputAttestations"));
      const passed = textAt(statement, "predicate.verificationResult") === "PASSED";
      const about =
        inputs.some((a) => provenances.has(lenientDigest(digestOf(a)))) ||
        (!passed && listOf(statement.subject).some((s) => artifacts.has(lenientDigest(digestOf(s)))));
      ties.set(id, about ? null : `${none}this verdict is not about a provenance of this release the page shows`);
    } else if (statement.predicateType === REVIEW) {
      const about = sources.has(textAt(statement, "subject.0.digest.sha256"));
      ties.set(id, about ? null : `${none}this review is not of the source this release's provenance names`);
    }
  }
  return ties;
}

// ---------------------------------------------------------------------------------------------
// The page

const STATE_UNCHECKED = "unchecked";

// What a verified row's badge says: authentic and in the log (not "the software is good"); for
// a rebuild verdict whose signed result is not PASSED, that the rebuilder says so.
const AUTHENTIC = "authentic, in the log";
function okText(statement) {
  const result = statement && lookup(statement, "predicate.verificationResult");
  return typeof result === "string" && result !== "PASSED" ? `verified: the rebuilder says ${result}` : AUTHENTIC;
}

// The status cell of one row: verified (`text`), failed (with why) or unchecked (this browser
// cannot).
function setStatus(tr, state, why, text = AUTHENTIC) {
  tr.dataset.state = state;
  // The row's own last cell only: not a status cell of a row the host nested inside it.
  const last = tr.cells[tr.cells.length - 1];
  for (const cell of last && last.classList.contains("gb-status") ? [last] : []) {
    cell.textContent = state === STATE_OK ? text : state === STATE_FAILED ? `FAILED: ${why}` : `not checked: ${why}`;
    cell.classList.remove("gb-ok", "gb-failed", "gb-pending", "gb-unchecked", "gb-says-failed");
    cell.classList.add(state === STATE_OK ? "gb-ok" : state === STATE_FAILED ? "gb-failed" : "gb-unchecked");
    if (state === STATE_OK && text !== AUTHENTIC) cell.classList.add("gb-says-failed");
  }
}

// The banner's count of the statements checked so far.
function progress(done, total, failed) {
  const el = document.getElementById("gb-progress");
  if (!el || total === 0) return;
  el.textContent =
    done < total
      ? `checking ${done} of ${total} statements…`
      : `${total} statement${total === 1 ? "" : "s"} checked: ${total - failed} authentic, ${failed} FAILED.`;
}

// The page's statement rows by the record they name, in page order. Read once: while the page is
// checked only the rows' status cells change, never which rows there are.
function statementRows() {
  const byId = new Map();
  for (const tr of document.querySelectorAll("tr[data-statement]")) {
    const id = tr.dataset.statement;
    if (!byId.has(id)) byId.set(id, []);
    byId.get(id).push(tr);
  }
  return byId;
}

function age(seconds) {
  const units = [
    ["year", 365 * 86400],
    ["month", 30 * 86400],
    ["day", 86400],
    ["hour", 3600],
    ["minute", 60],
  ];
  if (seconds < 0) return "in the future";
  for (const [unit, size] of units) {
    const n = Math.floor(seconds / size);
    if (n >= 1) return `${n} ${unit}${n === 1 ? "" : "s"} ago`;
  }
  return "just now";
}

function fillAges() {
  const now = Date.now() / 1000;
  for (const el of document.querySelectorAll("time.gb-age[data-unix]")) {
    const unix = Number(el.dataset.unix);
    if (Number.isFinite(unix)) el.textContent = age(now - unix);
  }
}

// The banner's status line (the whole banner when it has none), and the index's checkpoint line.
function banner(state, text) {
  const ok = state === true || state === STATE_OK;
  const name = state === STATE_UNCHECKED ? STATE_UNCHECKED : ok ? STATE_OK : STATE_FAILED;
  for (const el of [document.getElementById("gb-banner"), document.getElementById("gb-checkpoint-status")]) {
    if (!el) continue;
    el.dataset.state = name;
    el.classList.remove("gb-ok", "gb-failed", "gb-pending", "gb-unchecked");
    el.classList.add(name === STATE_OK ? "gb-ok" : name === STATE_FAILED ? "gb-failed" : "gb-unchecked");
    (el.querySelector(".gb-banner-status") || el).textContent = text;
  }
}

// The index's checkpoint list: origin, size and root must be the ones the browser checked the
// log against (the site's checkpoint, which the log's signed one equals or extends).
function checkCheckpointList(data) {
  const root = toHex(fromBase64(data.checkpoint.root, "the site's checkpoint root"));
  const expected = { origin: data.origin, size: String(data.checkpoint.size), root };
  for (const el of document.querySelectorAll("[data-checkpoint]")) {
    const key = el.dataset.checkpoint;
    if (!Object.hasOwn(expected, key)) fail(`the page's checkpoint shows an unknown ${describe(key)}`);
    if (el.textContent !== expected[key]) {
      fail(`the page shows the checkpoint's ${key} as ${describe(el.textContent)}, but the log was checked against ${describe(expected[key])}`);
    }
  }
}

// The keys the page prints for the reader to compare with independent sources must be the ones
// this browser checks against: the log key (every `.gb-vkey`), the origin (every `.gb-origin`)
// and the witnesses' keys (`.gb-witness-vkey`, in the policy's order). Otherwise a page could
// print the real key and check another log signed by a key of the publisher's.
function checkPrintedKeys(data) {
  const printed = (selector) => Array.from(document.querySelectorAll(selector), (el) => el.textContent);
  const vkeys = printed(".gb-vkey");
  if (vkeys.length === 0) fail("the page prints no log key to compare");
  for (const v of vkeys) {
    if (v !== data.vkey) fail(`the page prints the log key ${describe(v)}, but its rows are checked against ${describe(data.vkey)}`);
  }
  for (const o of printed(".gb-origin")) {
    if (o !== data.origin) fail(`the page prints the log ${describe(o)}, but checks ${describe(data.origin)}`);
  }
  const witnesses = (data.witnesses || []).map((w) => String(w.vkey));
  const shown = printed(".gb-witness-vkey");
  if (shown.length !== witnesses.length || shown.some((w, i) => w !== witnesses[i])) {
    fail("the witness keys the page prints are not the ones this browser checks cosignatures with");
  }
}

function witnessNote(cosigned) {
  if (cosigned.length === 0) return "no witness cosignature verified";
  const now = Date.now() / 1000;
  return "cosigned by " + cosigned.map((c) => `${c.name} (${age(now - c.time)})`).join(", ");
}

// Checks the checkpoint once; every row and the receipt box wait on it.
async function loadCheckpoint(data) {
  try {
    checkPrintedKeys(data);
    const cp = await checkCheckpoint(data);
    checkCheckpointList(data);
    const name = data.vkey.slice(0, data.vkey.indexOf("+"));
    const extension =
      cp.extends === null ? "" : `; it extends the ${cp.extends} entries this site was generated from (consistency proof)`;
    banner(
      true,
      `Verified in this browser: the log's checkpoint of ${cp.size} entries is signed by ${name} ` +
        `with the log key above${extension}; ${witnessNote(cp.cosigned)}.`,
    );
    return { ok: true, cp };
  } catch (e) {
    const why = e instanceof Failure ? e.message : `the checkpoint could not be checked (${e})`;
    banner(false, `FAILED: ${why}. Nothing on this page is verified.`);
    return { ok: false, why };
  }
}

async function checkRecord(record, checkpoint) {
  if (!checkpoint.ok) return { ok: false, why: checkpoint.why };
  try {
    return { ok: true, ...(await checkStatement(record, checkpoint.cp)) };
  } catch (e) {
    return { ok: false, why: e instanceof Failure ? e.message : `could not be checked (${e})` };
  }
}

// A browser that cannot check says so, neutrally: nothing was checked, nothing is accused.
function cannotCheck(why) {
  banner(
    STATE_UNCHECKED,
    `Not checked: ${why}. Nothing on this page was checked in this browser; the tables are what the site's publisher says. ` +
      "A recent browser (Chrome 137, Firefox 129, Safari 17 or later) on an HTTPS page checks everything.",
  );
  for (const tr of document.querySelectorAll("tr[data-statement]")) setStatus(tr, STATE_UNCHECKED, "this browser cannot check (see above)");
  const count = document.getElementById("gb-progress");
  if (count) count.textContent = "";
}

// ---------------------------------------------------------------------------------------------
// The receipt box (custody.html)

function answer(state, text) {
  const el = document.getElementById("gb-receipt-answer");
  el.dataset.state = state;
  el.textContent = text;
}

// RFC 6962 inclusion of `leaf` at `index` in a tree of `size`, from an audit path (leaf to root).
async function auditPathRoot(leaf, index, size, path) {
  if (!(index < size)) fail("the receipt's leaf index is outside its batch");
  let hash = leaf;
  let i = BigInt(index);
  let last = BigInt(size) - 1n;
  for (const sibling of path) {
    if (last === 0n) fail("the receipt's proof is too long");
    if (i % 2n === 1n || i === last) {
      hash = await nodeHash(sibling, hash);
      if (i % 2n === 0n) {
        while (i % 2n === 0n && i !== 0n) {
          i >>= 1n;
          last >>= 1n;
        }
      }
    } else {
      hash = await nodeHash(hash, sibling);
    }
    i >>= 1n;
    last >>= 1n;
  }
  if (last !== 0n) fail("the receipt's proof is too short");
  return hash;
}

function namesCommitment(statement, commitment) {
  return (statement.subject || []).some((s) => s && s.digest && s.digest.glassboxSampleCommitment === commitment);
}

// The answer's rows: one per statement the answer rests on (the intake batch, each request and
// release the site's index names), each showing what the site says of it and its own status.
function answerRows(rows) {
  const el = document.getElementById("gb-receipt-answer");
  if (rows.length === 0) return;
  const box = el.appendChild(document.createElement("div"));
  box.className = "gb-scroll";
  box.tabIndex = 0;
  box.setAttribute("role", "region");
  box.setAttribute("aria-label", "the statements this answer rests on");
  const table = document.createElement("table");
  table.className = "gb-table gb-receipt-rows";
  table.createCaption().textContent = "The statements this answer rests on";
  const head = table.createTHead().insertRow();
  for (const h of ["statement", "log entry", "what it says", "checked in this browser"]) {
    const th = head.appendChild(document.createElement("th"));
    th.scope = "col";
    th.textContent = h;
  }
  const body = table.createTBody();
  for (const r of rows) {
    const tr = body.insertRow();
    tr.dataset.receiptStatement = String(r.logIndex);
    tr.dataset.state = r.why ? STATE_FAILED : STATE_OK;
    for (const text of [r.kind, String(r.logIndex), r.says]) tr.insertCell().textContent = text;
    const status = tr.insertCell();
    status.className = `gb-status ${r.why ? "gb-failed" : "gb-ok"}`;
    status.textContent = r.why ? `FAILED: ${r.why}` : AUTHENTIC;
  }
  box.appendChild(table);
}

// The words an answer's row uses for a claim's path (the last part of it otherwise).
const CLAIM_WORDS = {
  "predicate.reason": "reason",
  "predicate.destination": "to be sent to",
  "predicate.requestedAt": "asked for at",
  "predicate.intake.logIndex": "sample's batch at log entry",
  "predicate.request": "on the request",
  "predicate.recipient": "encrypted for",
  "predicate.releasedAt": "released at",
};

// What a record's claims say, as the answer's row shows it (checked against the statement).
function says(record) {
  return (record.claims || []).map((c) => `${CLAIM_WORDS[c.path] || c.path.split(".").pop()}: ${shown(c.value)}`).join("; ");
}

// The plain words of an answer that could not be given; `why` is the check that failed.
const COULD_NOT = "Do not rely on this answer. Tell the center, and ask someone you trust to run glassbox sample lookup with your receipt, which reads the whole log itself.";

async function checkReceipt(text, data, checkpoint) {
  let receipt;
  try {
    receipt = JSON.parse(text);
  } catch {
    return answer(
      "refused",
      "This is not a receipt. A receipt is the small text file (ending in .json, its text starting with {) the center gave you when it took your sample in. Choose that file, or paste all of its text.",
    );
  }
  if (!receipt || receipt._type !== "https://glassbox.dev/sample-receipt/v1" || !receipt.intake || !receipt.log) {
    return answer(
      "refused",
      "This is not a sample receipt: it lacks what a receipt holds (the batch your sample was taken in, and the log that records it). Choose the receipt file the center gave you, or paste all of it.",
    );
  }
  if (receipt.log.origin !== data.origin || receipt.log.vkey !== data.vkey) {
    return answer(
      "refused",
      `This receipt is for another log (${describe(receipt.log.origin)}), not the one this site shows (${data.origin}), so this site cannot answer for it. Look for the site of the log your receipt names.`,
    );
  }
  if (checkpoint.unchecked) {
    return answer(STATE_UNCHECKED, `Not checked: ${checkpoint.unchecked}. This browser checked nothing; try a recent browser on an HTTPS page.`);
  }
  if (!checkpoint.ok) {
    return answer("failed", `FAILED: this site's log did not pass its check (${checkpoint.why}), so this site cannot answer for your sample. ${COULD_NOT}`);
  }
  const rows = [];
  try {
    const commitment = receipt.commitment;
    const intake = receipt.intake;
    let root;
    try {
      const path = (intake.proof || []).map((h) => fromHex(h, "the receipt's proof"));
      const leaf = await leafHash(fromHex(commitment, "the receipt's commitment"));
      root = await auditPathRoot(leaf, intake.leafIndex, intake.batchSize, path);
    } catch (e) {
      if (!(e instanceof Failure)) throw e;
      root = null;
    }
    if (root === null || toHex(root) !== intake.batchRoot) {
      fail("your receipt does not hold together: the proof that your sample is in its batch does not work out. The receipt may be damaged or altered; ask the center for a copy");
    }
    if (!Number.isSafeInteger(intake.logIndex) || intake.logIndex < 0) fail("your receipt does not say where in the log its batch is");
    const intakeShard = `custody/intakes/${Math.floor(intake.logIndex / INTAKE_SHARD)}.json`;
    const records = (await fetchJson(new URL(intakeShard, base.site).href, "the site's list of batches")) || [];
    if (!Array.isArray(records)) fail("the site's list of batches is damaged");
    const record = records.find((r) => r.logIndex === intake.logIndex);
    if (!record) {
      fail(
        `this site knows no batch at log entry ${intake.logIndex}, where your receipt says your sample's batch is. The site may be older than your receipt (try again later), or leave the batch out`,
      );
    }
    if (`sha256:${record.envelope}` !== intake.envelope) fail(`the batch at log entry ${intake.logIndex} is not the one your receipt names: the receipt or this site is wrong`);
    const batch = await checkRecord(record, checkpoint);
    let why = batch.ok ? null : batch.why;
    if (!why && lookup(batch.statement, "predicate.merkleRoot") !== intake.batchRoot) why = "the batch in the log is not the batch your receipt names";
    rows.push({ kind: "the batch your sample was taken in", logIndex: record.logIndex, says: `batch fingerprint (merkleRoot): ${intake.batchRoot}`, why });
    if (why) fail(`the log's record of your sample's batch did not pass its check (${why})`);
    const shard = await fetchJson(new URL(`custody/lookup/${commitment.slice(0, 2)}.json`, base.site).href, "the site's list of requests");
    const named = (shard && shard[commitment]) || { requests: [], releases: [] };
    let failed = null;
    const checked = async (records, kind, predicateType) => {
      for (const r of Array.isArray(records) ? records : []) {
        const result = await checkRecord(r, checkpoint);
        let why = result.ok ? null : result.why;
        if (!why && result.statement.predicateType !== predicateType) why = `this statement is not a ${kind}`;
        if (!why && !namesCommitment(result.statement, commitment)) why = "this statement is not about this sample";
        rows.push({ kind, logIndex: r.logIndex, says: says(r), why });
        if (why && !failed) failed = `a statement about your sample (log entry ${r.logIndex}) did not pass its check (${why})`;
      }
      return Array.isArray(records) ? records.length : 0;
    };
    const releases = await checked(named.releases, "release of your sample", SAMPLE_RELEASE);
    const requests = await checked(named.requests, "request to take your sample out", SAMPLE_REQUEST);
    if (failed) fail(failed);
    const batchAt = `Your sample is in the batch at log entry ${intake.logIndex}, and this browser checked every statement in the table below against the log.`;
    const times = (n, one, many) => `${n} ${n === 1 ? one : many}`;
    if (releases > 0) {
      answer(
        "released",
        `Yes, your sample was released: it left the center. The log records ${times(releases, "release", "releases")} of it, after ${times(requests, "request", "requests")} to take it out; the table below says when, why and to whom. ${batchAt}`,
      );
    } else if (requests > 0) {
      answer(
        "requested",
        `Your sample was asked for, but it has not been released. The log records ${times(requests, "request", "requests")} to take it out and no release. A request that is approved can still lead to a release until it expires: check again later. ${batchAt}`,
      );
    } else {
      answer(
        "not-requested",
        `No one has asked for your sample, as far as this site shows: it lists no request or release of it. Your sample is in the batch at log entry ${intake.logIndex}, checked in this browser. That the site's list of requests is complete is the site's word; glassbox sample lookup with your receipt searches the whole log.`,
      );
    }
  } catch (e) {
    answer("failed", `FAILED: ${e instanceof Failure ? e.message : e}. ${COULD_NOT}`);
  }
  answerRows(rows);
}

// The receipt box's controls: the Check button reads the paste box; choosing a file reads it
// here (never uploaded), shows its text in the paste box and checks it.
const RECEIPT_MAX_BYTES = 1 << 20; // a receipt is a few kilobytes

function receiptBox(data, checkpoint) {
  const button = document.getElementById("gb-receipt-check");
  const box = document.getElementById("gb-receipt");
  const picker = document.getElementById("gb-receipt-file");
  const run = async (read) => {
    document.documentElement.dataset.glassbox = "checking";
    answer("checking", "Checking…");
    const text = await read();
    if (text !== null) await checkReceipt(text, data, checkpoint);
    document.documentElement.dataset.glassbox = "done";
  };
  if (button && box) button.addEventListener("click", () => run(async () => box.value));
  if (picker && box) {
    picker.addEventListener("change", () => {
      const file = picker.files && picker.files[0];
      if (!file) return;
      run(async () => {
        if (file.size > RECEIPT_MAX_BYTES) {
          answer("refused", `This file is too large to be a receipt (${file.size} bytes; a receipt is a few thousand). Choose the receipt file the center gave you.`);
          return null;
        }
        try {
          box.value = await file.text();
          return box.value;
        } catch {
          answer("refused", "This browser could not read the file. Choose it again, or open it and paste its text.");
          return null;
        }
      });
    });
  }
}

// ---------------------------------------------------------------------------------------------

// A link to a folded block (a custody release's `#release-<index>`) unfolds it: browsers
// scroll to a closed <details> without opening it.
function unfoldTarget() {
  let id = "";
  try {
    id = decodeURIComponent(location.hash.slice(1));
  } catch {
    return; // a link with a malformed fragment unfolds nothing, and stops no check
  }
  const target = id ? document.getElementById(id) : null;
  if (target && target.tagName === "DETAILS") target.open = true;
}

async function main() {
  unfoldTarget();
  addEventListener("hashchange", unfoldTarget);
  const data = JSON.parse(document.getElementById("glassbox-data").textContent);
  base.site = new URL(data.siteRoot || "", document.baseURI).href;
  base.log = new URL(data.logUrl, base.site).href;
  if (!base.log.endsWith("/")) base.log += "/";
  fillAges();
  let checkpoint;
  try {
    ed25519 = await chooseEd25519();
    // Only the records a row shows are checked and counted: one no row shows tells the reader
    // nothing, and would only pad the banner's count.
    const byId = statementRows();
    const statements = listOf(data.statements).filter((record) => byId.has(record.row));
    let done = 0;
    let failed = 0;
    progress(0, statements.length, 0);
    checkpoint = await loadCheckpoint(data);
    const results = new Map(); // row id -> {record, ok, statement}
    await Promise.all(
      statements.map(async (record) => {
        const rows = byId.get(record.row);
        const result = await checkRecord(record, checkpoint);
        results.set(record.row, { record, ...result });
        done += 1;
        if (!result.ok) {
          for (const tr of rows) setStatus(tr, STATE_FAILED, result.why);
          failed += 1;
        } else {
          const whys = checkRows(rows, record, result);
          whys.forEach((why, n) => setStatus(rows[n], why ? STATE_FAILED : STATE_OK, why, okText(result.statement)));
          if (whys.some((why) => why)) failed += 1;
        }
        progress(done, statements.length, failed);
      }),
    );
    checkReleaseDetails(results, byId);
    checkReleaseLinks(results, data, byId);
    // A row naming no record of the page's data is not one the generator wrote: whatever its
    // status cell says, it fails.
    for (const [id, rows] of byId) {
      if (!results.has(id)) rows.forEach((tr) => setStatus(tr, STATE_FAILED, "the page's data has no statement for this row"));
    }
    // The relations may have failed more rows: count the statements with a FAILED row again.
    const failing = Array.from(byId.values()).filter((rows) => rows.some((tr) => tr.dataset.state === STATE_FAILED));
    progress(statements.length, statements.length, failing.length);
  } catch (e) {
    if (!(e instanceof CannotCheck)) throw e;
    cannotCheck(e.message);
    checkpoint = { ok: false, unchecked: e.message };
  }
  receiptBox(data, checkpoint);
}

// A page runs main(). tests/browser/tree-proofs.mjs imports this module under Node, where there
// is no document, to check the tree proofs alone against a reference tree.
if (typeof document !== "undefined") {
  main()
    .catch((e) => banner(false, `FAILED: the page could not be checked (${e})`))
    .finally(() => {
      document.documentElement.dataset.glassbox = "done";
    });
}

export {
  TiledTree,
  Failure,
  CannotCheck,
  base,
  chooseEd25519,
  nobleVerifier,
  ed25519Verify,
  keyIdOf,
  splitStem,
  releaseHeading,
  releaseTies,
  shown,
  shownScope,
  shownFindings,
};
