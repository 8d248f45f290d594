// Cost of one job worker per job: a trivial job (one `true` step) run N times
// through runJobInWorker (the daemon's path: a worker process started in the
// job's sandbox) and through the engine in-process (exec's path), on the
// plain backend and, as root, on uid+bwrap with raw cgroups. The worker is
// the shipped bundle. Start-up cost = time to the job's first event through a
// worker minus the same in-process; then the same through a worker started
// ahead of its task (host.prestart_worker), jobs a second apart. Prints
// figures, asserts nothing.
//   npx tsx bench/worker-startup.ts [jobs]

import { chmod, mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import type { JobEvent } from "../src/engine/events.js";
import type { JobRequest } from "../src/engine/job-request.js";
import { runJob } from "../src/engine/run-job.js";
import { PlainBackend } from "../src/host/plain-backend.js";
import { createHostBackend } from "../src/host/index.js";
import type { HostBackend } from "../src/host/sandbox.js";
import { runJobInWorker, WarmWorkers } from "../src/worker/index.js";
import { shippedCli } from "./peers.js";

const JOBS = Number(process.argv[2] ?? 20);
const bundle = await shippedCli();
const worker = { argv: [process.execPath, join(bundle, "../job-worker.js")] };

const yaml = `
on: push
jobs:
  j:
    runs-on: native
    steps:
      - run: "true"
`;
const req = (i: number): JobRequest => ({
  jobKey: `bench-${i}`, workflowYaml: yaml, workflowFile: "b.yml",
  context: { repository: "o/r", event_name: "push", event: {}, ref: "refs/heads/main", sha: "0".repeat(40), run_id: "1", token: "x" },
  secrets: {}, vars: {}, needs: {},
});

const q = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;

async function measure(host: HostBackend, viaWorker: boolean, gapMs = 0): Promise<{ first: number[]; total: number[] }> {
  const first: number[] = [];
  const total: number[] = [];
  for (let i = 0; i < JOBS + 2; i++) {
    if (gapMs) await new Promise((r) => setTimeout(r, gapMs));
    let firstAt = 0;
    const t0 = performance.now();
    const lines: string[] = [];
    const emit = (e: JobEvent) => {
      if (e.type === "log") lines.push(e.line);
      if (!firstAt && e.type === "log") firstAt = performance.now();
    };
    const o = { emit, signal: new AbortController().signal, host };
    const out = viaWorker ? await runJobInWorker(req(i), { ...o, worker }) : await runJob(req(i), o);
    if (out.result !== "success") throw new Error(`bench job failed: ${out.result}\n${lines.join("\n")}`);
    if (i < 2) continue; // warm-up
    first.push(firstAt - t0);
    total.push(performance.now() - t0);
  }
  return { first, total };
}

const parent = await mkdtemp("/var/tmp/nr-bench-worker-");
await chmod(parent, 0o755);
try {
  const backends: Array<[string, HostBackend]> = [["none (plain)", new PlainBackend(join(parent, "plain"))]];
  if (process.getuid?.() === 0) {
    backends.push([
      "uid+bwrap/raw",
      await createHostBackend({
        host: {
          workdir_parent: join(parent, "iso"), isolation: "uid+bwrap", cgroups: "raw",
          uid_range: { start: 3_900_000, count: 10 }, hidden_paths: [], resources: { memory_max: 0, cpu_quota: 0, pids_max: 0 },
        },
        stateDir: join(parent, "state"),
        log: () => {},
      }),
    ]);
  }
  console.log(`job worker start-up, ${JOBS} trivial jobs each (node ${process.version}, worker = bundled dist/job-worker):`);
  for (const [name, host] of backends) {
    const inproc = await measure(host, false);
    const viaWorker = await measure(host, true);
    // As the daemon runs jobs that keep coming: the next job's worker started ahead of its task (jobs a second apart).
    const warm = new WarmWorkers(host, { worker, keepMs: 60_000 });
    const viaWarm = await measure(warm.host, true, 1000).finally(() => warm.close());
    const f = (xs: number[]) => `p50 ${q(xs, 0.5).toFixed(1)} ms, p95 ${q(xs, 0.95).toFixed(1)} ms`;
    console.log(`  ${name}:`);
    console.log(`    first event   in-process ${f(inproc.first)} | worker ${f(viaWorker.first)}`);
    console.log(`    whole job     in-process ${f(inproc.total)} | worker ${f(viaWorker.total)}`);
    console.log(`    worker start-up cost per job (p50 first-event difference): ${(q(viaWorker.first, 0.5) - q(inproc.first, 0.5)).toFixed(1)} ms; whole-job difference p50 ${(q(viaWorker.total, 0.5) - q(inproc.total, 0.5)).toFixed(1)} ms`);
    console.log(`    worker started ahead of its task (host.prestart_worker): first event ${f(viaWarm.first)}, whole job ${f(viaWarm.total)}; cost per job ${(q(viaWarm.first, 0.5) - q(inproc.first, 0.5)).toFixed(1)} ms`);
  }
} finally {
  await rm(parent, { recursive: true, force: true });
}
