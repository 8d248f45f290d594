// A job's log end to end, as a Forgejo user sees it: one step prints N MB with
// 100 secrets registered (one of them really in the output); the figure is the
// time from the step's start to the job being done on the server with every
// row delivered, for native-runner's daemon and Gitea's act_runner (host mode)
// in the same run, each against its own emulator. Also: the daemon's peak RSS
// and CPU (its job worker and step processes included), and whether the secret
// reached the server.
//   npx tsx bench/daemon-log.ts [megabytes=50] [rounds=2]

import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { workflow } from "../test/daemon/harness.js";
import { actRunner, nativeRunner, rssMiB, type Daemon } from "./daemons.js";
import { median, peerBinary, shippedCli } from "./peers.js";

const MB = Number(process.argv[2] ?? 50);
const ROUNDS = Number(process.argv[3] ?? 2);
const LINE = "the quick brown fox jumps over the lazy dog 0123456789 ABCDEFGHIJKLMNOPQRSTUVWXYZ";

interface Sample {
  seconds: number;
  rows: number;
  bytes: number;
  leaked: boolean;
  peakRssMiB: number;
  cpuS: number;
  /** CPU of this process, where the emulator receives the rows. */
  serverCpuS: number;
}

const TICK = 100; // USER_HZ on Linux

/** utime + stime of the process and of its waited-for children, seconds. */
function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8");
  const rest = f.slice(f.lastIndexOf(")") + 2).split(" ");
  return (Number(rest[11]) + Number(rest[12]) + Number(rest[13]) + Number(rest[14])) / TICK;
}

async function oneRun(d: Daemon, tag: string): Promise<Sample> {
  const secrets: Record<string, string> = {};
  for (let i = 0; i < 100; i++) secrets[`S${i}`] = randomBytes(12).toString("base64url");
  const stamp = join(d.env.dir, `start-${tag}`);
  const steps = `      - run: |
          date +%s%3N > ${stamp}
          { yes "${LINE}" || true; } | head -c ${MB * 1024 * 1024}
          echo "secret: \${{ secrets.S7 }}"
`;
  let peak = rssMiB(d.pid);
  const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(d.pid))), 50);
  const cpu0 = cpuSeconds(d.pid);
  const own0 = process.cpuUsage();
  try {
    const { jobId } = d.env.emu.enqueue({ workflow: workflow(steps), secrets });
    const view = await d.env.emu.waitForJobDone(jobId, 600_000);
    const end = Date.now();
    if (view.result !== "success") throw new Error(`${d.name}: job ${view.result}\n${view.logRows.filter((r) => !r.startsWith("the quick")).slice(-20).join("\n")}`);
    const rows = view.logRows;
    const bytes = rows.reduce((n, r) => n + r.length + 1, 0);
    return {
      seconds: (end - Number(readFileSync(stamp, "utf8").trim())) / 1000,
      rows: rows.length,
      bytes,
      leaked: rows.some((r) => r.includes(secrets.S7!)),
      peakRssMiB: peak,
      cpuS: cpuSeconds(d.pid) - cpu0,
      serverCpuS: (() => {
        const u = process.cpuUsage(own0);
        return (u.user + u.system) / 1e6;
      })(),
    };
  } finally {
    clearInterval(sampler);
  }
}

async function main(): Promise<void> {
  const cli = await shippedCli();
  const arBin = peerBinary("act_runner");
  const makers = [() => nativeRunner(cli), ...(arBin ? [() => actRunner(arBin)] : [])];
  const results = new Map<string, Sample[]>();
  // Rounds alternate between the runners so that other load on the machine falls on both.
  for (let round = 0; round < ROUNDS; round++) {
    for (const make of makers) {
      const d = await make();
      try {
        const s = await oneRun(d, `r${round}`);
        results.set(d.name, [...(results.get(d.name) ?? []), s]);
        console.log(
          `${d.name} round ${round + 1}: ${(s.bytes / 1e6).toFixed(1)} MB in ${s.rows} rows, ${s.seconds.toFixed(2)} s, ` +
            `${(s.bytes / 1e6 / s.seconds).toFixed(1)} MB/s, CPU ${s.cpuS.toFixed(2)} s (emulator ${s.serverCpuS.toFixed(2)} s), peak RSS ${s.peakRssMiB.toFixed(0)} MiB, secret ${s.leaked ? "LEAKED" : "masked"}`,
        );
      } finally {
        await d.stop();
      }
    }
  }
  console.log(`\n${MB} MiB log, 100 secrets, step start → job done on the server with every row (median of ${ROUNDS})`);
  console.log("| runner | MB/s | seconds | runner CPU s | peak runner RSS | secret |\n|---|---|---|---|---|---|");
  for (const [name, ss] of results) {
    const mbps = median(ss.map((s) => s.bytes / 1e6 / s.seconds));
    console.log(
      `| ${name} | ${mbps.toFixed(1)} | ${median(ss.map((s) => s.seconds)).toFixed(2)} | ${median(ss.map((s) => s.cpuS)).toFixed(2)} | ` +
        `${Math.max(...ss.map((s) => s.peakRssMiB)).toFixed(0)} MiB | ${ss.some((s) => s.leaked) ? "leaked" : "masked"} |`,
    );
  }
}

await main();
