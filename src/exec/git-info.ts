import { execFileSync } from "node:child_process";
import path from "node:path";

export interface RepoInfo {
  /** `owner/name`. */
  repository: string;
  owner: string;
  name: string;
  /** Forge root URL with a trailing `/`. */
  serverUrl: string;
  sha: string;
  /** Full ref (`refs/heads/main`), "" when unknown. */
  ref: string;
  actor: string;
  defaultBranch: string;
}

function git(dir: string, args: string[]): string | undefined {
  try {
    return execFileSync("git", args, { cwd: dir, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return undefined;
  }
}

/** Parses `https://host/owner/name(.git)` or `git@host:owner/name(.git)` into its parts. */
export function parseRemote(url: string): { server: string; owner: string; name: string } | undefined {
  const trimmed = url.replace(/\.git$/, "").replace(/\/+$/, "");
  const scp = /^(?:[^@/]+@)?([^:/]+):(?!\/)(.+)$/.exec(trimmed);
  let host: string;
  let pathPart: string;
  let scheme = "https";
  if (scp && !/^[a-z]+:\/\//i.test(trimmed)) {
    host = scp[1]!;
    pathPart = scp[2]!;
  } else {
    let u: URL;
    try {
      u = new URL(trimmed);
    } catch {
      return undefined;
    }
    if (u.protocol === "http:") scheme = "http";
    host = u.host;
    pathPart = u.pathname.replace(/^\/+/, "");
    if (u.protocol === "ssh:" || u.protocol === "git:") scheme = "https";
    if (u.protocol === "file:") return undefined;
  }
  const parts = pathPart.split("/").filter(Boolean);
  if (parts.length < 2) return undefined;
  const name = parts[parts.length - 1]!;
  const owner = parts[parts.length - 2]!;
  const prefix = parts.slice(0, -2).join("/");
  return { server: `${scheme}://${host}/${prefix ? prefix + "/" : ""}`, owner, name };
}

/** What exec can learn about the repository in `dir`; falls back to `local/<dirname>`. */
export function readRepoInfo(dir: string): RepoInfo {
  const abs = path.resolve(dir);
  const remoteUrl = git(abs, ["remote", "get-url", "origin"]) ?? firstRemoteUrl(abs);
  const remote = remoteUrl ? parseRemote(remoteUrl) : undefined;
  const owner = remote?.owner ?? "local";
  const name = remote?.name ?? (path.basename(abs) || "workspace");
  const head = git(abs, ["symbolic-ref", "-q", "HEAD"]);
  const sha = git(abs, ["rev-parse", "-q", "--verify", "HEAD"]) ?? "";
  let ref = head ?? "";
  if (!ref && sha) {
    const tag = git(abs, ["describe", "--tags", "--exact-match", "HEAD"]);
    if (tag) ref = `refs/tags/${tag}`;
  }
  const actor = git(abs, ["config", "user.name"]) || process.env.USER || "local";
  const originHead = git(abs, ["symbolic-ref", "-q", "refs/remotes/origin/HEAD"]);
  const defaultBranch = originHead?.replace(/^refs\/remotes\/origin\//, "") || (head ? head.replace(/^refs\/heads\//, "") : "main");
  return {
    repository: `${owner}/${name}`,
    owner,
    name,
    serverUrl: remote?.server ?? "http://localhost/",
    sha,
    ref,
    actor,
    defaultBranch,
  };
}

function firstRemoteUrl(dir: string): string | undefined {
  const remotes = git(dir, ["remote"]);
  const first = remotes?.split("\n").find(Boolean);
  return first ? git(dir, ["remote", "get-url", first]) : undefined;
}
