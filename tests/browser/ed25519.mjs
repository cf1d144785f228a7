// Checks the site's Ed25519 fallback under Node: the vendored noble-ed25519 (beside verify.js),
// through verify.js's own glue, against RFC 8032 section 7.1's test vectors (TEST 1, 2, 3 and
// SHA(abc)), each also with its message, signature and key changed, a non-canonical S and a
// small-order key, all of which must be refused; then verify.js's choice of verifier with
// WebCrypto's Ed25519 removed (noble, which must verify) and with no WebCrypto at all (the
// neutral CannotCheck); verify.js's key ids (formats.md section 2's vector), its split of a
// release's name (as src/review/sign.rs split_stem splits it) and which release a statement is
// about (tests/vectors/release-grouping.json). With NODE_PATH holding @noble/ed25519 (tests/browser/package.json), the
// vendored file must be byte for byte the package's index.js. Used by tests/it/site_browser.rs.
//
//   node ed25519.mjs PATH/TO/verify.js
//
// Prints {cases, failures, comparedWithPackage} as JSON.

import { readFileSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";

const verifyJs = process.argv[2];
const module = await import(pathToFileURL(verifyJs).href);
const noble = await import(pathToFileURL(join(dirname(verifyJs), "noble-ed25519.js")).href);

const hex = (text) => Uint8Array.from(Buffer.from(text, "hex"));
// RFC 8032 section 7.1: [name, public key, message, signature].
const VECTORS = [
  [
    "TEST 1",
    "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
    "",
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
  ],
  [
    "TEST 2",
    "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
    "72",
    "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
  ],
  [
    "TEST 3",
    "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
    "af82",
    "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
  ],
  [
    "TEST SHA(abc)",
    "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
    "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
    "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704",
  ],
];
const L = 2n ** 252n + 27742317777372353535851937790883648493n; // the group order

let cases = 0;
const failures = [];
async function expect(name, verify, args, wanted) {
  cases++;
  let got;
  try {
    got = await verify(...args);
  } catch (e) {
    got = `threw ${e}`;
  }
  if (got !== wanted) failures.push(`${name}: got ${got}, wanted ${wanted}`);
}

// S + L: the same signature with a non-canonical S, which RFC 8032 (and verify_strict) refuses.
function nonCanonical(sig) {
  let s = 0n;
  for (let i = 63; i >= 32; i--) s = (s << 8n) | BigInt(sig[i]);
  s += L;
  const out = sig.slice();
  for (let i = 32; i < 64; i++) {
    out[i] = Number(s & 0xffn);
    s >>= 8n;
  }
  return out;
}

async function vectors(label, verify) {
  for (const [name, pub, msg, sig] of VECTORS) {
    const [p, m, s] = [hex(pub), hex(msg), hex(sig)];
    await expect(`${label} ${name}`, verify, [p, s, m], true);
    const changedMessage = m.length ? m.map((b, i) => (i === 0 ? b ^ 1 : b)) : Uint8Array.of(0);
    await expect(`${label} ${name}, message changed`, verify, [p, s, changedMessage], false);
    for (const at of [0, 40, 63]) {
      await expect(`${label} ${name}, signature byte ${at} changed`, verify, [p, s.map((b, i) => (i === at ? b ^ 4 : b)), m], false);
    }
    const other = hex(VECTORS.find((v) => v[1] !== pub)[1]);
    await expect(`${label} ${name}, another key`, verify, [other, s, m], false);
    await expect(`${label} ${name}, non-canonical S`, verify, [p, nonCanonical(s), m], false);
    await expect(`${label} ${name}, short signature`, verify, [p, s.slice(0, 63), m], false);
  }
  // The identity point as a key (small order): refused by the strict branch.
  const identity = new Uint8Array(32);
  identity[0] = 1;
  await expect(`${label} small-order key`, verify, [identity, hex(VECTORS[0][3]), new Uint8Array(0)], false);
}

// The vendored verifier through verify.js's glue.
await vectors("noble", module.nobleVerifier(noble));

// WebCrypto without Ed25519 (older browsers): verify.js must choose noble and verify with it.
const subtle = globalThis.crypto.subtle;
const importKey = subtle.importKey.bind(subtle);
const isEd25519 = (alg) => String(typeof alg === "string" ? alg : alg && alg.name).toLowerCase() === "ed25519";
subtle.importKey = (format, data, alg, ...rest) =>
  isEd25519(alg) ? Promise.reject(new DOMException("Unrecognized name.", "NotSupportedError")) : importKey(format, data, alg, ...rest);
try {
  const chosen = await module.chooseEd25519();
  await vectors("chosen without WebCrypto Ed25519", chosen);
} catch (e) {
  failures.push(`without WebCrypto Ed25519, verify.js chose no verifier: ${e}`);
}
cases++;
subtle.importKey = importKey;

// No WebCrypto at all (a page over plain HTTP): CannotCheck, never a verifier that says false.
const descriptor = Object.getOwnPropertyDescriptor(globalThis, "crypto");
Object.defineProperty(globalThis, "crypto", { value: undefined, configurable: true, writable: true });
try {
  await module.chooseEd25519();
  failures.push("without WebCrypto, verify.js chose a verifier");
} catch (e) {
  if (!(e instanceof module.CannotCheck) || !/HTTPS/.test(e.message)) failures.push(`without WebCrypto: ${e}`);
}
cases++;
Object.defineProperty(globalThis, "crypto", descriptor);

// Key ids are computed in the browser (formats.md section 2's test vector: RFC 8032 TEST 1's key).
await expect("key id of RFC 8032 TEST 1", module.keyIdOf, [hex(VECTORS[0][1])], "74c181c7ad8a0855d4b55e44d2ba87aabdddb196832571f15f92fece332e4916");

// Release names split as src/review/sign.rs split_stem splits them (its tests' cases).
for (const [stem, wanted] of [
  ["avscan-0.1.0", "avscan|0.1.0"],
  ["my-tool-2-1.0.0", "my-tool-2|1.0.0"],
  ["foo-1.0.0-rc-1", "foo|1.0.0-rc-1"],
  ["app-2024-05", "app-2024|05"],
  ["my-tool-2-1.0.0-rc-1", "my-tool-2|1.0.0-rc-1"],
  ["foo-bar-1.2.0-rc1", "foo-bar|1.2.0-rc1"],
  ["tool-2", "tool|2"],
  ["a-1-2", "a-1|2"],
  ["-1.0", null],
  ["nodigits", null],
]) {
  const split = (text) => {
    const s = module.splitStem(text);
    return s === null ? null : `${s.component}|${s.version}`;
  };
  await expect(`split ${stem}`, split, [stem], wanted);
}

// Which release each statement is about: tests/vectors/release-grouping.json, whose cases
// src/site/model.rs's tests check `glassbox site`'s grouping against. Given every statement of
// the vectors on a release's page (each provenance's signer shown), verify.js must tie exactly
// the release's members to it.
const grouping = JSON.parse(readFileSync(new URL("../vectors/release-grouping.json", import.meta.url), "utf8"));
const items = grouping.statements.map(({ id, envelope, statement }) => ({ id, envelope, statement }));
// The ids of the statements verify.js ties to release `r`, sorted.
const tied = (r) => {
  const ties = module.releaseTies(r, items, () => true);
  return grouping.statements.map((s) => s.id).filter((id) => ties.get(id) === null).sort().join(" ");
};
for (const { release, members } of grouping.releases) {
  await expect(`the statements of ${release.component} ${release.version}`, tied, [release], [...members].sort().join(" "));
}

// A name that could read as another release's (a space: `avscan 1.0` version `2.0` and `avscan`
// version `1.0 2.0`; a tab, a zero-width or no-break space, a combining mark, NUL, a bracket, a
// `/`: anything but ASCII letters, digits, `.`, `_`, `+` and `-`) names no release, and nothing
// is tied to it, though each of the vectors' such provenances is "of" it by its bundle's name.
const TARGET = "x86_64-unknown-linux-gnu";
for (const [component, version, target] of [
  ["avscan 1.0", "2.0", TARGET],
  ["avscan", "1.0 2.0", TARGET],
  ["avscan\t", "1.0.0", TARGET],
  ["avscan\u200b", "1.0.0", TARGET],
  ["avscan", "1.0\u00a02.0", TARGET],
  ["cafe\u0301", "1.0.0", TARGET],
  ["avscan", "1.0.0", `${TARGET}\u0000`],
  ["avscan", "1.0.0", ""],
  ["(avscan", "1.0.0", TARGET],
  ["../avscan", "1.0.0", TARGET],
  ["avscan", "1.0.0", "x86_64-unknown-linux-gnu)"],
]) {
  const release = { component, version, target };
  await expect(`the heading of ${JSON.stringify(release)}`, module.releaseHeading, [release], null);
  await expect(`the statements of ${JSON.stringify(release)}`, tied, [release], "");
}
// Cargo's package names, semver with pre-release and build metadata, and target triples do name
// releases.
for (const [component, version, target] of [
  ["avscan", "1.0.0", TARGET],
  ["tokio-util", "1.0.0-rc.1+build.5", TARGET],
  ["x25519_dalek", "2.0.0-pre.1", "thumbv7em-none-eabihf"],
]) {
  await expect(`the heading of ${component} ${version}`, module.releaseHeading, [{ component, version, target }], `${component} ${version} (${target})`);
}

// The vendored file is the npm package's, when the package is installed beside playwright-core.
let comparedWithPackage = false;
for (const dir of (process.env.NODE_PATH || "").split(":").filter(Boolean)) {
  const published = join(dir, "@noble/ed25519/index.js");
  if (!existsSync(published)) continue;
  comparedWithPackage = true;
  cases++;
  if (!readFileSync(published).equals(readFileSync(join(dirname(verifyJs), "noble-ed25519.js")))) {
    failures.push(`the vendored noble-ed25519.js is not ${published}`);
  }
}

process.stdout.write(JSON.stringify({ cases, failures, comparedWithPackage }) + "\n");
