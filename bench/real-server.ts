// The real-server scenarios (test/e2e-gitea/scenarios.ts) against the real
// Gitea of ../shared/peers, for native-runner and for Gitea's act_runner in
// the same run, each with its own Gitea and a daemon started fresh for every
// scenario. Prints one row per scenario and runner: result (job states as
// expected), log correct, wall time (push → last job done), the daemon
// process's peak RSS (VmHWM; job processes not counted). Then pickup latency
// after idle: push → the job's first log row, at each runner's defaults.
//
//   npx tsx bench/real-server.ts [pickupSamples=5] [--only=native-runner|act_runner] [--scenarios=a,b]
// Asserts nothing.

import { mkdtemp, rm } from "node:fs/promises";
import { Gitea, giteaUnavailable, sleep } from "../test/e2e-gitea/gitea.js";
import { registerActRunner, registerNativeRunner, type RegisteredRunner, type RunnerKind, type RunnerProcess } from "../test/e2e-gitea/runners.js";
import {
  busyLogScenario, cacheScenario, cancelScenario, kill9Scenario, matrixScenario, planScenario, reusableScenario, runScenario, secretsScenario, timeoutScenario,
  type RunnerControl, type Scenario,
} from "../test/e2e-gitea/scenarios.js";

const args = process.argv.slice(2);
const PICKUP_SAMPLES = Number(args.find((a) => /^\d+$/.test(a)) ?? 5);
const only = args.find((a) => a.startsWith("--only="))?.slice(7);
const pick = args.find((a) => a.startsWith("--scenarios="))?.slice(12).split(",");

const SCENARIOS: Scenario[] = [planScenario, matrixScenario, secretsScenario, cacheScenario, reusableScenario, cancelScenario, timeoutScenario, kill9Scenario, busyLogScenario(500_000)]
  .filter((s) => !pick || pick.some((p) => s.name.includes(p)));

interface Row {
  runner: RunnerKind;
  scenario: string;
  result: string;
  log: string;
  wallMs: number;
  rssKb: number;
  problems: string[];
  figure?: string;
}

interface Side {
  kind: RunnerKind;
  gitea: Gitea;
  root: string;
  registered: RegisteredRunner;
  rows: Row[];
  pickup: number[];
}

async function setUp(kind: RunnerKind): Promise<Side> {
  const gitea = await Gitea.start();
  const root = await mkdtemp("/tmp/nr-bench-real-");
  // Each runner's shipped polling defaults: what a user gets.
  const registered = kind === "native-runner" ? await registerNativeRunner(gitea, root, { capacity: 2 }) : await registerActRunner(gitea, root, { capacity: 2 });
  return { kind, gitea, root, registered, rows: [], pickup: [] };
}

async function tearDown(side: Side): Promise<void> {
  await side.gitea.stop();
  await rm(side.root, { recursive: true, force: true });
}

/** One scenario on one side, with a daemon started for it. */
async function scenarioOn(side: Side, s: Scenario, n: number): Promise<void> {
  const { kind, gitea, registered } = side;
  const why = s.unavailable?.();
  if (why) {
    side.rows.push({ runner: kind, scenario: s.name, result: `skipped (${why})`, log: "-", wallMs: 0, rssKb: 0, problems: [] });
    return;
  }
  let daemon: RunnerProcess = registered.start();
  let peak = 0;
  const control: RunnerControl = {
    current: () => daemon,
    async kill9AndRestart() {
      peak = Math.max(peak, daemon.peakRssKb());
      await daemon.kill9();
      daemon = registered.start();
    },
  };
  await sleep(1500);
  try {
    const r = await runScenario(s, { gitea, runner: control, unique: `${kind === "act_runner" ? "a" : "n"}${Date.now().toString(36)}${n}` });
    peak = Math.max(peak, daemon.peakRssKb());
    side.rows.push({ runner: kind, scenario: s.name, result: r.resultOk ? "pass" : "FAIL", log: r.logOk ? "yes" : "no", wallMs: r.wallMs, rssKb: peak, problems: r.problems, ...(r.figure ? { figure: r.figure } : {}) });
  } catch (err) {
    side.rows.push({ runner: kind, scenario: s.name, result: "ERROR", log: "-", wallMs: 0, rssKb: Math.max(peak, daemon.peakRssKb()), problems: [(err as Error).message.split("\n")[0]!] });
  } finally {
    await daemon.stop();
  }
  process.stderr.write(`${kind}: ${s.name}: ${side.rows.at(-1)!.result}\n`);
}

/** One pickup sample: push → the job's first log row. */
async function pickupOn(side: Side, i: number): Promise<void> {
  const repo = `pickup-${side.kind}`;
  const sha = await side.gitea.push(repo, { ".gitea/workflows/ci.yml": `on: push\njobs:\n  p:\n    runs-on: native\n    steps:\n      - run: echo sample ${i}\n` });
  const pushed = Date.now();
  const [job] = await side.gitea.waitJobs(repo, sha, 1, 120_000);
  const first = (await side.gitea.jobLogTimed(repo, job!.run, job!.job))[0];
  if (first) side.pickup.push(first.time.getTime() - pushed);
  process.stderr.write(`${side.kind}: pickup sample ${i}: ${first ? first.time.getTime() - pushed : "?"} ms\n`);
}

function pct(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN;
}

async function main(): Promise<void> {
  const skip = giteaUnavailable();
  if (skip) {
    console.log(`real-server bench skipped: ${skip}`);
    return;
  }
  const kinds: RunnerKind[] = only ? [only as RunnerKind] : ["native-runner", "act_runner"];
  const sides: Side[] = [];
  for (const k of kinds) sides.push(await setUp(k));
  try {
    // Scenario by scenario, the runners one after the other: both see the same machine load.
    let n = 0;
    for (const s of SCENARIOS) for (const side of sides) await scenarioOn(side, s, n++);
    if (PICKUP_SAMPLES > 0) {
      const daemons = sides.map((side) => side.registered.start());
      try {
        for (const side of sides) await side.gitea.createRepo(`pickup-${side.kind}`, { README: "pickup\n" });
        for (let i = 0; i < PICKUP_SAMPLES; i++) {
          // idle long enough for any idle backoff to reach its ceiling, at a random phase
          await sleep(35_000 + Math.random() * 5_000);
          await Promise.all(sides.map((side) => pickupOn(side, i)));
        }
      } finally {
        for (const d of daemons) await d.stop();
      }
    }
  } finally {
    for (const side of sides) await tearDown(side);
  }
  const results = new Map(sides.map((side) => [side.kind, side]));
  console.log("\n| scenario | runner | result | log correct | wall time | daemon RSS (peak) |");
  console.log("|---|---|---|---|---|---|");
  for (const s of SCENARIOS) {
    for (const k of kinds) {
      const r = results.get(k)!.rows.find((x) => x.scenario === s.name);
      if (!r) continue;
      const wall = r.wallMs ? `${(r.wallMs / 1000).toFixed(1)} s` : "-";
      const rss = r.rssKb ? `${(r.rssKb / 1024).toFixed(0)} MiB` : "-";
      console.log(`| ${s.name} | ${k} | ${r.result} | ${r.log} | ${wall} | ${rss} |`);
    }
  }
  console.log("\nPickup after ≥ 35 s idle (push → first log row), each runner's default polling:");
  for (const k of kinds) {
    const p = results.get(k)!.pickup;
    if (p.length) console.log(`  ${k}: n=${p.length} p50 ${(pct(p, 50) / 1000).toFixed(2)} s, max ${(Math.max(...p) / 1000).toFixed(2)} s [${p.map((x) => (x / 1000).toFixed(1)).join(", ")}]`);
  }
  console.log("\nFigures:");
  for (const k of kinds) for (const r of results.get(k)!.rows) if (r.figure) console.log(`  ${k} / ${r.scenario}: ${r.figure}`);
  console.log("\nProblems found:");
  for (const k of kinds) {
    for (const r of results.get(k)!.rows) for (const p of r.problems) console.log(`  ${k} / ${r.scenario}: ${p.split("\n")[0]}`);
  }
}

await main();
