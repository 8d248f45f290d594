// Pickup latency of the daemon against the emulator on 127.0.0.1.
//
//  1. enqueue → task assigned, and enqueue → first step's shell running,
//     p50/p95, at fetch_interval 2 s (the default) and 200 ms. Each enqueue
//     happens at a random phase of the polling cycle.
//  2. back to back: capacity 1, two jobs queued; time from the end of the
//     first job's step to the start of the second job's step.
//
// Runs the bundled CLI as a separate process. Prints figures, asserts nothing.
//   npx tsx bench/pickup-latency.ts [samples]

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { bundleCli, setupEnv, startCli, waitUntil, workflow, type TestEnv, type CliProcess } from "../test/daemon/harness.js";

const SAMPLES = Number(process.argv[2] ?? 30);

function pct(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

const fmt = (ms: number) => `${ms.toFixed(0).padStart(5)} ms`;

async function daemon(env: TestEnv, bundle: string, fetchInterval: string, capacity = 1): Promise<CliProcess> {
  const cli = await startCli(env, ["daemon"], { fetchInterval, reportInterval: "1s", capacity }, bundle);
  // wait until it polls
  await waitUntil(() => env.emu.requests().some((r) => r.rpc.endsWith("FetchTask")), 30_000, "first FetchTask");
  return cli;
}

async function pickup(bundle: string, fetchInterval: string, intervalMs: number): Promise<void> {
  const env = await setupEnv();
  const cli = await daemon(env, bundle, fetchInterval);
  const assigned: number[] = [];
  const stepStart: number[] = [];
  try {
    for (let i = 0; i < SAMPLES; i++) {
      await new Promise((r) => setTimeout(r, Math.random() * intervalMs));
      const stamp = join(env.dir, `start-${i}`);
      const t0 = Date.now();
      const { jobId } = env.emu.enqueue({ workflow: workflow(`      - run: date +%s%3N > ${stamp}\n`) });
      await env.emu.waitFor(() => (env.emu.job(jobId)?.status !== "waiting" ? true : undefined), 60_000);
      assigned.push(Date.now() - t0);
      await env.emu.waitForJobDone(jobId, 60_000);
      stepStart.push(Number(readFileSync(stamp, "utf8").trim()) - t0);
    }
  } finally {
    cli.child.kill("SIGTERM");
    await cli.exited;
    await env.close();
  }
  console.log(`fetch_interval ${fetchInterval} (${SAMPLES} jobs):`);
  if (process.env.BENCH_VERBOSE) console.log(`  assigned: ${assigned.join(" ")}`);
  console.log(`  enqueue → task assigned      p50 ${fmt(pct(assigned, 50))}   p95 ${fmt(pct(assigned, 95))}`);
  console.log(`  enqueue → first step running p50 ${fmt(pct(stepStart, 50))}   p95 ${fmt(pct(stepStart, 95))}`);
}

async function backToBack(bundle: string): Promise<void> {
  const env = await setupEnv();
  const cli = await daemon(env, bundle, "2s");
  const gaps: number[] = [];
  try {
    for (let i = 0; i < Math.max(5, Math.floor(SAMPLES / 2)); i++) {
      const end = join(env.dir, `end-${i}`);
      const start = join(env.dir, `next-${i}`);
      const a = env.emu.enqueue({ workflow: workflow(`      - run: sleep 0.3; date +%s%3N > ${end}\n`) });
      const b = env.emu.enqueue({ workflow: workflow(`      - run: date +%s%3N > ${start}\n`) });
      await env.emu.waitForJobDone(a.jobId, 60_000);
      await env.emu.waitForJobDone(b.jobId, 60_000);
      gaps.push(Number(readFileSync(start, "utf8")) - Number(readFileSync(end, "utf8")));
    }
  } finally {
    cli.child.kill("SIGTERM");
    await cli.exited;
    await env.close();
  }
  console.log(`back to back, capacity 1, fetch_interval 2s (${gaps.length} pairs):`);
  console.log(`  end of job N's step → start of job N+1's step  p50 ${fmt(pct(gaps, 50))}   p95 ${fmt(pct(gaps, 95))}   max ${fmt(Math.max(...gaps))}`);
}

const bundle = await bundleCli();
console.log(`node ${process.version}, ${process.platform}/${process.arch}; daemon = bundled CLI; emulator on 127.0.0.1`);
await pickup(bundle, "2s", 2000);
await pickup(bundle, "200ms", 200);
await backToBack(bundle);
