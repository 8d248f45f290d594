// Replaces registered secret values (and the encodings GitHub's runner also
// masks) with `***` in log text. Matching reports the union of every
// occurrence of every value, so overlapping secrets are all hidden.

import { PatternAutomaton } from "./pattern-automaton.js";

const MASK = "***";
/** Encoded forms shorter than this would hide ordinary text. */
const MIN_DERIVED_LENGTH = 6;
/**
 * At most this many values are registered per job (secrets and tokens come
 * first, so only a job's own `::add-mask::` values can be refused), and at
 * most MAX_MASK_CHARS code units of patterns, encodings included: the
 * scanner's memory is proportional to them.
 */
export const MAX_MASKS = 10_000;
export const MAX_MASK_CHARS = 4 * 1024 * 1024;

/**
 * Patterns are kept in a few automata of geometrically decreasing size: a new
 * value builds a small automaton and merges only with neighbours of a similar
 * size, so registering n values costs O(total length × log n), never a
 * rebuild per value. Once as much text has been scanned as the patterns are
 * long, the automata are merged into one, so a steady job scans with one
 * automaton (that rebuild is paid for by the text already scanned).
 */
export class Masker {
  private readonly values = new Set<string>();
  private readonly patterns = new Set<string>();
  private pending: string[] = [];
  private levels: PatternAutomaton[] = [];
  private longest = 0;
  private accepted = 0;
  private patternChars = 0;
  private scannedSinceBuild = 0;
  private readonly flat: number[] = [];
  /** Changes whenever a value is registered. */
  version = 0;
  /** How many values were refused because a cap was reached. */
  refused = 0;

  /**
   * Registers a secret: the value, each of its lines, and its encodings.
   * False when it was refused because the job reached MAX_MASKS or MAX_MASK_CHARS.
   */
  add(value: string | undefined): boolean {
    if (value === undefined || value.trim() === "" || this.values.has(value)) return true;
    const candidates = [value];
    if (value.includes("\n") || value.includes("\r")) {
      for (const line of value.split(/\r?\n|\r/)) if (line.trim() !== "") candidates.push(line);
    }
    const fresh = new Set<string>();
    for (const v of candidates) {
      for (const p of [v, ...encodedVariants(v).filter((d) => d.length >= MIN_DERIVED_LENGTH)]) {
        if (!this.patterns.has(p)) fresh.add(p);
      }
    }
    let chars = 0;
    for (const p of fresh) chars += p.length;
    if (this.accepted >= MAX_MASKS || this.patternChars + chars > MAX_MASK_CHARS) {
      this.refused++;
      return false;
    }
    this.accepted++;
    this.version++;
    this.values.add(value);
    this.patternChars += chars;
    for (const p of fresh) {
      this.patterns.add(p);
      this.pending.push(p);
    }
    for (const v of candidates) if (v.length > this.longest) this.longest = v.length;
    return true;
  }

  /** Length of the longest registered value (a split line must not cut one). */
  get maxLength(): number {
    return this.longest;
  }

  /** Number of registered values (not counting their encodings). */
  get size(): number {
    return this.values.size;
  }

  has(text: string): boolean {
    return this.cover(text).length > 0;
  }

  /** Merged [start, end) ranges of every registered value found in `text`. */
  ranges(text: string): Array<[number, number]> {
    const flat = this.cover(text);
    const out: Array<[number, number]> = [];
    for (let i = 0; i < flat.length; i += 2) out.push([flat[i]!, flat[i + 1]!]);
    return out;
  }

  /**
   * The ranges of text[start, end) covered by registered values, as flat
   * [start, end) pairs of positions in `text`, sorted and merged, in `out`
   * (by default an array reused by the next call).
   */
  cover(text: string, start = 0, end = text.length, out: number[] = this.flat): number[] {
    const levels = this.compile();
    out.length = 0;
    if (levels.length === 0 || end <= start) return out;
    this.scannedSinceBuild += end - start;
    if (levels.length === 1) {
      levels[0]!.scan(text, out, start, end);
      return out;
    }
    const found: Array<[number, number]> = [];
    for (const level of levels) {
      level.scan(text, out, start, end);
      for (let i = 0; i < out.length; i += 2) found.push([out[i]!, out[i + 1]!]);
      out.length = 0;
    }
    found.sort((x, y) => x[0] - y[0]);
    for (const [s, e] of found) {
      if (out.length > 0 && s <= out[out.length - 1]!) {
        if (e > out[out.length - 1]!) out[out.length - 1] = e;
      } else {
        out.push(s, e);
      }
    }
    return out;
  }

  mask(text: string): string {
    const flat = this.cover(text);
    if (flat.length === 0) return text;
    let out = "";
    let pos = 0;
    for (let i = 0; i < flat.length; i += 2) {
      out += text.slice(pos, flat[i]) + MASK;
      pos = flat[i + 1]!;
    }
    return out + text.slice(pos);
  }

  private compile(): PatternAutomaton[] {
    if (this.pending.length > 0) {
      let patterns = this.pending.sort();
      this.pending = [];
      // Merge with the last level while it is less than twice as big: sizes
      // then at least halve from level to level.
      for (let last = this.levels.at(-1); last && last.chars < 2 * sum(patterns); last = this.levels.at(-1)) {
        patterns = mergeSorted(last.patterns, patterns);
        this.levels.pop();
      }
      this.levels.push(new PatternAutomaton(patterns));
      this.scannedSinceBuild = 0;
    } else if (this.levels.length > 1 && this.scannedSinceBuild > this.patternChars) {
      this.levels = [new PatternAutomaton(this.levels.map((l) => l.patterns).reduce(mergeSorted))];
      this.scannedSinceBuild = 0;
    }
    return this.levels;
  }
}

/** Two sorted lists as one (the automaton then skips its sort). */
function mergeSorted(a: readonly string[], b: readonly string[]): string[] {
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) out.push(a[i]! <= b[j]! ? a[i++]! : b[j++]!);
  while (i < a.length) out.push(a[i++]!);
  while (j < b.length) out.push(b[j++]!);
  return out;
}

function sum(patterns: readonly string[]): number {
  let n = 0;
  for (const p of patterns) n += p.length;
  return n;
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
  // A lone surrogate has no URI encoding (encodeURIComponent throws).
  if (!/[\ud800-\udfff]/.test(value.replace(/[\ud800-\udbff][\udc00-\udfff]/g, ""))) {
    out.push(encodeURIComponent(value));
    out.push(encodeURIComponent(value).replace(/[!'()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase()));
  }
  out.push(value.replace(/"/g, '\\"'));
  out.push(value.replace(/'/g, "''"));
  out.push(
    value.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;" })[c]!),
  );
  return out;
}
