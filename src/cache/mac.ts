import { createHmac, timingSafeEqual } from "node:crypto";

/**
 * The proxy → server authentication of forgejo-runner: the proxy signs the
 * repository, run number, unix timestamp and write-isolation key with the
 * shared secret, joined by ">" in that order, hex encoded.
 */
export function computeMac(secret: string, repo: string, runNumber: string, timestamp: string, isolationKey: string): string {
  return createHmac("sha256", secret)
    .update(`${repo}>${runNumber}>${timestamp}>${isolationKey}`)
    .digest("hex");
}

export interface MacFields {
  repo: string;
  runNumber: string;
  timestamp: string;
  mac: string;
  isolationKey: string;
}

export type MacCheck = { ok: true } | { ok: false; reason: string };

/** Clock skew tolerated between proxy and server when the timestamp is in the future. */
const FUTURE_SKEW_S = 5;

/**
 * Checks a MAC in constant time. `maxAgeMs` bounds how old the timestamp
 * may be (0 = no bound, as forgejo-runner).
 */
export function verifyMac(secret: string, f: MacFields, maxAgeMs: number, nowMs = Date.now()): MacCheck {
  if (!/^\d{1,12}$/.test(f.timestamp)) return { ok: false, reason: "missing or malformed timestamp" };
  const ts = Number(f.timestamp);
  const now = Math.floor(nowMs / 1000);
  if (ts > now + FUTURE_SKEW_S) return { ok: false, reason: "timestamp in the future" };
  if (maxAgeMs > 0 && (now - ts) * 1000 > maxAgeMs) return { ok: false, reason: "timestamp expired" };
  if (!f.repo) return { ok: false, reason: "missing repository" };
  const expected = Buffer.from(computeMac(secret, f.repo, f.runNumber, f.timestamp, f.isolationKey), "utf8");
  const given = Buffer.from(f.mac, "utf8");
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return { ok: false, reason: "MAC mismatch" };
  }
  return { ok: true };
}
