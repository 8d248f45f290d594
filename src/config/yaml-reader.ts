// Typed, path-aware access to a parsed YAML document. Each getter marks its
// key as known, checks the value and records a problem that names the key
// path, its position, the value and what was expected. Keys nobody asked for
// become warnings when a section is finished.

import { isMap, isScalar, LineCounter, type Document, type Node } from "yaml";
import { parseGoDuration, parseSize } from "./units.js";
import { showValue } from "./errors.js";

export interface ReadContext {
  doc: Document | undefined;
  lines: LineCounter | undefined;
  file: string | undefined;
  errors: string[];
  warnings: string[];
}

export function newReadContext(doc: Document | undefined, lines: LineCounter | undefined, file: string | undefined): ReadContext {
  return { doc, lines, file, errors: [], warnings: [] };
}

type Path = (string | number)[];

export function describePath(path: Path): string {
  let out = "";
  for (const p of path) out += typeof p === "number" ? `[${p}]` : out === "" ? p : `.${p}`;
  return out;
}

export class Section {
  private readonly used = new Set<string>();
  readonly data: Record<string, unknown>;

  constructor(
    readonly ctx: ReadContext,
    readonly path: Path,
    data: unknown,
  ) {
    this.data = data !== null && typeof data === "object" && !Array.isArray(data) ? (data as Record<string, unknown>) : {};
  }

  /** Where a key path sits in the file, as `file:line:col: `. */
  where(path: Path, keyOnly = false): string {
    const { doc, lines, file } = this.ctx;
    if (!doc || !lines) return "";
    let node: unknown;
    if (keyOnly) {
      const parent = path.length > 1 ? doc.getIn(path.slice(0, -1), true) : doc.contents;
      if (isMap(parent)) {
        const last = path[path.length - 1];
        node = parent.items.find((p) => isScalar(p.key) && String(p.key.value) === String(last))?.key;
      }
    } else {
      node = path.length === 0 ? doc.contents : doc.getIn(path, true);
    }
    const range = (node as Node | undefined)?.range;
    if (!range) return file ? `${file}: ` : "";
    const pos = lines.linePos(range[0]);
    return `${file ?? "config"}:${pos.line}:${pos.col}: `;
  }

  problem(key: string | Path, value: unknown, issue: string, expected: string): undefined {
    const path = [...this.path, ...(Array.isArray(key) ? key : [key])];
    this.ctx.errors.push(`${this.where(path)}${describePath(path)}: ${showValue(value)} ${issue} (expected ${expected})`);
    return undefined;
  }

  warn(key: string | Path, message: string): void {
    const path = [...this.path, ...(Array.isArray(key) ? key : [key])];
    this.ctx.warnings.push(`${this.where(path, true)}${describePath(path)}: ${message}`);
  }

  /** Raw value of a key; null (an empty YAML value) reads as absent. */
  raw(key: string): unknown {
    this.used.add(key);
    const v = this.data[key];
    return v === null ? undefined : v;
  }

  has(key: string): boolean {
    return this.data[key] !== undefined && this.data[key] !== null;
  }

  /** Marks keys as recognised without reading them (e.g. keys of other runners that we ignore). */
  ignore(keys: readonly string[], why: string): void {
    for (const k of keys) {
      if (k in this.data) {
        this.used.add(k);
        this.warn(k, why);
      }
    }
  }

  section(key: string): Section {
    const v = this.raw(key);
    if (v !== undefined && (typeof v !== "object" || Array.isArray(v))) {
      this.problem(key, v, "is not a mapping", "a mapping of keys to values");
      return new Section(this.ctx, [...this.path, key], {});
    }
    return new Section(this.ctx, [...this.path, key], v);
  }

  str(key: string): string | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    if (typeof v === "string") return v;
    if (typeof v === "number" || typeof v === "boolean") return this.scalarSource(key, v);
    return this.problem(key, v, "is not a string", "a string");
  }

  bool(key: string): boolean | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    if (typeof v === "boolean") return v;
    if (typeof v === "string") {
      const s = v.trim().toLowerCase();
      if (["true", "yes", "on", "y"].includes(s)) return true;
      if (["false", "no", "off", "n"].includes(s)) return false;
    }
    return this.problem(key, v, "is not a boolean", "true or false");
  }

  int(key: string, opts: { min?: number; max?: number; expected?: string } = {}): number | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    const expected = opts.expected ?? rangeText("an integer", opts.min, opts.max);
    const n = typeof v === "number" ? v : typeof v === "string" && /^\s*[-+]?\d+\s*$/.test(v) ? Number(v) : NaN;
    if (typeof v !== "number" && Number.isNaN(n)) return this.problem(key, v, "is not a number", expected);
    if (!Number.isInteger(n)) return this.problem(key, v, "is not an integer", expected);
    if ((opts.min !== undefined && n < opts.min) || (opts.max !== undefined && n > opts.max)) {
      return this.problem(key, v, "is out of range", expected);
    }
    return n;
  }

  num(key: string, opts: { min?: number; expected?: string } = {}): number | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    const expected = opts.expected ?? rangeText("a number", opts.min, undefined);
    const n = typeof v === "number" ? v : typeof v === "string" && v.trim() !== "" ? Number(v) : NaN;
    if (!Number.isFinite(n)) return this.problem(key, v, "is not a number", expected);
    if (opts.min !== undefined && n < opts.min) return this.problem(key, v, "is out of range", expected);
    return n;
  }

  /** A duration in ms. Go syntax ("90s", "1h30m", "500ms") or a plain number of seconds. */
  duration(key: string): number | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    const expected = 'a duration such as "30s", "1h30m" or "500ms", or a number of seconds';
    if (typeof v === "number") {
      if (!Number.isFinite(v)) return this.problem(key, v, "is not a duration", expected);
      return v * 1000;
    }
    if (typeof v !== "string") return this.problem(key, v, "is not a duration", expected);
    const ms = parseGoDuration(v.trim());
    if (ms === undefined) return this.problem(key, v, "is not a duration", expected);
    return ms;
  }

  /** A size in bytes: "10GiB", "512M", "1.5GB" or a number of bytes. */
  size(key: string): number | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    const expected = 'a size such as "10GiB", "512M" or a number of bytes';
    if (typeof v === "number") {
      if (!Number.isFinite(v) || v < 0) return this.problem(key, v, "is not a size", expected);
      return Math.round(v);
    }
    if (typeof v !== "string") return this.problem(key, v, "is not a size", expected);
    const n = parseSize(v);
    if (n === undefined) return this.problem(key, v, "is not a size", expected);
    return n;
  }

  oneOf<T extends string>(key: string, choices: readonly T[], aliases: Record<string, T> = {}): T | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    if (typeof v === "string") {
      const s = v.trim().toLowerCase();
      if ((choices as readonly string[]).includes(s)) return s as T;
      if (s in aliases) return aliases[s];
    }
    return this.problem(key, v, "is not allowed", `one of ${choices.join(", ")}`);
  }

  strList(key: string): string[] | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    if (!Array.isArray(v)) return this.problem(key, v, "is not a list", "a list of strings");
    const out: string[] = [];
    let ok = true;
    v.forEach((item, i) => {
      if (typeof item === "string") out.push(item);
      else if (typeof item === "number" || typeof item === "boolean") out.push(String(item));
      else {
        ok = false;
        this.problem([key, i], item, "is not a string", "a string");
      }
    });
    return ok ? out : undefined;
  }

  strMap(key: string): Record<string, string> | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    if (typeof v !== "object" || Array.isArray(v)) return this.problem(key, v, "is not a mapping", "a mapping of names to strings");
    const out: Record<string, string> = {};
    let ok = true;
    for (const [k, item] of Object.entries(v as Record<string, unknown>)) {
      if (item === null || item === undefined) out[k] = "";
      else if (typeof item === "string") out[k] = item;
      else if (typeof item === "number" || typeof item === "boolean") out[k] = this.scalarSource([key, k], item);
      else {
        ok = false;
        this.problem([key, k], item, "is not a string", "a string");
      }
    }
    return ok ? out : undefined;
  }

  /** Warns about keys of this section that no getter asked for. */
  finish(): void {
    for (const k of Object.keys(this.data)) {
      if (!this.used.has(k)) this.warn(k, "unknown key, ignored");
    }
  }

  // The text the user wrote for a non-string scalar used as a string ("1.10" stays "1.10").
  private scalarSource(key: string | Path, v: number | boolean): string {
    const node = this.ctx.doc?.getIn([...this.path, ...(Array.isArray(key) ? key : [key])], true);
    if (isScalar(node) && typeof node.source === "string") return node.source;
    return String(v);
  }
}

function rangeText(what: string, min: number | undefined, max: number | undefined): string {
  if (min !== undefined && max !== undefined) return `${what} from ${min} to ${max}`;
  if (min !== undefined) return `${what} \u2265 ${min}`;
  if (max !== undefined) return `${what} \u2264 ${max}`;
  return what;
}

