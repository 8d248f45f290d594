// Shared by the side-by-side benchmarks: the shipped CLI bundle, the Go peers
// (act, act_runner) from ../shared/peers when present, and the measurements.

import { execFileSync, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

/** The CLI bundled as scripts/build.mjs bundles it (code cache included), below node_modules (so the native addon resolves); removed at exit. */
export async function shippedCli(): Promise<string> {
  const { bundleCli } = (await import(join(REPO_ROOT, "scripts/bundle.mjs"))) as {
    bundleCli: (outdir: string, opts?: { sourcemap?: boolean; codeCache?: boolean }) => Promise<string>;
  };
  const outdir = join(REPO_ROOT, "node_modules/.cache/native-runner-bench", `cli-${process.pid}`);
  await mkdir(outdir, { recursive: true });
  process.on("exit", () => execFileSync("rm", ["-rf", outdir]));
  return bundleCli(outdir, { sourcemap: false, codeCache: true });
}

/** `gitea.sh` of the shared peers: $PEERS_DIR, or ../shared/peers from the repository (or from its worktree folder). */
function peersScript(): string | undefined {
  const dirs = [process.env.PEERS_DIR, join(REPO_ROOT, "../shared/peers"), join(REPO_ROOT, "../../shared/peers")];
  for (const d of dirs) if (d && existsSync(join(d, "gitea.sh"))) return join(d, "gitea.sh");
  return undefined;
}

/** Path of a peer binary (`act`, `act_runner`), or undefined with a note when the peers are absent. */
export function peerBinary(name: "act" | "act_runner"): string | undefined {
  const script = peersScript();
  if (!script) {
    console.log(`(${name}: ../shared/peers not found, set PEERS_DIR; peer column left empty)`);
    return undefined;
  }
  return execFileSync("bash", [script, "bin", name], { encoding: "utf8" }).trim();
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

export interface RunResult {
  ms: number;
  /** user + system CPU time of the command and its children (10 ms resolution), when GNU time is there. */
  cpuMs?: number;
  /** peak resident memory of its largest process, MiB, when GNU time is there. */
  rssMiB?: number;
  code: number | null;
  stdoutBytes: number;
  stdout: string;
}

const GNU_TIME = existsSync("/usr/bin/time") ? "/usr/bin/time" : undefined;

/**
 * Runs a command to its end, draining its output: wall time from spawn to exit, and through GNU time (when
 * installed) its CPU time and peak RSS. CPU time is what to compare when other work shares the machine.
 */
export function timed(file: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; keep?: boolean } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const [f, a] = GNU_TIME ? [GNU_TIME, ["-f", "\\nBENCH_TIME %U %S %M", file, ...args]] : [file, args];
    const t0 = performance.now();
    const c = spawn(f, a, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
    let stdoutBytes = 0;
    const kept: Buffer[] = [];
    let tail = "";
    c.stdout.on("data", (b: Buffer) => {
      stdoutBytes += b.length;
      if (opts.keep) kept.push(b);
    });
    c.stderr.on("data", (b: Buffer) => (tail = (tail + b.toString()).slice(-4096)));
    c.once("error", reject);
    c.once("close", (code) => {
      const ms = performance.now() - t0;
      const m = /BENCH_TIME ([\d.]+) ([\d.]+) (\d+)/.exec(tail);
      resolve({
        ms,
        code,
        stdoutBytes,
        stdout: Buffer.concat(kept).toString(),
        ...(m ? { cpuMs: (Number(m[1]) + Number(m[2])) * 1000, rssMiB: Number(m[3]) / 1024 } : {}),
      });
    });
  });
}

export function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** One table row: our figure, the peer's, and the ratio. */
export function row(what: string, ours: number, peer: number | undefined, unit: string, goal: string, digits = 1): string {
  const f = (x: number) => x.toFixed(digits);
  const ratio = peer === undefined || peer === 0 ? "-" : (ours / peer).toFixed(2);
  return `| ${what} | ${f(ours)} ${unit} | ${peer === undefined ? "-" : `${f(peer)} ${unit}`} | ${ratio} | ${goal} |`;
}

export async function cleanup(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}
