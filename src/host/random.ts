// Random names and tokens without loading node:crypto. Loading that module
// costs 3–5 ms of every `exec` and job worker start (it loads its key, cipher
// and certificate code with it), while most runs only need a few random bytes
// for file names and a token. Those come from the kernel's random source, the
// one OpenSSL itself seeds from; hashing still loads node:crypto, on first use.

import { closeSync, openSync, readSync } from "node:fs";
import { createRequire } from "node:module";

const POOL_BYTES = 4096;
let pool: Buffer | undefined;
let used = POOL_BYTES;

function fill(): Buffer {
  const buf = (pool ??= Buffer.allocUnsafe(POOL_BYTES));
  const fd = openSync("/dev/urandom", "r");
  try {
    let got = 0;
    while (got < POOL_BYTES) got += readSync(fd, buf, got, POOL_BYTES - got, null);
  } finally {
    closeSync(fd);
  }
  used = 0;
  return buf;
}

/** `n` random bytes (fresh ones each call; `n` ≤ 4096). */
export function randomBytesOf(n: number): Buffer {
  if (n > POOL_BYTES) throw new RangeError(`at most ${POOL_BYTES} random bytes at once`);
  let buf = pool;
  if (!buf || used + n > POOL_BYTES) buf = fill();
  const out = Buffer.from(buf.subarray(used, used + n));
  buf.fill(0, used, used + n);
  used += n;
  return out;
}

/** `n` random bytes as 2n lowercase hex digits. */
export function randomHex(n: number): string {
  return randomBytesOf(n).toString("hex");
}

/** A random (version 4) UUID, as crypto.randomUUID() makes it. */
export function randomUuid(): string {
  const b = randomBytesOf(16);
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

let crypto: typeof import("node:crypto") | undefined;

/** node:crypto, loaded on first use (hashing). */
export function nodeCrypto(): typeof import("node:crypto") {
  return (crypto ??= createRequire(import.meta.url)("node:crypto") as typeof import("node:crypto"));
}
