// Per-step overhead of the engine: a job of N `run: true` steps against N raw
// `bash -c true` spawns, measured in the same run. With --worker the job runs
// as the daemon runs it: in a job worker (the shipped bundle), its events
// relayed over the worker's channel.
//   npx tsx bench/step-overhead.ts [steps] [--worker]

import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { JobEvent } from "../src/engine/events.js";
import { PlainBackend } from "../src/host/plain-backend.js";
import { runJob } from "../src/engine/run-job.js";
import { runJobInWorker } from "../src/worker/index.js";
import { shippedCli } from "./peers.js";

const args = process.argv.slice(2);
const VIA_WORKER = args.includes("--worker");
const N = Number(args.find((a) => !a.startsWith("--")) ?? 100);
const worker = VIA_WORKER ? { argv: [process.execPath, join(await shippedCli(), "../job-worker.js")] } : undefined;

function rawSpawn(): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = spawn("bash", ["-c", "true"], { stdio: ["ignore", "pipe", "pipe"], detached: true });
    c.once("error", reject);
    c.once("close", () => resolve());
  });
}

/** The same spawn through the job sandbox, to separate backend cost from engine cost. */
async function sandboxSpawns(dir: string): Promise<number> {
  const sb = await new PlainBackend(dir).prepareJob({ jobKey: "raw" });
  try {
    const noop = () => {};
    const t0 = performance.now();
    for (let i = 0; i < N; i++) {
      await sb.spawn(
        { file: "bash", args: ["-c", "true"], cwd: sb.dirs.workspace, env: sb.baseEnv },
        { onStdout: noop, onStderr: noop },
        new AbortController().signal,
      );
    }
    return performance.now() - t0;
  } finally {
    await sb.dispose();
  }
}

async function engineRun(dir: string): Promise<number> {
  const steps = Array.from({ length: N }, () => "      - run: true\n").join("");
  const yaml = `on: push\njobs:\n  bench:\n    runs-on: native\n    steps:\n${steps}`;
  let stepStart = 0;
  let stepTotal = 0;
  const t0 = performance.now();
  const req = { jobKey: "bench", workflowYaml: yaml, context: { repository: "o/r" }, secrets: {}, vars: {}, needs: {} };
  const opts = {
    emit: (e: JobEvent) => {
      if (e.type === "step-started") stepStart = performance.now();
      if (e.type === "step-finished") stepTotal += performance.now() - stepStart;
    },
    signal: new AbortController().signal,
    host: new PlainBackend(dir),
  };
  const out = worker ? await runJobInWorker(req, { ...opts, worker }) : await runJob(req, opts);
  const total = performance.now() - t0;
  if (out.result !== "success") throw new Error(`job ${out.result}`);
  return Math.min(total, stepTotal > 0 ? stepTotal : total);
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "bench-steps-"));
  try {
    // warm-up (module loading, JIT)
    await engineRun(dir);
    for (let i = 0; i < 10; i++) await rawSpawn();

    const rounds = 3;
    const raw: number[] = [];
    const viaSandbox: number[] = [];
    const eng: number[] = [];
    // Runner-process CPU time (user+system) is far less sensitive to other load on the machine than wall time.
    const rawCpu: number[] = [];
    const engCpu: number[] = [];
    const sbCpu: number[] = [];
    const cpuMs = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1000;
    for (let r = 0; r < rounds; r++) {
      let c = process.cpuUsage();
      const t0 = performance.now();
      for (let i = 0; i < N; i++) await rawSpawn();
      raw.push(performance.now() - t0);
      rawCpu.push(cpuMs(process.cpuUsage(c)));
      c = process.cpuUsage();
      viaSandbox.push(await sandboxSpawns(dir));
      sbCpu.push(cpuMs(process.cpuUsage(c)));
      c = process.cpuUsage();
      eng.push(await engineRun(dir));
      engCpu.push(cpuMs(process.cpuUsage(c)));
    }
    const rawMs = Math.min(...raw) / N;
    const engMs = Math.min(...eng) / N;
    const sbMs = Math.min(...viaSandbox) / N;
    console.log(`steps per run:            ${N}${worker ? " (job in a job worker, as the daemon runs it)" : " (engine in this process, as exec runs it)"}`);
    console.log(`raw bash -c true:         ${rawMs.toFixed(2)} ms/spawn (best of ${rounds})`);
    console.log(`engine run: true step:    ${engMs.toFixed(2)} ms/step (best of ${rounds}, step-started..step-finished)`);
    console.log(`bash -c true via sandbox: ${sbMs.toFixed(2)} ms/spawn (host backend "${new PlainBackend(dir).name}")`);
    console.log(`overhead per step:        ${(engMs - rawMs).toFixed(2)} ms above raw spawn (goal <= 2 ms)`);
    console.log(`engine-only overhead:     ${(engMs - sbMs).toFixed(2)} ms above the sandbox spawn`);
    if (worker) return; // the steps' CPU is spent in the worker, which this process does not measure
    const rc = Math.min(...rawCpu) / N;
    const ec = Math.min(...engCpu) / N;
    const sc = Math.min(...sbCpu) / N;
    console.log(`runner CPU per spawn:     raw ${rc.toFixed(2)} ms, via sandbox ${sc.toFixed(2)} ms`);
    console.log(`runner CPU per step:      ${ec.toFixed(2)} ms (whole job / steps): ${(ec - rc).toFixed(2)} ms above raw, ${(ec - sc).toFixed(2)} ms above the sandbox spawn`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
