// A real git smart-HTTP server for tests: `git http-backend` (CGI) behind
// node:http on 127.0.0.1, serving bare repositories under `root`, plus
// `makeRepo` to create those repositories with real git plumbing.

import { spawn } from "node:child_process";
import { promises as fs } from "node:fs";
import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import path from "node:path";

export interface GitHttpRequest {
  method: string;
  /** Path and query, e.g. `/owner/repo/info/refs?service=git-upload-pack`. */
  url: string;
  status: number;
}

export interface GitHttpServer {
  /** Base URL without a trailing slash, e.g. `http://127.0.0.1:PORT`; repos are at `<url>/owner/repo`. */
  url: string;
  /** Number of HTTP requests received so far (including refused ones). */
  readonly requests: number;
  /** Every request received, in order. */
  readonly log: readonly GitHttpRequest[];
  close(): Promise<void>;
}

export interface GitHttpServerOptions {
  root: string;
  /**
   * When set, every request must carry it: as the basic-auth password (any user), or `Bearer`/`token` header.
   * A function decides per presented credential (e.g. "a task token of a running task").
   */
  token?: string | ((presented: string) => boolean);
  /** Speak only protocol v0 (ignore `Git-Protocol`), like old servers: unadvertised commits cannot be fetched. */
  protocolV0?: boolean;
  /** Wait this long before answering each request (to test cancellation and timeouts). */
  delayMs?: number;
  /** Serve HTTPS with this key and certificate (PEM) instead of plain HTTP. */
  tls?: { key: string; cert: string };
}

function hermeticGitEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("GIT_")) env[k] = v;
  env.GIT_CONFIG_NOSYSTEM = "1";
  env.GIT_CONFIG_GLOBAL = "/dev/null";
  env.GIT_TERMINAL_PROMPT = "0";
  return env;
}

function authorized(header: string | undefined, token: string | ((presented: string) => boolean)): boolean {
  if (!header) return false;
  const ok = (presented: string) => (typeof token === "function" ? presented !== "" && token(presented) : presented === token);
  const [scheme, value = ""] = header.split(/\s+/, 2) as [string, string?];
  switch (scheme.toLowerCase()) {
    case "basic": {
      const decoded = Buffer.from(value, "base64").toString("utf8");
      const colon = decoded.indexOf(":");
      const user = colon < 0 ? decoded : decoded.slice(0, colon);
      const pass = colon < 0 ? "" : decoded.slice(colon + 1);
      return ok(pass) || (pass === "" && ok(user));
    }
    case "bearer":
    case "token":
      return ok(value);
    default:
      return false;
  }
}

export async function startGitHttpServer(opts: GitHttpServerOptions): Promise<GitHttpServer> {
  const root = path.resolve(opts.root);
  const log: GitHttpRequest[] = [];

  const handler: http.RequestListener = (req, res) => {
    if (opts.delayMs) setTimeout(() => serve(req, res), opts.delayMs);
    else serve(req, res);
  };
  const serve: http.RequestListener = (req, res) => {
    const entry: GitHttpRequest = { method: req.method ?? "GET", url: req.url ?? "/", status: 0 };
    log.push(entry);
    const finish = (status: number, body: string, headers: Record<string, string> = {}) => {
      entry.status = status;
      res.writeHead(status, { "Content-Type": "text/plain", ...headers });
      res.end(body);
    };
    if (opts.token !== undefined && !authorized(req.headers.authorization, opts.token)) {
      req.resume();
      finish(401, "authentication required\n", { "WWW-Authenticate": 'Basic realm="git"' });
      return;
    }
    const u = new URL(req.url ?? "/", "http://localhost");
    const env: NodeJS.ProcessEnv = {
      ...hermeticGitEnv(),
      GIT_PROJECT_ROOT: root,
      GIT_HTTP_EXPORT_ALL: "1",
      GATEWAY_INTERFACE: "CGI/1.1",
      SERVER_PROTOCOL: "HTTP/1.1",
      REQUEST_METHOD: req.method ?? "GET",
      PATH_INFO: decodeURIComponent(u.pathname),
      QUERY_STRING: u.search.replace(/^\?/, ""),
      REMOTE_ADDR: req.socket.remoteAddress ?? "127.0.0.1",
      CONTENT_TYPE: req.headers["content-type"] ?? "",
    };
    if (req.headers["content-length"] !== undefined) env.CONTENT_LENGTH = req.headers["content-length"];
    if (req.headers["content-encoding"] !== undefined) env.HTTP_CONTENT_ENCODING = req.headers["content-encoding"];
    const protocol = req.headers["git-protocol"];
    if (typeof protocol === "string" && !opts.protocolV0) env.GIT_PROTOCOL = protocol;
    if (opts.token !== undefined) env.REMOTE_USER = "test";

    const child = spawn("git", ["http-backend"], { env, stdio: ["pipe", "pipe", "pipe"] });
    const stderr: Buffer[] = [];
    child.stderr.on("data", (b: Buffer) => stderr.push(b));
    req.pipe(child.stdin);
    child.stdin.on("error", () => undefined);

    let head = Buffer.alloc(0);
    let headersSent = false;
    child.stdout.on("data", (chunk: Buffer) => {
      if (headersSent) {
        res.write(chunk);
        return;
      }
      head = Buffer.concat([head, chunk]);
      const text = head.toString("latin1");
      const crlf = text.indexOf("\r\n\r\n");
      const lf = text.indexOf("\n\n");
      const end = crlf >= 0 && (lf < 0 || crlf < lf) ? crlf + 4 : lf >= 0 ? lf + 2 : -1;
      if (end < 0) return;
      let status = 200;
      const headers: Record<string, string> = {};
      for (const line of text.slice(0, end).split(/\r?\n/)) {
        const colon = line.indexOf(":");
        if (colon <= 0) continue;
        const name = line.slice(0, colon).trim();
        const value = line.slice(colon + 1).trim();
        if (name.toLowerCase() === "status") status = Number.parseInt(value, 10) || 500;
        else headers[name] = value;
      }
      entry.status = status;
      res.writeHead(status, headers);
      headersSent = true;
      res.write(head.subarray(end));
    });
    child.on("close", (code) => {
      if (!headersSent) {
        finish(500, `git http-backend failed (${code}): ${Buffer.concat(stderr).toString()}\n`);
        return;
      }
      res.end();
    });
    child.on("error", (err) => {
      if (!headersSent) finish(500, `cannot run git http-backend: ${err.message}\n`);
    });
  };
  const server = opts.tls ? https.createServer({ key: opts.tls.key, cert: opts.tls.cert }, handler) : http.createServer(handler);

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `${opts.tls ? "https" : "http"}://127.0.0.1:${port}`,
    get requests() {
      return log.length;
    },
    log,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// ---------------------------------------------------------------------------
// Repositories

export interface MakeRepoOptions {
  /** Branch the commit goes on (created or advanced); default "main", which is also HEAD of a new repo. */
  branch?: string;
  /** Lightweight tags pointing at the new commit (moved if they exist). */
  tags?: string[];
  /** Annotated tags pointing at the new commit. */
  annotatedTags?: string[];
  message?: string;
  /** Paths (keys of `files`) to mark executable. */
  executable?: string[];
  /** Symbolic links to add: path → target. */
  symlinks?: Record<string, string>;
  /**
   * Start from this branch's tree and history instead of `branch`'s own
   * (to create a branch off another). Files given are added on top.
   */
  from?: string;
}

export interface MadeRepo {
  /** Absolute path of the bare repository (`<root>/owner/repo.git`). */
  gitDir: string;
  /** The new commit's 40-hex id. */
  commit: string;
}

async function git(gitDir: string, args: string[], extraEnv: NodeJS.ProcessEnv = {}, input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn("git", ["--git-dir", gitDir, ...args], {
      env: {
        ...hermeticGitEnv(),
        GIT_AUTHOR_NAME: "Test",
        GIT_AUTHOR_EMAIL: "test@example.invalid",
        GIT_COMMITTER_NAME: "Test",
        GIT_COMMITTER_EMAIL: "test@example.invalid",
        ...extraEnv,
      },
      stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    if (child.stdin) {
      child.stdin.on("error", () => undefined);
      child.stdin.end(input);
    }
    child.stdout!.on("data", (b: Buffer) => out.push(b));
    child.stderr!.on("data", (b: Buffer) => err.push(b));
    child.on("error", reject);
    child.on("close", (code) => {
      if (code === 0) resolve(Buffer.concat(out).toString("utf8").trim());
      else reject(new Error(`git ${args.join(" ")} failed (${code}): ${Buffer.concat(err).toString()}`));
    });
  });
}

/**
 * Creates (or extends) the bare repository `<root>/<owner/repo>.git` with one
 * new commit holding `files` on top of the branch's previous tree, and points
 * the branch and tags at it. Served by startGitHttpServer as `<url>/owner/repo`.
 */
export async function makeRepo(
  root: string,
  fullName: string,
  files: Record<string, string>,
  opts: MakeRepoOptions = {},
): Promise<MadeRepo> {
  const branch = opts.branch ?? "main";
  const gitDir = path.resolve(root, `${fullName}.git`);
  try {
    await fs.access(path.join(gitDir, "HEAD"));
  } catch {
    await fs.mkdir(gitDir, { recursive: true });
    await git(gitDir, ["init", "-q", "--bare", "--initial-branch", branch]);
  }
  const parent = await git(gitDir, ["rev-parse", "--verify", "-q", `refs/heads/${opts.from ?? branch}^{commit}`]).catch(() => "");
  const indexFile = path.join(gitDir, `index-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const env = { GIT_INDEX_FILE: indexFile };
  try {
    if (parent) await git(gitDir, ["read-tree", parent], env);
    const executable = new Set(opts.executable ?? []);
    for (const [name, content] of Object.entries(files)) {
      const blob = await git(gitDir, ["hash-object", "-w", "--stdin"], env, content);
      const mode = executable.has(name) ? "100755" : "100644";
      await git(gitDir, ["update-index", "--add", "--cacheinfo", `${mode},${blob},${name}`], env);
    }
    for (const [name, target] of Object.entries(opts.symlinks ?? {})) {
      const blob = await git(gitDir, ["hash-object", "-w", "--stdin"], env, target);
      await git(gitDir, ["update-index", "--add", "--cacheinfo", `120000,${blob},${name}`], env);
    }
    const tree = await git(gitDir, ["write-tree"], env);
    const commit = await git(
      gitDir,
      ["commit-tree", tree, ...(parent ? ["-p", parent] : []), "-m", opts.message ?? `commit on ${branch}`],
      env,
    );
    await git(gitDir, ["update-ref", `refs/heads/${branch}`, commit]);
    for (const tag of opts.tags ?? []) await git(gitDir, ["update-ref", `refs/tags/${tag}`, commit]);
    for (const tag of opts.annotatedTags ?? []) await git(gitDir, ["tag", "-f", "-a", "-m", `tag ${tag}`, tag, commit]);
    return { gitDir, commit };
  } finally {
    await fs.rm(indexFile, { force: true });
  }
}
