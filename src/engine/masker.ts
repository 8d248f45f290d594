// Replaces registered secret values (and the encodings GitHub's runner also
// masks) with `***` in log text. Matching reports the union of every
// occurrence of every value, so overlapping secrets are all hidden.

const MASK = "***";
/** Encoded forms shorter than this would hide ordinary text. */
const MIN_DERIVED_LENGTH = 6;

export class Masker {
  private readonly values = new Set<string>();
  private compiled: Compiled | undefined;
  private dirty = false;
  private longest = 0;

  /** Registers a secret: the value, each of its lines, and its encodings. */
  add(value: string | undefined): void {
    if (value === undefined || value.trim() === "") return;
    const before = this.values.size;
    this.addOne(value);
    if (value.includes("\n") || value.includes("\r")) {
      for (const line of value.split(/\r?\n|\r/)) {
        if (line.trim() !== "") this.addOne(line);
      }
    }
    if (this.values.size !== before) this.dirty = true;
  }

  private addOne(value: string): void {
    this.values.add(value);
    for (const derived of encodedVariants(value)) {
      if (derived.length >= MIN_DERIVED_LENGTH && derived !== value) this.values.add(derived);
    }
  }

  /** Length of the longest registered value (a split line must not cut one). */
  get maxLength(): number {
    this.compile();
    return this.longest;
  }

  get size(): number {
    return this.values.size;
  }

  has(text: string): boolean {
    return this.ranges(text).length > 0;
  }

  /** Merged [start, end) ranges of every registered value found in `text`. */
  ranges(text: string): Array<[number, number]> {
    const c = this.compile();
    if (!c) return [];
    const found: Array<[number, number]> = [];
    if (c.long) scanLong(text, c.long, found);
    if (c.short) {
      const re = c.short;
      re.lastIndex = 0;
      let m: RegExpExecArray | null;
      while ((m = re.exec(text)) !== null) {
        found.push([m.index, m.index + m[0].length]);
        // Overlapping values must all be hidden: look again one character later.
        re.lastIndex = m.index + 1;
      }
      found.sort((a, b) => a[0] - b[0]);
    }
    return merge(found);
  }

  mask(text: string): string {
    return applyRanges(text, this.ranges(text));
  }

  private compile(): Compiled | undefined {
    if (this.dirty || (this.compiled === undefined && this.values.size > 0)) {
      const sorted = [...this.values].sort((a, b) => b.length - a.length);
      this.longest = sorted[0]?.length ?? 0;
      const long = sorted.filter((v) => v.length >= MIN_SCAN_LENGTH);
      const short = sorted.filter((v) => v.length < MIN_SCAN_LENGTH);
      this.compiled = sorted.length
        ? {
            long: long.length ? buildScanner(long) : undefined,
            short: short.length ? new RegExp(short.map(escapeRegExp).join("|"), "g") : undefined,
          }
        : undefined;
      this.dirty = false;
    }
    return this.compiled;
  }
}

interface Compiled {
  long: Scanner | undefined;
  /** Values too short for the block scanner (rare: short user secrets). */
  short: RegExp | undefined;
}

// Values of at least this length go through a multi-pattern block scanner
// (Wu-Manber): it looks at one 3-character block per window and usually
// jumps several characters ahead, so clean text costs a fraction of a
// character-by-character scan. Candidate windows are confirmed by a sticky
// regex whose alternatives are sorted longest first.
const MIN_SCAN_LENGTH = 4;
const BLOCK = 3;
const TABLE_BITS = 16;
const TABLE_MASK = (1 << TABLE_BITS) - 1;

interface Scanner {
  /** Window length: the shortest value's length, capped. */
  m: number;
  shift: Uint8Array;
  /** First-two-character filter of the window start, before the regex runs. */
  heads: Uint8Array;
  sticky: RegExp;
}

function blockHash(a: number, b: number, c: number): number {
  return ((a << 10) ^ (b << 5) ^ c) & TABLE_MASK;
}

function headHash(a: number, b: number): number {
  return ((a << 7) ^ b) & TABLE_MASK;
}

function buildScanner(values: string[]): Scanner {
  let m = Math.min(...values.map((v) => v.length), 32);
  m = Math.max(m, BLOCK);
  const shift = new Uint8Array(TABLE_MASK + 1).fill(m - BLOCK + 1);
  const heads = new Uint8Array(TABLE_MASK + 1);
  for (const v of values) {
    for (let q = BLOCK; q <= m; q++) {
      const h = blockHash(v.charCodeAt(q - 3), v.charCodeAt(q - 2), v.charCodeAt(q - 1));
      const s = m - q;
      if (s < shift[h]!) shift[h] = s;
    }
    heads[headHash(v.charCodeAt(0), v.charCodeAt(1))] = 1;
  }
  return { m, shift, heads, sticky: new RegExp(values.map(escapeRegExp).join("|"), "y") };
}

function scanLong(text: string, sc: Scanner, out: Array<[number, number]>): void {
  const { m, shift, heads, sticky } = sc;
  const n = text.length;
  let pos = m - 1;
  while (pos < n) {
    const s = shift[blockHash(text.charCodeAt(pos - 2), text.charCodeAt(pos - 1), text.charCodeAt(pos))]!;
    if (s > 0) {
      pos += s;
      continue;
    }
    const start = pos - m + 1;
    if (heads[headHash(text.charCodeAt(start), text.charCodeAt(start + 1))] === 1) {
      sticky.lastIndex = start;
      const hit = sticky.exec(text);
      if (hit !== null) out.push([start, start + hit[0].length]);
    }
    pos++;
  }
}

function merge(found: Array<[number, number]>): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const [s, e] of found) {
    const last = out[out.length - 1];
    if (last && s <= last[1]) last[1] = Math.max(last[1], e);
    else out.push([s, e]);
  }
  return out;
}

export function applyRanges(text: string, ranges: Array<[number, number]>): string {
  if (ranges.length === 0) return text;
  let out = "";
  let pos = 0;
  for (const [s, e] of ranges) {
    out += text.slice(pos, s) + MASK;
    pos = e;
  }
  return out + text.slice(pos);
}

function escapeRegExp(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|/-]/g, "\\$&");
}

/** The encodings GitHub's runner registers for every secret. */
export function encodedVariants(value: string): string[] {
  const out: string[] = [];
  const bytes = Buffer.from(value, "utf8");
  for (let shift = 0; shift < 3; shift++) {
    if (shift > 0 && bytes.length <= shift) break;
    const b64 = bytes.subarray(shift).toString("base64");
    out.push(b64);
    // The last characters depend on the bytes that follow the secret in the
    // encoded stream, so also match the stable prefix.
    const n = bytes.length - shift;
    out.push(b64.slice(0, Math.floor(n / 3) * 4 + (n % 3)));
  }
  out.push(JSON.stringify(value).slice(1, -1));
  out.push(encodeURIComponent(value));
  out.push(encodeURIComponent(value).replace(/[!'()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase()));
  out.push(value.replace(/"/g, '\\"'));
  out.push(value.replace(/'/g, "''"));
  out.push(
    value.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;" })[c]!),
  );
  return out;
}
