import { createHash } from "node:crypto";
import { closeSync, openSync, readSync, readdirSync, realpathSync, statSync } from "node:fs";
import path from "node:path";
import { ExpressionError } from "./types.js";

interface CompiledPattern {
  negate: boolean;
  regex: RegExp;
  /** Directory to start walking from: the pattern's segments before the first wildcard. */
  root: string;
}

const GLOB_CHARS = /[*?[]/;

/**
 * GitHub's hashFiles(): patterns (one per argument, or one per line) are
 * evaluated in order against files inside the workspace, `!` patterns
 * exclude, a pattern matching a directory matches everything under it.
 * Every matched file is hashed with sha256; the result is the sha256 of the
 * concatenated binary digests, or "" when nothing matched.
 */
export function hashFiles(workspace: string, patterns: string[]): string {
  const matched = matchFiles(workspace, patterns);
  if (matched.length === 0) return "";
  const total = createHash("sha256");
  for (const f of matched) total.update(hashFile(f));
  return total.digest("hex");
}

/** The files hashFiles() would hash, sorted by path. */
export function matchFiles(workspace: string, patterns: string[]): string[] {
  const ws = path.resolve(workspace);
  const compiled = patterns
    .flatMap((p) => p.split("\n"))
    .map((p) => p.trim())
    .filter((p) => p !== "" && !p.startsWith("#"))
    .map((p) => compilePattern(ws, p));
  const includes = compiled.filter((p) => !p.negate);
  if (includes.length === 0) return [];

  const files = new Set<string>();
  for (const root of new Set(includes.map((p) => p.root))) {
    // Only files inside the workspace count, so never walk above it.
    if (root === ws || root.startsWith(ws + path.sep)) walk(root, files, new Set());
    else if (ws.startsWith(root === "/" ? "/" : root + path.sep)) walk(ws, files, new Set());
  }
  return [...files].filter((f) => f.startsWith(ws + path.sep) && matches(compiled, f)).sort();
}

function compilePattern(ws: string, raw: string): CompiledPattern {
  let p = raw;
  let negate = false;
  while (p.startsWith("!")) {
    negate = !negate;
    p = p.slice(1).trimStart();
  }
  const segments0 = p.split("/");
  if (segments0.some((seg, i) => (seg === "." && i > 0) || seg === "..")) {
    throw new ExpressionError(`hashFiles('${raw}'): relative pathing '.' and '..' is not allowed in patterns`);
  }
  const abs = path.isAbsolute(p) ? path.normalize(p) : path.join(ws, p);
  const segments = abs.split("/").filter((s, i) => s !== "" || i === 0);
  let re = "";
  const literal: string[] = [];
  let literalDone = false;
  for (const seg of segments.slice(1)) {
    if (!literalDone && !GLOB_CHARS.test(seg)) literal.push(seg.replace(/\\(.)/g, "$1"));
    else literalDone = true;
    re += seg === "**" ? "(?:/[^/]*)*" : "/" + segmentToRegex(seg);
  }
  // A pattern that names a directory also matches everything below it.
  re += "(?:/.*)?";
  return { negate, regex: new RegExp(`^${re}$`), root: "/" + literal.join("/") };
}

function segmentToRegex(seg: string): string {
  let out = "";
  for (let i = 0; i < seg.length; i++) {
    const c = seg[i]!;
    if (c === "\\" && i + 1 < seg.length) {
      out += escapeRegex(seg[++i]!);
    } else if (c === "*") {
      out += "[^/]*";
    } else if (c === "?") {
      out += "[^/]";
    } else if (c === "[") {
      const close = seg.indexOf("]", i + 2);
      if (close < 0) {
        out += "\\[";
        continue;
      }
      let body = seg.slice(i + 1, close);
      if (body.startsWith("!")) body = "^" + body.slice(1);
      out += `[${body.replace(/\\/g, "\\\\")}]`;
      i = close;
    } else {
      out += escapeRegex(c);
    }
  }
  return out;
}

function escapeRegex(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

function matches(patterns: CompiledPattern[], file: string): boolean {
  let included = false;
  for (const p of patterns) {
    if (!p.regex.test(file)) continue;
    included = !p.negate;
  }
  return included;
}

/** Collects files below `start`, following symlinks; a directory that is its own ancestor is not entered again. */
function walk(start: string, files: Set<string>, ancestors: Set<string>): void {
  let st;
  try {
    st = statSync(start);
  } catch {
    return;
  }
  if (st.isFile()) {
    files.add(start);
    return;
  }
  if (!st.isDirectory()) return;
  let real: string;
  let names: string[];
  try {
    real = realpathSync(start);
    names = readdirSync(start);
  } catch {
    return;
  }
  if (ancestors.has(real)) return;
  ancestors.add(real);
  for (const name of names) walk(path.join(start, name), files, ancestors);
  ancestors.delete(real);
}

function hashFile(file: string): Buffer {
  const h = createHash("sha256");
  const fd = openSync(file, "r");
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n <= 0) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return h.digest();
}
