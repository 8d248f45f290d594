// Shared pieces of the cache benchmarks.
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdir, open } from "node:fs/promises";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { randomBytes } from "node:crypto";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

export function parseSizeArg(text: string | undefined, fallback: number): number {
  if (!text) return fallback;
  const m = /^(\d+(?:\.\d+)?)\s*(b|k|kib|m|mib|g|gib)?$/i.exec(text.trim());
  if (!m) throw new Error(`bad size ${text}`);
  const unit = { b: 1, k: 1024, kib: 1024, m: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gib: 1024 ** 3 }[(m[2] ?? "b").toLowerCase() as "b"];
  return Math.round(Number(m[1]) * unit);
}

export const mib = (n: number) => `${(n / 1024 ** 2).toFixed(1)} MiB`;
export const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

/**
 * A tree of `total` bytes in files of 1–8 MiB. Content mixes random bytes
 * (like binaries) and repetitive text (like sources), so zstd has work to do.
 */
export async function makeTree(dir: string, total: number): Promise<number> {
  let written = 0;
  let i = 0;
  const text = Buffer.from("export function value(x: number): number { return x * 2 + 1; } // padding\n".repeat(2048));
  while (written < total) {
    const size = Math.min(total - written, (1 + (i % 8)) * 1024 ** 2);
    const sub = join(dir, `pkg${i % 16}`, `mod${i % 5}`);
    await mkdir(sub, { recursive: true });
    const fh = await open(join(sub, `file${i}.bin`), "w");
    let left = size;
    while (left > 0) {
      const piece = Math.min(left, 1024 ** 2);
      const buf = i % 2 === 0 ? randomBytes(piece) : text.subarray(0, piece);
      await fh.write(buf);
      left -= piece;
    }
    await fh.close();
    written += size;
    i++;
  }
  return i;
}

export function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<{ ms: number; out: string }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => {
      if (code !== 0) reject(new Error(`${cmd} ${args.join(" ")} exited with ${code}:\n${out.slice(-2000)}`));
      else resolve({ ms: performance.now() - t0, out });
    });
  });
}

/** The cache service in a child process, with its resident memory sampled. */
export interface ServiceProcess {
  env: Record<string, string>;
  token: string;
  pid: number;
  /** Peak RSS seen since the last reset, bytes. */
  peakRss(): number;
  resetPeak(): void;
  rssNow(): number;
  /** CPU seconds (user + system) the service has used so far. */
  cpuSeconds(): number;
  stop(): Promise<void>;
}

function cpuOf(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

export async function startServiceProcess(dir: string): Promise<ServiceProcess> {
  const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", join(ROOT, "bench/cache-service-process.ts"), dir], {
    cwd: ROOT, stdio: ["ignore", "pipe", "inherit"],
  });
  const line = await new Promise<string>((resolve, reject) => {
    let buf = "";
    child.stdout!.on("data", (d: Buffer) => {
      buf += d.toString();
      const i = buf.indexOf("\n");
      if (i >= 0) resolve(buf.slice(0, i));
    });
    child.once("exit", (code) => reject(new Error(`service exited with ${code}`)));
  });
  const { env, token } = JSON.parse(line) as { env: Record<string, string>; token: string };
  const pid = child.pid!;
  let peak = 0;
  const timer = setInterval(() => {
    peak = Math.max(peak, rssOf(pid));
  }, 50);
  return {
    env, token, pid,
    peakRss: () => peak,
    resetPeak: () => (peak = rssOf(pid)),
    rssNow: () => rssOf(pid),
    cpuSeconds: () => cpuOf(pid),
    stop: async () => {
      clearInterval(timer);
      child.kill("SIGTERM");
      await new Promise((r) => child.once("exit", r));
    },
  };
}

/** Env for the real @actions/cache client in a child process. */
export function clientEnv(svc: ServiceProcess, workspace: string, temp: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH, HOME: process.env.HOME, GITHUB_SERVER_URL: "http://127.0.0.1:3000",
    GITHUB_WORKSPACE: workspace, RUNNER_TEMP: temp, ACTIONS_RUNTIME_TOKEN: svc.token, ...svc.env,
  };
}

/**
 * forgejo-runner's own cache server + proxy, for comparison, from the harness
 * built outside this repository from forgejo-runner's source (path in FORGEJO_CACHEPAIR).
 */
export async function startGoPair(bin: string, dir: string): Promise<{ env: Record<string, string>; stop(): Promise<void> }> {
  const procs: ChildProcess[] = [];
  const start = (args: string[]) => new Promise<string>((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ["ignore", "pipe", "inherit"] });
    procs.push(child);
    let text = "";
    child.stdout!.on("data", (d: Buffer) => {
      text += d.toString();
      const m = /listening (\S+)/.exec(text);
      if (m) resolve(m[1]!);
    });
    child.once("exit", (code) => reject(new Error(`go harness exited with ${code}`)));
  });
  const server = await start(["server", dir, "0", "bench"]);
  const url = await start(["proxy", server, "0", "bench", "bench/repo", "1", ""]);
  return {
    env: { ACTIONS_CACHE_URL: url, ACTIONS_CACHE_SERVICE_V2: "" },
    stop: async () => {
      for (const p of procs) {
        p.kill("SIGTERM");
        await new Promise((r) => p.once("exit", r));
      }
    },
  };
}
