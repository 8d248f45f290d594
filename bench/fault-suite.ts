// The fault-injection suite at a bigger size than CI: N jobs of mixed length
// and output through random drops, lost answers, 5xx, latency spikes and
// resets on every RPC, one emulator restart and one daemon kill -9. Prints
// the figures (jobs, rows, faults fired, lost, duplicated, wrong).
//   npx tsx bench/fault-suite.ts [jobs=1000] [faultRate=1.5] [seed]

import { formatFigures, runFaultSuite } from "../test/reliability/fault-suite-lib.js";

const jobs = Number(process.argv[2] ?? 1000);
const faultRate = Number(process.argv[3] ?? 1.5);
const seed = Number(process.argv[4] ?? Date.now() % 1_000_000);

const figures = await runFaultSuite({
  jobs,
  capacity: 4,
  seed,
  fetchInterval: "100ms",
  reportInterval: "200ms",
  faultRate,
  maxLines: 5000,
  timeoutMs: 3_600_000,
  log: (m) => console.log(`[${new Date().toISOString()}] ${m}`),
});
console.log(`seed: ${seed}, fault rate: ${faultRate}`);
console.log(formatFigures(figures));
for (const p of figures.problems.slice(0, 50)) console.log(`problem: ${p}`);
process.exitCode = figures.lost + figures.duplicated + figures.wrong === 0 ? 0 : 1;
