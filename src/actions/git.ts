import { spawn } from "node:child_process";
import { ActionError } from "./types.js";

/** How to reach one remote: a URL without credentials plus what git needs to authenticate. */
export interface GitRemote {
  /** Clone URL without userinfo; safe to log. */
  url: string;
  /** Value for `Authorization:`, or undefined for anonymous access. */
  authorization?: string;
  insecure?: boolean;
}

/** Removes userinfo from any URL inside `text`. */
export function stripUserinfo(text: string): string {
  return text.replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^/@\s]*@/gi, "$1");
}

/**
 * Splits credentials out of a URL: `https://user:pass@host/x` becomes
 * `https://host/x` plus a basic Authorization value.
 */
export function splitCredentials(rawUrl: string): { url: string; authorization?: string } {
  let u: URL;
  try {
    u = new URL(rawUrl);
  } catch {
    return { url: stripUserinfo(rawUrl) };
  }
  if (u.username === "" && u.password === "") return { url: rawUrl };
  const user = decodeURIComponent(u.username);
  const pass = decodeURIComponent(u.password);
  u.username = "";
  u.password = "";
  return { url: u.toString().replace(/\/$/, ""), authorization: basicAuthorization(user || "x-access-token", pass) };
}

export function basicAuthorization(user: string, password: string): string {
  return `basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
}

/**
 * Environment for git: no prompts, no system/global config, credentials and
 * TLS settings passed as GIT_CONFIG_* entries (never on the command line,
 * never in URLs, never written to a repository's config).
 */
export function gitEnv(remote: GitRemote): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith("GIT_") || k === "SSH_ASKPASS") continue;
    env[k] = v;
  }
  const config: [string, string][] = [
    ["credential.helper", ""],
    ["core.askPass", ""],
    ["protocol.version", "2"],
    // Actions come over HTTP(S) only: no file://, ssh or ext:: transports.
    ["protocol.allow", "never"],
    ["protocol.http.allow", "always"],
    ["protocol.https.allow", "always"],
    ["http.lowSpeedLimit", "1000"],
    ["http.lowSpeedTime", "60"],
    ["advice.detachedHead", "false"],
    ["init.defaultBranch", "main"],
    ["core.autocrlf", "false"],
  ];
  if (remote.authorization) config.push(["http.extraHeader", `Authorization: ${remote.authorization}`]);
  if (remote.insecure) config.push(["http.sslVerify", "false"]);
  env.GIT_CONFIG_COUNT = String(config.length);
  config.forEach(([k, v], i) => {
    env[`GIT_CONFIG_KEY_${i}`] = k;
    env[`GIT_CONFIG_VALUE_${i}`] = v;
  });
  env.GIT_TERMINAL_PROMPT = "0";
  env.GIT_CONFIG_NOSYSTEM = "1";
  env.GIT_CONFIG_GLOBAL = "/dev/null";
  env.GIT_ASKPASS = "";
  env.LC_ALL = "C";
  return env;
}

export interface GitResult {
  stdout: string;
  stderr: string;
}

/** Runs git; on failure throws ActionError("fetch-failed") with credentials scrubbed from the message. */
export function runGit(
  args: string[],
  opts: { cwd?: string; remote: GitRemote; signal?: AbortSignal; secrets?: string[] },
): Promise<GitResult> {
  const scrub = (s: string) => {
    let out = stripUserinfo(s);
    for (const secret of [...(opts.secrets ?? []), ...authParts(opts.remote.authorization)]) {
      if (secret.length >= 3) out = out.split(secret).join("***");
    }
    return out;
  };
  return new Promise((resolve, reject) => {
    if (opts.signal?.aborted) {
      reject(new ActionError("aborted", "action preparation was cancelled"));
      return;
    }
    const child = spawn("git", args, {
      // Outside any repository, so no repository's config (insteadOf, hooks...) applies.
      cwd: opts.cwd ?? "/",
      env: gitEnv(opts.remote),
      stdio: ["ignore", "pipe", "pipe"],
      signal: opts.signal,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("error", (e) => {
      if (opts.signal?.aborted) reject(new ActionError("aborted", "action preparation was cancelled"));
      else reject(new ActionError("fetch-failed", `cannot run git: ${scrub(e.message)}`));
    });
    child.on("close", (code, sig) => {
      const stdout = Buffer.concat(out).toString("utf8");
      const stderr = Buffer.concat(err).toString("utf8");
      if (code === 0) {
        resolve({ stdout, stderr });
        return;
      }
      if (opts.signal?.aborted) {
        reject(new ActionError("aborted", "action preparation was cancelled"));
        return;
      }
      const what = `git ${args.filter((a) => !a.startsWith("-")).slice(0, 1).join(" ")}`;
      const detail = scrub(stderr.trim()).split("\n").slice(-5).join("\n") || `exit ${code ?? sig}`;
      reject(new ActionError("fetch-failed", `${what} failed: ${detail}`));
    });
  });
}

/** The Authorization value and the secret decoded from it, for scrubbing. */
function authParts(authorization: string | undefined): string[] {
  if (!authorization) return [];
  const encoded = authorization.replace(/^\S+\s+/, "");
  const parts = [authorization, encoded];
  try {
    const decoded = Buffer.from(encoded, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon >= 0) parts.push(decoded.slice(colon + 1));
  } catch {
    // not base64: nothing more to scrub
  }
  return parts;
}

export interface RemoteRef {
  name: string;
  commit: string;
}

/** `git ls-remote` for one short ref name; returns all matching refs. */
export async function lsRemote(remote: GitRemote, ref: string, signal?: AbortSignal): Promise<RemoteRef[]> {
  const patterns = ref.startsWith("refs/") ? [ref, `${ref}^{}`] : [`refs/tags/${ref}`, `refs/tags/${ref}^{}`, `refs/heads/${ref}`];
  const { stdout } = await runGit(["ls-remote", "--", remote.url, ...patterns], { remote, signal });
  const refs: RemoteRef[] = [];
  for (const line of stdout.split("\n")) {
    const m = /^([0-9a-f]{40,64})\t(\S+)$/.exec(line.trim());
    if (m) refs.push({ commit: m[1]!, name: m[2]! });
  }
  return refs;
}

/**
 * Picks the commit a short ref names, the way GitHub does: a tag (peeled to its
 * commit) before a branch.
 */
export function pickRef(ref: string, refs: RemoteRef[]): RemoteRef | undefined {
  const full = ref.startsWith("refs/") ? [ref] : [`refs/tags/${ref}`, `refs/heads/${ref}`];
  for (const name of full) {
    const peeled = refs.find((r) => r.name === `${name}^{}`);
    if (peeled) return { name, commit: peeled.commit };
    const plain = refs.find((r) => r.name === name);
    if (plain) return plain;
  }
  return undefined;
}

export function isFullSha(ref: string): boolean {
  return /^[0-9a-f]{40}$/i.test(ref) || /^[0-9a-f]{64}$/i.test(ref);
}
