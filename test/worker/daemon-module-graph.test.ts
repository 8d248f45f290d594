// The daemon's process loads no engine, workflow parser or expression
// library: walks the runtime (non-type) imports reachable from the CLI entry
// without a dynamic import() and checks what they reach. The job worker
// (src/worker/entry.ts) is the one that loads them.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, existsSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const SRC = resolve(import.meta.dirname, "../../src");
const FORBIDDEN_DIRS = ["engine", "workflow", "expressions", "actions", "exec"];
const FORBIDDEN_PACKAGES = ["@actions/expressions", "@actions/workflow-parser"];
// A leaf that loads nothing of the engine: the payload's job key and workflow name read with plain YAML
// (no workflow parser, no expressions).
const ALLOWED = new Set(["workflow/task-job.ts"]);

/** Static runtime imports of one file: relative module paths and package names. */
function runtimeImports(file: string): { local: string[]; packages: string[] } {
  const text = readFileSync(file, "utf8").replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  const local: string[] = [];
  const packages: string[] = [];
  const re = /(?:^|\n|;)\s*(import|export)\s+(type\s+)?([^"';]*?)\s*from\s+["']([^"']+)["']|(?:^|\n|;)\s*import\s+["']([^"']+)["']/g;
  for (const m of text.matchAll(re)) {
    const spec = m[4] ?? m[5]!;
    if (m[2]) continue; // import type / export type
    const clause = m[3] ?? "";
    // `import { type A, type B }`: only types, elided at build time.
    const braces = /^\{([^}]*)\}$/.exec(clause.trim());
    if (braces && braces[1]!.split(",").map((s) => s.trim()).filter(Boolean).every((s) => s.startsWith("type "))) continue;
    if (spec.startsWith(".")) local.push(resolve(dirname(file), spec.replace(/\.js$/, ".ts")));
    else packages.push(spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0]!);
  }
  return { local, packages };
}

function closure(entry: string): { files: Set<string>; packages: Map<string, string> } {
  const files = new Set<string>();
  const packages = new Map<string, string>();
  const todo = [entry];
  while (todo.length > 0) {
    const f = todo.pop()!;
    if (files.has(f)) continue;
    assert.ok(existsSync(f), `imported file missing: ${f}`);
    files.add(f);
    const { local, packages: pk } = runtimeImports(f);
    for (const p of pk) if (!packages.has(p)) packages.set(p, relative(SRC, f));
    todo.push(...local);
  }
  return { files, packages };
}

describe("daemon module graph", () => {
  for (const entry of ["cli/entry.ts", "daemon/index.ts", "cli/commands/daemon.ts", "cli/commands/one-job.ts", "worker/index.ts"]) {
    it(`${entry} loads no engine, workflow parser or expression library`, () => {
      const { files, packages } = closure(join(SRC, entry));
      const bad = [...files].map((f) => relative(SRC, f)).filter((f) => FORBIDDEN_DIRS.includes(f.split("/")[0]!) && !ALLOWED.has(f));
      assert.deepEqual(bad, []);
      const badPk = FORBIDDEN_PACKAGES.filter((p) => packages.has(p)).map((p) => `${p} (from ${packages.get(p)})`);
      assert.deepEqual(badPk, []);
    });
  }

  it("the job worker does load the engine (the walk sees through imports)", () => {
    const { files, packages } = closure(join(SRC, "worker/entry.ts"));
    assert.ok([...files].some((f) => relative(SRC, f).startsWith("engine/")));
    assert.ok(packages.has("@actions/workflow-parser") || packages.has("@actions/expressions"), [...packages.keys()].join(", "));
  });
});
