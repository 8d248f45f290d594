// Log throughput through line splitting, workflow-command detection and
// masking: one step prints N MB with 100 secrets registered. With --worker the
// job runs as the daemon runs it: in a job worker (the shipped bundle), its
// events relayed over the worker's channel.
//   npx tsx bench/log-throughput.ts [megabytes] [--worker]

import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PlainBackend } from "../src/host/plain-backend.js";
import { runJob } from "../src/engine/run-job.js";
import { runJobInWorker } from "../src/worker/index.js";
import { shippedCli } from "./peers.js";

const args = process.argv.slice(2).filter((a) => a !== "--worker");
const viaWorker = process.argv.includes("--worker");
const MB = Number(args[0] ?? 200);

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "bench-log-"));
  const secrets: Record<string, string> = {};
  for (let i = 0; i < 100; i++) secrets[`S${i}`] = randomBytes(12).toString("base64url");
  // One secret really appears in the output, once per ~64 KiB.
  const line = "the quick brown fox jumps over the lazy dog 0123456789 ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  const yaml = `on: push
jobs:
  bench:
    runs-on: native
    steps:
      - run: |
          yes "${line}" | head -c ${MB * 1024 * 1024}
          echo "secret: \${{ secrets.S7 }}"
`;
  let bytes = 0;
  let lines = 0;
  let masked = 0;
  let peakRss = process.memoryUsage().rss;
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }, 20);
  let stepStart = 0;
  let stepMs = 0;
  try {
    const worker = viaWorker ? { argv: [process.execPath, join(await shippedCli(), "../job-worker.js")] } : undefined;
    const run = (r: Parameters<typeof runJob>[0], o: Parameters<typeof runJob>[1]) => (worker ? runJobInWorker(r, { ...o, worker }) : runJob(r, o));
    const out = await run(
      { jobKey: "bench", workflowYaml: yaml, context: { repository: "o/r" }, secrets, vars: {}, needs: {} },
      {
        emit: (e) => {
          if (e.type === "log" && e.stage === "step") {
            bytes += e.line.length + 1;
            lines++;
            if (e.line.includes("***")) masked++;
          } else if (e.type === "step-started") stepStart = performance.now();
          else if (e.type === "step-finished") stepMs = performance.now() - stepStart;
        },
        signal: new AbortController().signal,
        host: new PlainBackend(dir),
      },
    );
    if (out.result !== "success") throw new Error(`job ${out.result}`);
  } finally {
    clearInterval(sampler);
    await rm(dir, { recursive: true, force: true });
  }
  const maxRss = process.resourceUsage().maxRSS * 1024;
  console.log(`path:            ${viaWorker ? "job worker (the daemon's)" : "engine in-process (exec's)"}`);
  console.log(`output:          ${(bytes / 1048576).toFixed(1)} MiB in ${lines} lines, 100 secrets registered (${masked} masked lines)`);
  console.log(`step time:       ${(stepMs / 1000).toFixed(2)} s`);
  console.log(`throughput:      ${(bytes / 1048576 / (stepMs / 1000)).toFixed(1)} MiB/s (goal >= 100 MB/s)`);
  console.log(`peak RSS:        ${(Math.max(peakRss, maxRss) / 1048576).toFixed(0)} MiB (sampled ${(peakRss / 1048576).toFixed(0)} MiB)`);
}

await main();
