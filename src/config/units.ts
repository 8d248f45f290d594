// Duration and size parsing for config values. Durations follow Go's
// time.ParseDuration syntax ("1h30m", "500ms", "-2s"), plus "d" for days,
// and come back in milliseconds; sizes accept plain bytes or a number with a unit and come
// back in bytes.

const DURATION_UNITS_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  "\u00b5s": 1e-3, // micro sign
  "\u03bcs": 1e-3, // Greek mu
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/** Parses a Go duration string (days, "7d", also accepted). Returns undefined when the text is not one. */
export function parseGoDuration(text: string): number | undefined {
  let s = text;
  let sign = 1;
  if (s.startsWith("-") || s.startsWith("+")) {
    if (s[0] === "-") sign = -1;
    s = s.slice(1);
  }
  if (s === "0") return 0;
  if (s === "") return undefined;
  let total = 0;
  const part = /^(\d+\.?\d*|\.\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h|d)/;
  while (s.length > 0) {
    const m = part.exec(s);
    if (!m) return undefined;
    total += Number(m[1]) * DURATION_UNITS_MS[m[2]!]!;
    s = s.slice(m[0].length);
  }
  return sign * total;
}

/** Formats milliseconds the way Go prints a time.Duration (e.g. "1h30m0s", "500ms"). */
export function formatDuration(ms: number): string {
  if (ms === 0) return "0s";
  const neg = ms < 0;
  let rest = Math.abs(ms);
  if (rest < 1000) return `${neg ? "-" : ""}${trimNumber(rest)}ms`;
  const h = Math.floor(rest / 3_600_000);
  rest -= h * 3_600_000;
  const m = Math.floor(rest / 60_000);
  rest -= m * 60_000;
  const s = rest / 1000;
  let out = "";
  if (h > 0) out += `${h}h`;
  if (h > 0 || m > 0) out += `${m}m`;
  out += `${trimNumber(s)}s`;
  return (neg ? "-" : "") + out;
}

function trimNumber(n: number): string {
  return String(Number(n.toFixed(6)));
}

const SIZE_UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1024,
  kib: 1024,
  kb: 1000,
  m: 1024 ** 2,
  mib: 1024 ** 2,
  mb: 1000 ** 2,
  g: 1024 ** 3,
  gib: 1024 ** 3,
  gb: 1000 ** 3,
  t: 1024 ** 4,
  tib: 1024 ** 4,
  tb: 1000 ** 4,
};

/**
 * Parses a size: "10GiB", "512M" (single letters are binary, like systemd's
 * MemoryMax), "1.5GB" (decimal), "4096" (bytes). Returns undefined when the
 * text is not a size.
 */
export function parseSize(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*([a-zA-Z]*)\s*$/.exec(text);
  if (!m) return undefined;
  const unit = SIZE_UNITS[m[2]!.toLowerCase()];
  if (unit === undefined) return undefined;
  return Math.round(Number(m[1]) * unit);
}

/** Formats bytes with the largest binary unit that divides them evenly ("10GiB", "1536MiB"). */
export function formatSize(bytes: number): string {
  for (const [unit, n] of [["TiB", 1024 ** 4], ["GiB", 1024 ** 3], ["MiB", 1024 ** 2], ["KiB", 1024]] as const) {
    if (bytes >= n && bytes % n === 0) return `${bytes / n}${unit}`;
  }
  return String(bytes);
}
