#!/usr/bin/env node
// Enforces the module layering of docs/architecture.md on src/:
//  1. a folder imports only the folders listed for it in LAYERS (one direction);
//  2. a runtime import of another folder goes through that folder's index.ts
//     (its front door); type-only imports may name the defining file, since
//     they vanish at build time.
// Static and dynamic (`import("…")`) imports are both checked. Exit 1 on any
// violation, listing each with file and line.
import { readFileSync, readdirSync, statSync, existsSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), "..", "src");

// Who may import whom. Folders absent from a list are off limits to it.
const LAYERS = {
  cli: ["*"],
  daemon: ["config", "protocol", "host", "observability", "policy", "nix", "cache", "container", "worker"],
  worker: ["engine", "exec", "actions", "workflow", "expressions", "host", "config", "observability", "container", "policy", "nix"],
  exec: ["engine", "actions", "workflow", "expressions", "host", "config", "observability", "container"],
  engine: ["actions", "expressions", "host", "workflow", "config", "observability", "container"],
  container: ["host", "config", "observability"],
  actions: ["workflow", "expressions", "host", "config"],
  workflow: ["expressions"],
  nix: ["config", "host", "observability"],
  host: ["config", "observability"],
  cache: ["config", "observability", "policy"],
  policy: [],
  observability: ["config"],
  protocol: [],
  config: ["policy"],
  expressions: [],
};

// The worker⇄daemon channel speaks in the engine's event and request types;
// a type-only import of them loads nothing, so any folder may name them.
const CONTRACTS = new Set(["engine/events.js", "engine/job-request.js"]);

// Leaves that read a task's payload with nothing but the YAML library: the
// daemon may load them (runs-on, job key) without loading the workflow layer.
// Each must import nothing from src/.
const LEAVES = new Set(["workflow/task-job.js"]);

// Bundle entry points that run on import; reached by path, never through a front door.
const ENTRIES = new Set(["worker/entry.js"]);

function tsFiles(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) {
      if (name !== "gen") out.push(...tsFiles(p));
    } else if (p.endsWith(".ts") && !p.endsWith(".d.ts")) out.push(p);
  }
  return out;
}

const IMPORT = /(?:^|\n)\s*(import|export)\s+(type\s+)?(?:[^"';]*?\sfrom\s+)?["'](\.[^"']+)["']|import\(\s*["'](\.[^"']+)["']\s*\)/g;

const problems = [];
const folders = new Set(readdirSync(SRC).filter((n) => statSync(join(SRC, n)).isDirectory()));
for (const f of Object.keys(LAYERS)) folders.delete(f);
for (const f of folders) problems.push(`src/${f}/: folder missing from the LAYERS table of scripts/check-deps.mjs`);

for (const file of tsFiles(SRC)) {
  const rel = relative(SRC, file);
  const from = rel.split("/")[0];
  if (!rel.includes("/")) continue; // src/version.ts and other top-level leaves
  const text = readFileSync(file, "utf8");
  for (const m of text.matchAll(IMPORT)) {
    const spec = m[3] ?? m[4];
    const typeOnly = Boolean(m[2]);
    const target = relative(SRC, resolve(dirname(file), spec));
    if (target.startsWith("..")) continue;
    const parts = target.split("/");
    const to = parts[0];
    if (to === from || parts.length < 2) continue;
    const line = text.slice(0, m.index).split("\n").length + (text[m.index] === "\n" ? 1 : 0);
    const where = `src/${rel}:${line}`;
    const allowed = LAYERS[from] ?? [];
    const leaf = LEAVES.has(target);
    if (!allowed.includes("*") && !allowed.includes(to) && !(typeOnly && CONTRACTS.has(target)) && !leaf) {
      problems.push(`${where}: ${from} must not import ${to} (${spec})`);
      continue;
    }
    const isIndex = parts.length === 2 && parts[1] === "index.js";
    const hasIndex = existsSync(join(SRC, to, "index.ts"));
    if (!typeOnly && hasIndex && !isIndex && !leaf && !ENTRIES.has(target)) {
      problems.push(`${where}: runtime import past the front door of ${to}/ (${spec}); export it from src/${to}/index.ts`);
    }
  }
}

for (const leaf of LEAVES) {
  const file = join(SRC, leaf.replace(/\.js$/, ".ts"));
  for (const m of readFileSync(file, "utf8").matchAll(IMPORT)) {
    if (!(m[2])) problems.push(`src/${leaf}: a leaf the daemon may load must not import project code (${m[3] ?? m[4]})`);
  }
}

if (problems.length) {
  console.error(`check-deps: ${problems.length} violation(s)`);
  for (const p of problems) console.error("  " + p);
  process.exit(1);
}
console.log("check-deps: imports follow the layering and front doors");
