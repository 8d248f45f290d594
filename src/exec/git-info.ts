import { execFile, execFileSync } from "node:child_process";
import path from "node:path";
import { gitAnswersFromFiles } from "./git-files.js";

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

// Everything exec asks git, in one process: spawning from a large Node process costs milliseconds per call.
// Each answer ends with a line holding only RS (\x1e); a failed command leaves its answer empty.
const GIT_QUERIES = `
a() { "$@" 2>/dev/null; printf '\\n\\036\\n'; }
a git remote -v
head=$(git symbolic-ref -q HEAD 2>/dev/null); printf '%s\\n\\036\\n' "$head"
a git rev-parse -q --verify HEAD
if [ -z "$head" ]; then a git describe --tags --exact-match HEAD; else printf '\\n\\036\\n'; fi
a git config user.name
a git symbolic-ref -q refs/remotes/origin/HEAD
`;

/** The answers from git itself (exported for the test that holds git-files.ts to them). */
export function gitAnswers(dir: string, env: NodeJS.ProcessEnv = process.env): string[] {
  let out = "";
  try {
    out = execFileSync("sh", ["-c", GIT_QUERIES], { cwd: dir, env, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  } catch (err) {
    out = String((err as { stdout?: string }).stdout ?? "");
  }
  return splitAnswers(out);
}

function gitAnswersAsync(dir: string): Promise<string[]> {
  return new Promise((resolve) => {
    const child = execFile("sh", ["-c", GIT_QUERIES], { cwd: dir, encoding: "utf8" }, (_err, stdout) => resolve(splitAnswers(String(stdout ?? ""))));
    child.stdin?.end();
  });
}

const splitAnswers = (out: string): string[] => out.split("\n\x1e\n").map((a) => a.trim());

/** The URL of `origin` in `git remote -v` output, else the first remote's. */
function remoteUrl(remotes: string): string | undefined {
  const fetches = remotes
    .split("\n")
    .map((l) => /^(\S+)\t(.+) \(fetch\)$/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null);
  return (fetches.find((m) => m[1] === "origin") ?? fetches[0])?.[2];
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
  return repoInfo(abs, gitAnswersFromFiles(abs) ?? gitAnswers(abs));
}

/** readRepoInfo without blocking: git runs while the caller goes on (exec parses the workflows meanwhile). */
export async function readRepoInfoAsync(dir: string): Promise<RepoInfo> {
  const abs = path.resolve(dir);
  return repoInfo(abs, gitAnswersFromFiles(abs) ?? (await gitAnswersAsync(abs)));
}

function repoInfo(abs: string, answers: string[]): RepoInfo {
  const [remotes = "", head = "", sha = "", tag = "", userName = "", originHead = ""] = answers;
  const url = remoteUrl(remotes);
  const remote = url ? parseRemote(url) : undefined;
  const owner = remote?.owner ?? "local";
  const name = remote?.name ?? (path.basename(abs) || "workspace");
  const ref = head || (sha && tag ? `refs/tags/${tag}` : "");
  const actor = userName || process.env.USER || "local";
  const defaultBranch = originHead.replace(/^refs\/remotes\/origin\//, "") || (head ? head.replace(/^refs\/heads\//, "") : "main");
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
