// Container jobs: start-up overhead (a 1-step job, image present) and the cost
// per step inside the container, next to the host backend and to nektos/act
// on the same Podman socket (`act -P ubuntu-latest=<image>`), in the same run.
// Runs alternate between runners; figures are medians of wall time.
//   npx tsx bench/container-startup.ts [rounds=5] [steps=20]

import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { median, peerBinary, shippedCli, timed } from "./peers.js";

const ROUNDS = Number(process.argv[2] ?? 5);
const STEPS = Number(process.argv[3] ?? 20);
const IMAGE = process.env.BENCH_IMAGE ?? "localhost/native-runner-test:4";
const SOCKET = process.env.BENCH_DOCKER_HOST ?? "unix:///run/podman/podman.sock";

async function repo(root: string, name: string, steps: number): Promise<string> {
  const dir = join(root, name);
  await mkdir(join(dir, ".github/workflows"), { recursive: true });
  const body = Array.from({ length: steps }, (_, i) => `      - run: echo step-${i}\n`).join("");
  await writeFile(join(dir, ".github/workflows/ci.yml"), `on: push\njobs:\n  bench:\n    runs-on: ubuntu-latest\n    steps:\n${body}`);
  const git = (...a: string[]) => execFileSync("git", ["-c", "user.name=b", "-c", "user.email=b@example.com", ...a], { cwd: dir, stdio: "ignore" });
  git("init", "-q", "-b", "main");
  git("add", "-A");
  git("commit", "-qm", "bench");
  return dir;
}

interface Runner {
  name: string;
  args: string[];
  file: string;
}

async function main(): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), "nr-bench-ct-"));
  const one = await repo(root, "one", 1);
  const many = await repo(root, "many", STEPS + 1);
  const cli = await shippedCli();
  const env = { ...process.env, DOCKER_HOST: SOCKET, HOME: root };
  const runners: Runner[] = [
    { name: "native-runner exec, host", file: process.execPath, args: [cli, "exec", "-P", "ubuntu-latest=-self-hosted"] },
    { name: "native-runner exec, container", file: process.execPath, args: [cli, "exec", "-P", `ubuntu-latest=${IMAGE}`] },
  ];
  const act = peerBinary("act");
  if (act) {
    runners.push({
      name: "nektos/act, container (same socket)",
      file: act,
      args: ["-P", `ubuntu-latest=${IMAGE}`, "--pull=false", "--container-daemon-socket", "-"],
    });
  }
  const results = new Map<string, { one: number[]; many: number[] }>(runners.map((r) => [r.name, { one: [], many: [] }]));
  const run = async (r: Runner, dir: string) => {
    const res = await timed(r.file, r.args, { cwd: dir, env });
    if (res.code !== 0) throw new Error(`${r.name} in ${dir}: exit ${res.code}`);
    return res.ms;
  };
  for (const r of runners) await run(r, one); // warm caches
  for (let k = 0; k < ROUNDS; k++) {
    for (const r of runners) {
      results.get(r.name)!.one.push(await run(r, one));
      results.get(r.name)!.many.push(await run(r, many));
    }
  }
  console.log(`container-startup: ${ROUNDS} rounds, image ${IMAGE}, ${SOCKET}`);
  console.log(`| runner | 1-step job (ms) | per extra step (ms, ${STEPS} steps) |\n|---|---|---|`);
  const fastestPeer = Math.min(...runners.filter((r) => !r.name.startsWith("native")).map((r) => median(results.get(r.name)!.one)));
  for (const r of runners) {
    const f = results.get(r.name)!;
    const a = median(f.one);
    const perStep = (median(f.many) - a) / STEPS;
    console.log(`| ${r.name} | ${a.toFixed(0)} | ${perStep.toFixed(1)} |`);
  }
  const ours = median(results.get("native-runner exec, container")!.one);
  if (Number.isFinite(fastestPeer)) console.log(`container start-up vs the fastest peer: ${(ours / fastestPeer).toFixed(2)}x`);
  execFileSync("rm", ["-rf", root]);
}

await main();
