// Node 20 keeps no compiled code between runs for ES modules, and compiling the engine's megabyte of
// JavaScript is a large part of starting `exec` or a job worker. The engine is therefore also bundled as one
// script (dist/engine.js: a CommonJS module function, wrapper included) that this loader compiles with the V8
// code cache the build wrote next to it (engine.js.cache, taken after a warm-up job, so it holds the functions a
// job runs, not only the top level).
// V8 checks the cache against its version and flags and compiles from source when it does not fit.

import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { Script } from "node:vm";

/** The entry points of dist/engine.js (src/cli/engine-bundle.ts). */
export interface EngineBundle {
  runExec(argv: string[]): Promise<void>;
  runWorker(): Promise<void>;
}

/** Set by the build's warm-up run: write the code cache when the process exits. */
export const WRITE_CODE_CACHE_ENV = "NATIVE_RUNNER_WRITE_CODE_CACHE";

/** engine.js next to the module at `moduleUrl`, or undefined when there is none (running from source). */
export function loadEngineBundle(moduleUrl: string): EngineBundle | undefined {
  const file = fileURLToPath(new URL("engine.js", moduleUrl));
  let source: string;
  try {
    // esbuild writes non-ASCII characters of strings and identifiers as escapes, so only a comment can hold one;
    // read as Latin-1 the text is the same program, and reading skips UTF-8 decoding (2 ms of a megabyte).
    source = readFileSync(file, "latin1");
  } catch {
    return undefined;
  }
  let cachedData: Buffer | undefined;
  try {
    cachedData = readFileSync(`${file}.cache`);
  } catch {
    cachedData = undefined;
  }
  const script = new Script(source, {
    filename: file,
    cachedData,
  });
  if (process.env[WRITE_CODE_CACHE_ENV] === "1") {
    process.once("exit", () => writeFileSync(`${file}.cache`, script.createCachedData()));
  }
  const mod = { exports: {} as EngineBundle };
  (script.runInThisContext() as (...a: unknown[]) => void)(mod.exports, createRequire(file), mod, file, dirname(file));
  return mod.exports;
}
