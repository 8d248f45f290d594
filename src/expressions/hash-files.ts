import { constants } from "node:fs";
import { createRequire } from "node:module";
import { open, opendir, readlink, realpath, stat } from "node:fs/promises";
import path from "node:path";
import { ExpressionError } from "./types.js";

interface CompiledPattern {
  negate: boolean;
  regex: RegExp;
  /** Directory to start walking from: the pattern's segments before the first wildcard. */
  root: string;
}

const GLOB_CHARS = /[*?[]/;

// node:crypto is loaded on first use, not with the module: most jobs never hash a file, and loading it costs
// milliseconds of every exec and job worker start. (A require, not import(): the engine script runs in a vm.Script
// without a dynamic-import hook.)
let hashes: typeof import("node:crypto").createHash | undefined;
function createHash(algorithm: string): import("node:crypto").Hash {
  hashes ??= (createRequire(import.meta.url)("node:crypto") as typeof import("node:crypto")).createHash;
  return hashes(algorithm);
}

/**
 * GitHub's hashFiles(): patterns (one per argument, or one per line) are
 * evaluated in order against files inside the workspace, `!` patterns
 * exclude, a pattern matching a directory matches everything under it.
 * Every matched file is hashed with sha256; the result is the sha256 of the
 * concatenated binary digests, or "" when nothing matched.
 *
 * Files are read in pieces with the event loop free in between, and `signal`
 * stops the work. Only files whose real path lies inside the workspace's
 * real path count: a symlink out of the workspace is not followed, and the
 * check is made again on the file actually opened.
 */
export async function hashFiles(workspace: string, patterns: string[], signal?: AbortSignal): Promise<string> {
  const matched = await matchFiles(workspace, patterns, signal);
  if (matched.length === 0) return "";
  const wsReal = await realpath(workspace);
  const total = createHash("sha256");
  let hashed = 0;
  for (const f of matched) {
    const digest = await hashFile(f, wsReal, signal);
    if (digest === undefined) continue;
    total.update(digest);
    hashed++;
  }
  return hashed === 0 ? "" : total.digest("hex");
}

/** The files hashFiles() would hash, sorted by path. */
export async function matchFiles(workspace: string, patterns: string[], signal?: AbortSignal): Promise<string[]> {
  const ws = path.resolve(workspace);
  const compiled = patterns
    .flatMap((p) => p.split("\n"))
    .map((p) => p.trim())
    .filter((p) => p !== "" && !p.startsWith("#"))
    .map((p) => compilePattern(ws, p));
  const includes = compiled.filter((p) => !p.negate);
  if (includes.length === 0) return [];
  let wsReal: string;
  try {
    wsReal = await realpath(ws);
  } catch {
    return [];
  }
  const files = new Set<string>();
  const walker = { wsReal, files, ancestors: new Set<string>(), signal };
  for (const root of new Set(includes.map((p) => p.root))) {
    // Only files inside the workspace count, so never walk above it.
    if (root === ws || root.startsWith(ws + path.sep)) await walk(root, walker);
    else if (ws.startsWith(root === "/" ? "/" : root + path.sep)) await walk(ws, walker);
  }
  return [...files].filter((f) => f.startsWith(ws + path.sep) && matches(compiled, f)).sort();
}

function inside(real: string, wsReal: string): boolean {
  return real === wsReal || real.startsWith(wsReal === "/" ? "/" : wsReal + path.sep);
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

interface Walker {
  wsReal: string;
  files: Set<string>;
  ancestors: Set<string>;
  signal: AbortSignal | undefined;
}

/**
 * Collects files below `start`, following symlinks that stay inside the
 * workspace; a directory that is its own ancestor is not entered again.
 */
async function walk(start: string, w: Walker): Promise<void> {
  w.signal?.throwIfAborted();
  let real: string;
  let st;
  try {
    real = await realpath(start);
    if (!inside(real, w.wsReal)) return;
    st = await stat(real);
  } catch {
    return;
  }
  if (st.isFile()) {
    w.files.add(start);
    return;
  }
  if (!st.isDirectory() || w.ancestors.has(real)) return;
  const names: string[] = [];
  try {
    for await (const d of await opendir(real)) names.push(d.name);
  } catch {
    return;
  }
  w.ancestors.add(real);
  for (const name of names) await walk(path.join(start, name), w);
  w.ancestors.delete(real);
}

const CHUNK = 1 << 20;

/** The file's sha256, or undefined when what was opened is not a regular file inside the workspace. */
async function hashFile(file: string, wsReal: string, signal: AbortSignal | undefined): Promise<Buffer | undefined> {
  signal?.throwIfAborted();
  let fh;
  try {
    // O_NONBLOCK: a FIFO swapped in must not hang the open.
    fh = await open(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch {
    return undefined;
  }
  try {
    // What was opened, after every link and any race: it must still be inside.
    const opened = await readlink(`/proc/self/fd/${fh.fd}`).catch(() => undefined);
    if (opened === undefined || !inside(opened, wsReal)) return undefined;
    if (!(await fh.stat()).isFile()) return undefined;
    const h = createHash("sha256");
    const buf = Buffer.allocUnsafe(CHUNK);
    for (;;) {
      signal?.throwIfAborted();
      const { bytesRead } = await fh.read(buf, 0, CHUNK, null);
      if (bytesRead <= 0) break;
      h.update(buf.subarray(0, bytesRead));
    }
    return h.digest();
  } finally {
    await fh.close();
  }
}

let results: Map<string, string> | undefined;

/** Thrown inside an evaluation when a hashFiles() result is not known yet. */
export class HashFilesPending extends Error {
  constructor(
    readonly workspace: string,
    readonly patterns: string[],
  ) {
    super("hashFiles() result pending");
    this.name = "HashFilesPending";
  }
}

const resultKey = (workspace: string, patterns: string[]) => JSON.stringify([workspace, patterns]);

/** hashFiles() inside a (synchronous) evaluation: a result computed by withHashFiles, or pending. */
export function hashFilesResult(workspace: string, patterns: string[]): string {
  if (results === undefined) {
    throw new ExpressionError("hashFiles() is not available here: it is only evaluated in a job's steps");
  }
  const v = results.get(resultKey(workspace, patterns));
  if (v === undefined) throw new HashFilesPending(workspace, patterns);
  return v;
}

/**
 * Runs a synchronous evaluation that may call hashFiles(): each call the
 * evaluation needs is computed asynchronously (streamed, stopped by
 * `signal`), then the evaluation runs again with the result. Evaluation has
 * no side effects, so running it again is safe.
 */
export async function withHashFiles<T>(evaluate: () => T, signal?: AbortSignal): Promise<T> {
  const mine = new Map<string, string>();
  for (let round = 0; ; round++) {
    let pending: HashFilesPending;
    const outer = results;
    results = mine;
    try {
      return evaluate();
    } catch (err) {
      if (!(err instanceof HashFilesPending) || round >= 255) throw err;
      pending = err;
    } finally {
      results = outer;
    }
    mine.set(resultKey(pending.workspace, pending.patterns), await hashFiles(pending.workspace, pending.patterns, signal));
  }
}
