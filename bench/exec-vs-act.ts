// `exec` end to end, as a user runs it, side by side with nektos/act in host
// mode (`act -P ubuntu-latest=-self-hosted`) in the same run: `--version`, a
// 1-step job, the cost per `run: true` step, log throughput with 100 secrets,
// and a 20-job matrix. Runs alternate between the two; wall figures are
// medians, CPU figures (user + system, from GNU time) are means: on a shared
// machine CPU time is the steadier comparison.
//   npx tsx bench/exec-vs-act.ts [rounds=7] [logMB=200]

import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cleanup, mean, median, peerBinary, row, shippedCli, timed } from "./peers.js";

const ROUNDS = Number(process.argv[2] ?? 7);
const LOG_MB = Number(process.argv[3] ?? 200);

async function repo(root: string, name: string, workflow: string): Promise<string> {
  const dir = join(root, name);
  await mkdir(join(dir, ".github/workflows"), { recursive: true });
  await writeFile(join(dir, ".github/workflows/ci.yml"), workflow);
  const git = (...a: string[]) => execFileSync("git", ["-c", "user.name=b", "-c", "user.email=b@example.com", ...a], { cwd: dir, stdio: "ignore" });
  git("init", "-q", "-b", "main");
  git("add", "-A");
  git("commit", "-qm", "bench");
  return dir;
}

const job = (steps: string, extra = "") => `on: push\njobs:\n  bench:\n    runs-on: ubuntu-latest\n${extra}    steps:\n${steps}`;

interface Figures {
  ms: number;
  cpuMs: number;
  rssMiB: number;
}

interface Runner {
  name: string;
  run(dir: string, extra: string[]): Promise<{ ms: number; cpuMs?: number; rssMiB?: number }>;
}

function runner(name: string, file: string, base: string[]): Runner {
  return {
    name,
    async run(dir, extra) {
      const r = await timed(file, [...base, ...extra], { cwd: dir });
      if (r.code !== 0) throw new Error(`${name} ${[...base, ...extra].join(" ")} in ${dir}: exit ${r.code}`);
      return r;
    },
  };
}

/** Each runner's figures over `rounds` runs, alternating between runners. */
async function alternate(runners: Runner[], dir: string, extra: (r: Runner) => string[], rounds = ROUNDS): Promise<Figures[]> {
  const runs: { ms: number; cpuMs?: number; rssMiB?: number }[][] = runners.map(() => []);
  for (const r of runners) await r.run(dir, extra(r)); // warm the page cache
  for (let k = 0; k < rounds; k++) for (const [i, r] of runners.entries()) runs[i]!.push(await r.run(dir, extra(r)));
  return runs.map((rs) => ({
    ms: median(rs.map((r) => r.ms)),
    cpuMs: mean(rs.map((r) => r.cpuMs ?? Number.NaN)),
    rssMiB: Math.max(...rs.map((r) => r.rssMiB ?? Number.NaN)),
  }));
}

function rawBashSpawns(n: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let left = n;
    const next = () => {
      if (left-- === 0) return resolve((performance.now() - t0) / n);
      const c = spawn("bash", ["-c", "true"], { stdio: ["ignore", "pipe", "pipe"] });
      c.once("error", reject);
      c.once("close", next);
    };
    next();
  });
}

async function main(): Promise<void> {
  const cli = await shippedCli();
  const actBin = peerBinary("act");
  const nr = runner("native-runner", process.execPath, [cli, "exec"]);
  const act = actBin ? runner("act", actBin, ["-P", "ubuntu-latest=-self-hosted"]) : undefined;
  const both = act ? [nr, act] : [nr];
  const root = await mkdtemp(join(tmpdir(), "bench-exec-act-"));
  const rows: string[] = [];
  const add = (what: string, f: (Figures | undefined)[], goal: string, digits = 0) => {
    rows.push(row(`${what}, wall`, f[0]!.ms, f[1]?.ms, "ms", goal, digits));
    rows.push(row(`${what}, CPU`, f[0]!.cpuMs, f[1]?.cpuMs, "ms", "-", digits));
  };
  try {
    const nrV = runner("native-runner", process.execPath, [cli]);
    const actV = actBin ? runner("act", actBin, []) : undefined;
    const v = await alternate(actV ? [nrV, actV] : [nrV], root, () => ["--version"]);
    const vOut = execFileSync(process.execPath, [cli, "--version"], { encoding: "utf8" }).trim();
    add(`\`--version\` (prints "${vOut}")`, v, "≤ 60 ms");
    rows.push(row("`--version`, peak RSS", v[0]!.rssMiB, v[1]?.rssMiB, "MiB", "-"));
    // What no Node program can go below: the runtime's own start.
    const bare = await alternate([runner("node -e 0", process.execPath, ["-e", "0"])], root, () => []);
    rows.push(row("`node -e 0` (Node's own start-up, the floor for `--version`), wall", bare[0]!.ms, undefined, "ms", "-", 0));
    rows.push(row("`node -e 0`, CPU", bare[0]!.cpuMs, undefined, "ms", "-", 0));

    const one = await repo(root, "one", job("      - run: echo hello\n"));
    const t1 = await alternate(both, one, () => []);
    add("1-step job, end to end", t1, "≤ 1.5× act");
    rows.push(row("1-step job, peak RSS", t1[0]!.rssMiB, t1[1]?.rssMiB, "MiB", "≤ 55 MiB"));

    const single = await repo(root, "single", job("      - run: true\n"));
    const hundred = await repo(root, "hundred", job("      - run: true\n".repeat(100)));
    const tS = await alternate(both, single, () => []);
    const tH = await alternate(both, hundred, () => []);
    const floor = await rawBashSpawns(100);
    const per = tH.map((h, i) => ({ ms: (h.ms - tS[i]!.ms) / 99, cpuMs: (h.cpuMs - tS[i]!.cpuMs) / 99, rssMiB: h.rssMiB }));
    add("per `run: true` step, (T100 − T1)/99", per, "≤ act, ≤ floor + 1.5 ms", 2);
    rows.push(row("raw `bash -c true` spawned from node, one after another (floor)", floor, undefined, "ms", "-", 2));

    const matrix = `    strategy:\n      matrix:\n        i: [${Array.from({ length: 20 }, (_, i) => i + 1).join(", ")}]\n`;
    const jobs20 = await repo(root, "matrix", job("      - run: echo ${{ matrix.i }}\n", matrix));
    const tm = await alternate(both, jobs20, (r) => (r === nr ? ["--concurrency", "2"] : ["--concurrent-jobs", "2"]), Math.max(3, ROUNDS >> 1));
    add("20-job matrix, concurrency 2", tm, "≤ 1.0× act");

    const secretArgs: string[] = [];
    for (let i = 0; i < 100; i++) secretArgs.push("-s", `S${i}=${randomBytes(12).toString("base64url")}`);
    const line = "the quick brown fox jumps over the lazy dog 0123456789 ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    const logRepo = await repo(root, "log", job(`      - run: |\n          yes "${line}" | head -c ${LOG_MB * 1024 * 1024}\n          echo "secret: \${{ secrets.S7 }}"\n`));
    const tl = await alternate(both, logRepo, () => secretArgs, 2);
    // Throughput of the log path: the job's time above a 1-step job's.
    const mbps = tl.map((l, i) => (LOG_MB * 1.048576) / ((l.ms - t1[i]!.ms) / 1000));
    rows.push(row(`${LOG_MB} MB log with 100 secrets (higher is better)`, mbps[0]!, mbps[1], "MB/s", "≥ 150 MB/s"));
    // The same from CPU time (the runner and the step's `yes | head`), the steadier figure on a shared machine.
    const cpuMbps = tl.map((l, i) => (LOG_MB * 1.048576) / ((l.cpuMs - t1[i]!.cpuMs) / 1000));
    rows.push(row(`${LOG_MB} MB log with 100 secrets, per CPU second (higher is better)`, cpuMbps[0]!, cpuMbps[1], "MB/s", "-"));
    rows.push(row(`${LOG_MB} MB log, peak RSS`, tl[0]!.rssMiB, tl[1]?.rssMiB, "MiB", "bounded"));
  } finally {
    await cleanup(root);
  }
  console.log(`native-runner: ${cli}\nact: ${actBin ?? "(absent)"}\n`);
  console.log("| figure | native-runner | act | ratio | goal |\n|---|---|---|---|---|");
  for (const r of rows) console.log(r);
}

await main();
