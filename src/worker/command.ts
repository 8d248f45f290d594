// How the daemon starts a job worker: the worker bundle next to the running
// CLI bundle (dist/job-worker.js). Running from source (tsx), the worker is
// bundled once per state of src/ into node_modules/.cache (a worker per job
// that compiled TypeScript on every start would cost a CPU-second per job).

import { existsSync } from "node:fs";
import { mkdir, readdir, rename, rm, stat } from "node:fs/promises";
import { createHash } from "node:crypto";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { WorkerCommand } from "./run-in-worker.js";

export async function defaultWorkerCommand(moduleUrl: string = import.meta.url): Promise<WorkerCommand> {
  const here = dirname(fileURLToPath(moduleUrl));
  if (!moduleUrl.endsWith(".ts")) {
    const ext = moduleUrl.endsWith(".mjs") ? ".mjs" : ".js";
    // In the bundle this code may sit in a chunk (dist/chunks/): the worker entry is next to the CLI entry.
    const bundled = [join(here, `job-worker${ext}`), join(here, "..", `job-worker${ext}`)].find((p) => existsSync(p));
    if (bundled) return { argv: [process.execPath, bundled] };
    throw new Error(`job worker not found: no job-worker${ext} next to ${here}`);
  }
  return { argv: [process.execPath, await bundleFromSource(resolve(here, "../.."))] };
}

async function bundleFromSource(root: string): Promise<string> {
  const hash = createHash("sha256");
  for (const f of (await listFiles(join(root, "src"))).sort()) {
    const st = await stat(f);
    hash.update(`${f}\0${st.size}\0${st.mtimeMs}\n`);
  }
  const cache = join(root, "node_modules/.cache/native-runner-worker");
  const dir = join(cache, hash.digest("hex").slice(0, 16));
  const entry = join(dir, "job-worker.js");
  if (existsSync(entry)) return entry;
  await mkdir(cache, { recursive: true });
  const tmp = `${dir}.${process.pid}.tmp`;
  const script = join(root, "scripts/bundle.mjs");
  const { bundleCli } = (await import(script)) as { bundleCli: (outdir: string, o?: { sourcemap?: boolean }) => Promise<string> };
  await bundleCli(tmp, { sourcemap: false });
  // Another process may have built the same state meanwhile: either copy will do.
  await rename(tmp, dir).catch(() => rm(tmp, { recursive: true, force: true }));
  return entry;
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await listFiles(p)));
    else out.push(p);
  }
  return out;
}
