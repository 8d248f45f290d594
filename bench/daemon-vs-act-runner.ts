// The daemon side by side with Gitea's Go act_runner (host mode), each against
// its own emulator on 127.0.0.1 with the same settings (fetch_interval 2 s,
// capacity 1, cache off), in the same run:
//   1. idle: resident and private memory after `idle` seconds, FetchTask requests per minute;
//   2. pickup with jobs arriving every 1–4 s (after one unsampled job): enqueue → task assigned and
//      enqueue → the step's shell running, p50/p95;
//   3. pickup after an idle spell longer than the poller's hot window (both
//      runners idle at the same time, so this costs `idleAfter` seconds per sample);
//   4. one job's end → the next queued job's start (capacity 1, two jobs queued).
//   npx tsx bench/daemon-vs-act-runner.ts [samples=20] [idle=60] [idleAfter=150] [idleSamples=4]

import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { waitUntil, workflow } from "../test/daemon/harness.js";
import { actRunner, nativeRunner, privateMiB, rssMiB, type Daemon } from "./daemons.js";
import { median, peerBinary, percentile, shippedCli } from "./peers.js";

const SAMPLES = Number(process.argv[2] ?? 20);
const IDLE_S = Number(process.argv[3] ?? 60);
const IDLE_AFTER_S = Number(process.argv[4] ?? 150);
const IDLE_SAMPLES = Number(process.argv[5] ?? 4);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const fetches = (d: Daemon) => d.env.emu.requests().filter((r) => r.rpc.endsWith("FetchTask"));

async function firstFetch(d: Daemon): Promise<void> {
  await waitUntil(() => fetches(d).length > 0, 60_000, `${d.name}: first FetchTask`);
}

async function idle(d: Daemon): Promise<{ rss: number; uss: number; perMin: number }> {
  await firstFetch(d);
  const t0 = Date.now();
  const n0 = fetches(d).length;
  await sleep(IDLE_S * 1000);
  const perMin = ((fetches(d).length - n0) * 60_000) / (Date.now() - t0);
  return { rss: rssMiB(d.pid), uss: privateMiB(d.pid), perMin };
}

/** One job, enqueued now: [enqueue → assigned, enqueue → step running] in ms. */
async function oneJob(d: Daemon, tag: string): Promise<[number, number]> {
  const stamp = join(d.env.dir, `start-${tag}`);
  const t0 = Date.now();
  const { jobId } = d.env.emu.enqueue({ workflow: workflow(`      - run: date +%s%3N > ${stamp}\n`) });
  await d.env.emu.waitFor(() => (d.env.emu.job(jobId)?.status !== "waiting" ? true : undefined), 120_000);
  const assigned = Date.now() - t0;
  await d.env.emu.waitForJobDone(jobId, 120_000);
  return [assigned, Number(readFileSync(stamp, "utf8").trim()) - t0];
}

async function arriving(d: Daemon): Promise<{ assigned: number[]; started: number[] }> {
  const assigned: number[] = [];
  const started: number[] = [];
  // Not sampled: the first job after the daemon started is a pickup after idle (measured above), not one of a
  // series of jobs arriving every few seconds. Both runners get it.
  await oneJob(d, "arr-first");
  for (let i = 0; i < SAMPLES; i++) {
    await sleep(1000 + Math.random() * 3000);
    const [a, s] = await oneJob(d, `arr-${i}`);
    assigned.push(a);
    started.push(s);
  }
  return { assigned, started };
}

async function backToBack(d: Daemon): Promise<number[]> {
  const gaps: number[] = [];
  for (let i = 0; i < Math.max(5, SAMPLES >> 1); i++) {
    const end = join(d.env.dir, `end-${i}`);
    const start = join(d.env.dir, `next-${i}`);
    const a = d.env.emu.enqueue({ workflow: workflow(`      - run: sleep 0.3; date +%s%3N > ${end}\n`) });
    const b = d.env.emu.enqueue({ workflow: workflow(`      - run: date +%s%3N > ${start}\n`) });
    await d.env.emu.waitForJobDone(a.jobId, 120_000);
    await d.env.emu.waitForJobDone(b.jobId, 120_000);
    gaps.push(Number(readFileSync(start, "utf8")) - Number(readFileSync(end, "utf8")));
  }
  return gaps;
}

const ms = (x: number | undefined) => (x === undefined ? "-" : `${(x / 1000).toFixed(2)} s`);
const ratio = (a: number, b: number | undefined) => (b === undefined || b === 0 ? "-" : (a / b).toFixed(2));
const rows: string[] = [];
function row(what: string, ours: number, peer: number | undefined, fmt: (x: number | undefined) => string, goal: string): void {
  rows.push(`| ${what} | ${fmt(ours)} | ${fmt(peer)} | ${ratio(ours, peer)} | ${goal} |`);
}

async function main(): Promise<void> {
  const cli = await shippedCli();
  const arBin = peerBinary("act_runner");
  const start = async () => Promise.all([nativeRunner(cli), arBin ? actRunner(arBin) : Promise.resolve(undefined)]);

  // 1 + 3: both daemons idle side by side.
  const [nr, ar] = await start();
  try {
    const [iNr, iAr] = await Promise.all([idle(nr), ar ? idle(ar) : undefined]);
    row(`daemon RSS after ${IDLE_S} s idle`, iNr.rss, iAr?.rss, (x) => (x === undefined ? "-" : `${x.toFixed(1)} MiB`), "≤ 45 MiB");
    row(`daemon private memory (USS) after ${IDLE_S} s idle`, iNr.uss, iAr?.uss, (x) => (x === undefined ? "-" : `${x.toFixed(1)} MiB`), "-");
    row("idle FetchTask requests per minute", iNr.perMin, iAr?.perMin, (x) => (x === undefined ? "-" : x.toFixed(1)), "≤ 30");
    const after: [number[], number[]] = [[], []];
    for (let i = 0; i < IDLE_SAMPLES; i++) {
      await sleep(IDLE_AFTER_S * 1000 + Math.random() * 2000);
      const [a, b] = await Promise.all([oneJob(nr, `idle-${i}`), ar ? oneJob(ar, `idle-${i}`) : undefined]);
      after[0].push(a[1]);
      if (b) after[1].push(b[1]);
    }
    row(`pickup after ${IDLE_AFTER_S} s idle (to step running), median of ${IDLE_SAMPLES}`, median(after[0]), ar ? median(after[1]) : undefined, ms, "≤ 2.0 s");
    // A few samples of a wait that is uniform over the poll interval: their spread says more than their median.
    const list = (xs: number[]) => xs.map((x) => (x / 1000).toFixed(2)).join(", ");
    notes.push(`pickup after idle, each sample (s): native-runner ${list(after[0])}${ar ? `; act_runner ${list(after[1])}` : ""}`);
  } finally {
    await nr.stop();
    await ar?.stop();
  }

  // 2 + 4: one daemon at a time.
  for (const make of [() => nativeRunner(cli), ...(arBin ? [() => actRunner(arBin)] : [])]) {
    const d = await make();
    try {
      await firstFetch(d);
      const r = await arriving(d);
      const g = await backToBack(d);
      results.set(d.name, { ...r, gaps: g });
    } finally {
      await d.stop();
    }
  }
  const a = results.get("native-runner")!;
  const b = results.get("act_runner");
  row("pickup, jobs every 1–4 s: enqueue → assigned, p50", percentile(a.assigned, 50), b && percentile(b.assigned, 50), ms, "-");
  row("pickup, jobs every 1–4 s: enqueue → assigned, p95", percentile(a.assigned, 95), b && percentile(b.assigned, 95), ms, "-");
  row("pickup, jobs every 1–4 s: enqueue → step running, p50", percentile(a.started, 50), b && percentile(b.started, 50), ms, "≤ 1.0 s");
  row("pickup, jobs every 1–4 s: enqueue → step running, p95", percentile(a.started, 95), b && percentile(b.started, 95), ms, "≤ 2.0 s");
  row("job end → next queued job's step, p50", percentile(a.gaps, 50), b && percentile(b.gaps, 50), ms, "≤ 0.15 s");
  row("job end → next queued job's step, max", Math.max(...a.gaps), b && Math.max(...b.gaps), ms, "-");

  console.log(`native-runner: ${cli}\nact_runner: ${arBin ?? "(absent)"}\n`);
  console.log("| figure | native-runner | act_runner | ratio | goal |\n|---|---|---|---|---|");
  for (const r of rows) console.log(r);
  for (const n of notes) console.log(`\n${n}`);
}

const notes: string[] = [];

const results = new Map<string, { assigned: number[]; started: number[]; gaps: number[] }>();
if (!existsSync("/proc/self/status")) throw new Error("needs Linux /proc");
await main();
