// A real Gitea server (../shared/peers/gitea.sh) for end-to-end tests: start
// and stop, repositories with workflows pushed over git, secrets through the
// API, and job results and logs read the way the peers README describes
// (commit status API, the web log endpoint, the web JSON, the web cancel).

import { execFile, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export const REPO_ROOT = resolve(import.meta.dirname, "../..");

/**
 * The peers folder: $NR_PEERS_DIR, else `../shared/peers` next to the
 * repository, else next to the main checkout when this is a git worktree.
 */
export function peersDir(): string | undefined {
  const candidates = [process.env.NR_PEERS_DIR, resolve(REPO_ROOT, "../shared/peers")];
  const common = spawnSync("git", ["rev-parse", "--path-format=absolute", "--git-common-dir"], { cwd: REPO_ROOT, encoding: "utf8" });
  if (common.status === 0) candidates.push(resolve(dirname(common.stdout.trim()), "../shared/peers"));
  return candidates.find((c): c is string => !!c && existsSync(join(c, "gitea.sh")));
}

/** Why the real-server tests cannot run here, or false. */
export function giteaUnavailable(): string | false {
  if (!peersDir()) return "no ../shared/peers (a real Gitea server and its peers): the real-server tier is skipped";
  if (spawnSync("xz", ["--version"]).status !== 0 && spawnSync("python3", ["--version"]).status !== 0) {
    return "neither xz (xz-utils) nor python3 is installed: gitea.sh cannot unpack the server";
  }
  if (spawnSync("curl", ["--version"]).status !== 0) return "curl is not installed (gitea.sh needs it)";
  return false;
}

export interface CommitStatus {
  context: string;
  status: string;
  description: string;
  target_url: string;
}

export interface JobStatus {
  /** `Workflow / job (event)` */
  context: string;
  state: string;
  description: string;
  run: number;
  job: number;
}

export interface WebJobState {
  run: { status: string; done: boolean; jobs: Array<{ id: number; name: string; status: string }> };
  currentJob: { steps: Array<{ summary: string; status: string }> };
}

export class Gitea {
  private csrf?: { jar: string; token: string };
  private readonly workdirs = new Map<string, string>();

  private constructor(
    readonly dir: string,
    readonly url: string,
    readonly token: string,
    readonly admin: string,
    readonly password: string,
    readonly pid: number,
    private readonly peers: string,
  ) {}

  /** Starts a Gitea on a free port in a fresh temporary directory. */
  static async start(opts: { appIniExtra?: string } = {}): Promise<Gitea> {
    const peers = peersDir();
    if (!peers) throw new Error("no peers directory");
    const dir = await mkdtemp("/tmp/nr-gitea-");
    for (let attempt = 0; ; attempt++) {
      const port = await freePort();
      const env = { ...process.env, ...(opts.appIniExtra ? { GITEA_SH_APP_INI_EXTRA: opts.appIniExtra } : {}) };
      const r = spawnSync("bash", [join(peers, "gitea.sh"), "start", join(dir, "g"), String(port)], { encoding: "utf8", env });
      if (r.status === 0) break;
      // Another process may have taken the port between the probe and the start.
      if (attempt < 3 && /already in use/.test(r.stderr)) continue;
      throw new Error(`gitea.sh start failed:\n${r.stderr}`);
    }
    const env = Object.fromEntries(
      (await readFile(join(dir, "g/env"), "utf8"))
        .split("\n")
        .filter((l) => l.includes("="))
        .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
    );
    return new Gitea(dir, env.GITEA_URL!, env.GITEA_TOKEN!, env.GITEA_ADMIN!, env.GITEA_PASSWORD!, Number(env.GITEA_PID), peers);
  }

  get instanceDir(): string {
    return join(this.dir, "g");
  }

  async stop(): Promise<void> {
    spawnSync("bash", [join(this.peers, "gitea.sh"), "stop", this.instanceDir], { encoding: "utf8" });
    await rm(this.dir, { recursive: true, force: true });
  }

  /** The `bin NAME` of gitea.sh: act_runner, act or gitea, unpacked once into the cache. */
  peerBinary(name: "act_runner" | "act" | "gitea"): string {
    const r = spawnSync("bash", [join(this.peers, "gitea.sh"), "bin", name], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`gitea.sh bin ${name}: ${r.stderr}`);
    return r.stdout.trim();
  }

  runnerToken(scope?: string): string {
    const r = spawnSync("bash", [join(this.peers, "gitea.sh"), "runner-token", this.instanceDir, ...(scope ? [scope] : [])], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`gitea.sh runner-token: ${r.stderr}`);
    return r.stdout.trim();
  }

  async api<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.url}/api/v1${path}`, {
      method,
      headers: { Authorization: `token ${this.token}`, "Content-Type": "application/json" },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${text}`);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /**
   * A public repository of the admin, with `files` in its first commit; returns the commit. Secrets and variables
   * are stored before the push, so the runs it starts see them.
   */
  async createRepo(
    name: string,
    files: Record<string, string>,
    opts: { secrets?: Record<string, string>; vars?: Record<string, string> } = {},
  ): Promise<string> {
    await this.api("POST", "/user/repos", { name, default_branch: "main" });
    for (const [k, v] of Object.entries(opts.secrets ?? {})) await this.setSecret(name, k, v);
    for (const [k, v] of Object.entries(opts.vars ?? {})) await this.api("POST", `/repos/${this.admin}/${name}/actions/variables/${k}`, { value: v });
    return this.pushNew(name, files);
  }

  /** The first push into a repository created through the API (e.g. after setting its secrets). */
  async pushNew(name: string, files: Record<string, string>): Promise<string> {
    const wd = join(this.dir, "work", name);
    await mkdir(wd, { recursive: true });
    await git(wd, ["init", "-q", "-b", "main"]);
    this.workdirs.set(name, wd);
    return this.push(name, files);
  }

  /** Writes `files` (null deletes), commits (also when nothing changed) and pushes; returns the commit. */
  async push(name: string, files: Record<string, string | null>, message = "change"): Promise<string> {
    const wd = this.workdirs.get(name);
    if (!wd) throw new Error(`repository ${name} was not created by this test`);
    for (const [path, text] of Object.entries(files)) {
      const p = join(wd, path);
      if (text === null) await rm(p, { force: true });
      else {
        await mkdir(dirname(p), { recursive: true });
        await writeFile(p, text, path.endsWith(".sh") ? { mode: 0o755 } : {});
      }
    }
    await git(wd, ["add", "-A"]);
    await git(wd, ["-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "--allow-empty", "-m", message]);
    const u = new URL(this.url);
    await git(wd, ["push", "-q", `${u.protocol}//${this.admin}:${this.token}@${u.host}/${this.admin}/${name}.git`, "HEAD:main"]);
    return (await git(wd, ["rev-parse", "HEAD"])).trim();
  }

  async setSecret(repo: string, name: string, value: string): Promise<void> {
    await this.api("PUT", `/repos/${this.admin}/${repo}/actions/secrets/${name}`, { data: value });
  }

  /** One entry per job that has a commit status on `sha`. */
  async statuses(repo: string, sha: string): Promise<{ state: string; jobs: JobStatus[] }> {
    const res = await fetch(`${this.url}/api/v1/repos/${this.admin}/${repo}/commits/${sha}/status`, {
      headers: { Authorization: `token ${this.token}` },
    });
    // Right after the first push into an empty repository this can answer 500 for a moment.
    if (!res.ok) return { state: "pending", jobs: [] };
    const body = (await res.json()) as { state: string; statuses: CommitStatus[] | null };
    const jobs = (body.statuses ?? []).map((s) => {
      const m = /\/actions\/runs\/(\d+)\/jobs\/(\d+)$/.exec(s.target_url) ?? [];
      return { context: s.context, state: s.status, description: s.description, run: Number(m[1]), job: Number(m[2]) };
    });
    return { state: body.state, jobs };
  }

  /** Waits until `sha` has `count` job statuses and none is pending; returns them. */
  async waitJobs(repo: string, sha: string, count: number, timeoutMs = 120_000, onWait?: () => string): Promise<JobStatus[]> {
    const start = Date.now();
    for (;;) {
      const s = await this.statuses(repo, sha);
      if (s.jobs.length >= count && s.state !== "pending" && s.jobs.every((j) => j.state !== "pending")) return s.jobs;
      if (Date.now() - start > timeoutMs) {
        throw new Error(`jobs of ${repo}@${sha.slice(0, 8)} not done after ${timeoutMs} ms: ${JSON.stringify(s)}${onWait ? `\n${onWait()}` : ""}`);
      }
      await sleep(250);
    }
  }

  /** A job's log rows (timestamps removed), from the web log endpoint. */
  async jobLog(repo: string, run: number, job: number): Promise<string[]> {
    const res = await fetch(`${this.url}/${this.admin}/${repo}/actions/runs/${run}/jobs/${job}/logs`);
    if (!res.ok) throw new Error(`log of run ${run} job ${job}: HTTP ${res.status}`);
    const text = await res.text();
    return text
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => l.replace(/^\d{4}-\d\d-\d\dT\S+Z /, ""));
  }

  /** The raw log with the server's row timestamps. */
  async jobLogTimed(repo: string, run: number, job: number): Promise<Array<{ time: Date; line: string }>> {
    const res = await fetch(`${this.url}/${this.admin}/${repo}/actions/runs/${run}/jobs/${job}/logs`);
    const text = res.ok ? await res.text() : "";
    return text
      .split("\n")
      .filter((l) => /^\d{4}-/.test(l))
      .map((l) => ({ time: new Date(l.slice(0, l.indexOf(" "))), line: l.slice(l.indexOf(" ") + 1) }));
  }

  /** Run and job state from the web JSON endpoint. */
  async jobState(repo: string, run: number, job: number): Promise<WebJobState> {
    const body = await this.web("POST", `/${this.admin}/${repo}/actions/runs/${run}/jobs/${job}`, { logCursors: [] }, false);
    return (JSON.parse(body) as { state: WebJobState }).state;
  }

  async cancelRun(repo: string, run: number): Promise<void> {
    await this.web("POST", `/${this.admin}/${repo}/actions/runs/${run}/cancel`, undefined, true);
  }

  /** A web request with the CSRF header (logged in as the admin when `login`). */
  private async web(method: string, path: string, body: unknown, login: boolean): Promise<string> {
    if (login) {
      const r = spawnSync("bash", [join(this.peers, "gitea.sh"), "web", this.instanceDir, method, path, ...(body ? [JSON.stringify(body)] : [])], { encoding: "utf8" });
      if (r.status !== 0) throw new Error(`web ${method} ${path}: ${r.stderr}`);
      return r.stdout;
    }
    if (!this.csrf) {
      const res = await fetch(`${this.url}/`);
      const cookies = res.headers.getSetCookie();
      const jar = cookies.map((c) => c.split(";")[0]).join("; ");
      const token = /(?:^|; )_csrf=([^;]+)/.exec(jar)?.[1];
      if (!token) throw new Error("no _csrf cookie from the server");
      this.csrf = { jar, token: decodeURIComponent(token) };
    }
    const res = await fetch(`${this.url}${path}`, {
      method,
      headers: { Cookie: this.csrf.jar, "X-Csrf-Token": this.csrf.token, "Content-Type": "application/json" },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`web ${method} ${path}: HTTP ${res.status} ${text.slice(0, 300)}`);
    return text;
  }

  /** The server's log files, for failure messages. */
  async serverLog(): Promise<string> {
    return (await readFile(join(this.instanceDir, "log/gitea.log"), "utf8").catch(() => "")).split("\n").slice(-40).join("\n");
  }
}

async function git(cwd: string, args: string[]): Promise<string> {
  const env = { ...process.env, GIT_CONFIG_NOSYSTEM: "1", GIT_CONFIG_GLOBAL: "/dev/null", GIT_TERMINAL_PROMPT: "0" };
  return (await run("git", args, { cwd, env })).stdout;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A TCP port that was free a moment ago. */
export async function freePort(): Promise<number> {
  const { createServer } = await import("node:net");
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once("error", rej);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => res(port));
    });
  });
}
