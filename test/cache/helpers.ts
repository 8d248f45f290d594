import { spawn } from "node:child_process";
import { mkdtemp, mkdir, writeFile, readdir, readFile, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, dirname, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { createHash, randomBytes } from "node:crypto";
import { request } from "node:http";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const CLIENT = join(ROOT, "test/cache/fixtures/cache-client.mjs");

export async function tempDir(prefix = "nr-cache-"): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export interface ClientResult {
  ok: boolean;
  cacheId?: number;
  hit?: string | null;
  error?: string;
  output: string;
  code: number | null;
}

/** Env a job would get, plus what @actions/cache needs to find tar and a temp dir. */
export function clientEnv(jobEnv: Record<string, string>, token: string, workspace: string, temp: string): Record<string, string> {
  return {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: process.env.HOME ?? "/root",
    GITHUB_SERVER_URL: "http://127.0.0.1:3000",
    GITHUB_WORKSPACE: workspace,
    RUNNER_TEMP: temp,
    ACTIONS_RUNTIME_TOKEN: token,
    ...jobEnv,
  };
}

/** Runs the real @actions/cache in a child process (it reads process.env). */
export function runClient(
  env: Record<string, string>, cwd: string, args: string[], opts: { onSpawn?: (pid: number) => void } = {},
): Promise<ClientResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLIENT, ...args], { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    if (child.pid && opts.onSpawn) opts.onSpawn(child.pid);
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => {
      const line = output.split("\n").find((l) => l.startsWith("RESULT "));
      const parsed = line ? (JSON.parse(line.slice(7)) as Omit<ClientResult, "output" | "code">) : { ok: false, error: "no result" };
      resolve({ ...parsed, output, code });
    });
  });
}

/** A tree of files with random content; returns a digest of the tree. */
export async function makeTree(dir: string, files = 20, size = 4096, seed = "x"): Promise<string> {
  for (let i = 0; i < files; i++) {
    const sub = join(dir, `d${i % 3}`, i % 2 ? "deep" : "");
    await mkdir(sub, { recursive: true });
    await writeFile(join(sub, `f${i}-${seed}.bin`), randomBytes(size + i));
  }
  return treeDigest(dir);
}

export async function treeDigest(dir: string): Promise<string> {
  const h = createHash("sha256");
  const walk = async (d: string): Promise<void> => {
    const names = (await readdir(d)).sort();
    for (const n of names) {
      const p = join(d, n);
      const s = await stat(p);
      if (s.isDirectory()) await walk(p);
      else h.update(relative(dir, p)).update("\0").update(await readFile(p));
    }
  };
  await walk(dir);
  return h.digest("hex");
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  json(): Record<string, unknown>;
}

/** A raw HTTP request to 127.0.0.1. */
export function raw(
  url: string, method: string, headers: Record<string, string> = {}, body?: Buffer | string,
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    // The path is sent verbatim (no WHATWG normalisation of "..", "%2e").
    const m = /^http:\/\/([^/:]+):(\d+)(\/.*)?$/.exec(url);
    if (!m) throw new Error(`not a loopback http URL: ${url}`);
    const req = request({ hostname: m[1], port: Number(m[2]), path: m[3] ?? "/", method, headers }, (res) => {
      const parts: Buffer[] = [];
      res.on("data", (d: Buffer) => parts.push(d));
      res.on("end", () => {
        const b = Buffer.concat(parts);
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: b,
          json: () => JSON.parse(b.toString("utf8")) as Record<string, unknown>,
        });
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    if (body !== undefined) req.end(body);
    else req.end();
  });
}
