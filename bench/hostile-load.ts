// A trivial job's pickup and completion latency and /healthz latency, on an
// idle daemon and while one job registers 20,000 masks and another runs
// hashFiles() over a 30 GB sparse file (the hostile suite's liveness attacks,
// test/hostile/daemon-load.test.ts). Prints p50/p95 and the ratio to idle
// (the goal is within 2x). A sample that does not complete within the
// timeout is printed as such: the attack stalled the daemon.
//
// Real daemon (bin/native-runner.js, run `node scripts/build.mjs` first) as
// root against the emulator, capacity 3, cache off.
// With a cgroup backend, cpuQuota limits each job (host.resources.cpu_quota): on
// a small machine the two attack jobs otherwise take every core from the third.
//   npx tsx bench/hostile-load.ts [samples=10] [isolation=none] [cgroups=none] [cpuQuota]

import { randomBytes } from "node:crypto";
import { MASKS_STEP, SPARSE_STEPS, hostJob, startRunner, type Cgroups, type HostileRunner, type Isolation } from "../test/hostile/harness.js";


const SAMPLES = Number(process.argv[2] ?? 10);
const ISOLATION = (process.argv[3] ?? "none") as Isolation;
const CGROUPS = (process.argv[4] ?? "none") as Cgroups;
const CPU_QUOTA = process.argv[5];
const SAMPLE_TIMEOUT_MS = 120_000;

function pct(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}
const fmt = (ms: number) => (Number.isNaN(ms) ? "   n/a   " : Number.isFinite(ms) ? `${ms.toFixed(0).padStart(6)} ms` : " no answer");

interface Phase {
  pickup: number[];
  completion: number[];
  health: number[];
  stalled: number;
}

/** Runs trivial jobs one after the other while /healthz is polled every 100 ms. */
async function measure(r: HostileRunner, samples: number, stillLoaded: () => boolean = () => true): Promise<Phase & { underLoad: number }> {
  const phase: Phase & { underLoad: number } = { pickup: [], completion: [], health: [], stalled: 0, underLoad: 0 };
  let polling = true;
  const poller = (async () => {
    while (polling) {
      const t0 = performance.now();
      const res = await r.healthz(SAMPLE_TIMEOUT_MS);
      phase.health.push(res === 200 ? performance.now() - t0 : Infinity);
      await new Promise((s) => setTimeout(s, 100));
    }
  })();
  try {
    for (let i = 0; i < samples; i++) {
      const mark = randomBytes(4).toString("hex");
      const { jobId } = r.emu.enqueue({ workflow: hostJob(`      - run: echo ${mark}\n`) });
      const job = await r.emu.waitForJobDone(jobId, SAMPLE_TIMEOUT_MS).catch(() => undefined);
      if (!job || !job.pickedAt || !job.doneAt) {
        phase.stalled++;
        r.emu.cancel(jobId);
        break;
      }
      if (stillLoaded()) phase.underLoad++;
      phase.pickup.push(job.pickedAt - job.enqueuedAt);
      phase.completion.push(job.doneAt - job.enqueuedAt);
    }
  } finally {
    polling = false;
    await poller;
  }
  return phase;
}

function report(name: string, p: Phase, idle?: Phase): void {
  const row = (what: string, v: number[], base?: number[]) => {
    const r95 = base && base.length && v.length ? pct(v, 95) / pct(base, 95) : NaN;
    const ratio = Number.isNaN(r95) ? "" : `   p95 ratio to idle ${Number.isFinite(r95) ? `${r95.toFixed(2)}x` : "unbounded"}`;
    console.log(`  ${what.padEnd(28)} p50 ${fmt(pct(v, 50))}   p95 ${fmt(pct(v, 95))}${ratio}`);
  };
  console.log(`${name}:`);
  row("enqueue → picked up", p.pickup, idle?.pickup);
  row("enqueue → completed", p.completion, idle?.completion);
  row(`/healthz (${p.health.length} requests)`, p.health, idle?.health);
  if (p.stalled) console.log(`  a trivial job did not complete within ${SAMPLE_TIMEOUT_MS / 1000} s: the daemon is stalled or gone`);
}

const r = await startRunner({ isolation: ISOLATION, cgroups: CGROUPS, capacity: 3, cache: false, ...(CPU_QUOTA ? { cpuQuota: CPU_QUOTA } : {}) });
try {
  await measure(r, 2); // warm-up
  const idle = await measure(r, SAMPLES);
  report(`idle daemon (${ISOLATION}/${CGROUPS}, ${idle.pickup.length} jobs)`, idle);

  const masks = r.emu.enqueue({ workflow: hostJob(MASKS_STEP) }).jobId;
  const sparse = r.emu.enqueue({ workflow: hostJob(SPARSE_STEPS) }).jobId;
  await r.emu.waitFor(() => (r.emu.job(sparse)?.logRows.some((l) => l.includes("SPARSE-READY")) ? true : undefined), SAMPLE_TIMEOUT_MS)
    .catch(() => undefined);
  const running = (id: number) => r.emu.job(id)?.status === "running";
  const loaded = await measure(r, SAMPLES, () => running(masks) || running(sparse));
  report(`while 20,000 masks and a 30 GB hashFiles() run (${loaded.pickup.length} jobs, ${loaded.underLoad} completed while an attack was still running)`, loaded, idle);
  console.log(`  attack jobs at the end: masks ${r.emu.job(masks)?.status}/${r.emu.job(masks)?.result ?? "-"}, hashFiles ${r.emu.job(sparse)?.status}/${r.emu.job(sparse)?.result ?? "-"}; daemon ${r.daemon.alive() ? "alive" : "exited"}`);
  r.emu.cancel(masks);
  r.emu.cancel(sparse);
} finally {
  await r.close();
}
