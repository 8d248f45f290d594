// What exec asks git (git-info.ts), read from the repository's own files where its layout is the plain one:
// a `.git` directory found from the working directory up, owned by this user, with a branch checked out, loose
// or packed refs, and config files without includes, URL rewriting or extensions. Starting git costs exec a
// fork of the whole runner (2–4 ms on its main thread) and the wait for six git commands; reading a few small
// files costs well under a millisecond. Anything else (GIT_* in the environment, a worktree's or submodule's
// `.git` file, a detached HEAD, a repository owned by someone else, reftable, includes) returns undefined,
// and git answers as before: the answers here must be the ones git would give.

import { lstatSync, readdirSync, readFileSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";

/** The answers of git-info.ts's queries, in its order: remotes (`git remote -v`), HEAD's ref, sha, tag, user.name, origin's HEAD. */
export function gitAnswersFromFiles(dir: string, env: NodeJS.ProcessEnv = process.env): string[] | undefined {
  try {
    return readAnswers(dir, env);
  } catch {
    return undefined; // a path this user may not read: git says what it makes of it
  }
}

function readAnswers(dir: string, env: NodeJS.ProcessEnv): string[] | undefined {
  if (Object.keys(env).some((k) => k.startsWith("GIT_") && !NOT_ABOUT_THE_REPOSITORY.test(k))) return undefined;
  const gitDir = findGitDir(dir);
  if (!gitDir) return undefined;
  // git refuses a repository another user owns unless safe.directory allows it: git decides that.
  const uid = process.getuid?.();
  if (statSync(gitDir).uid !== uid || statSync(dirname(gitDir)).uid !== uid) return undefined;
  // Remotes may also come from the old files under .git/remotes and .git/branches.
  if (hasEntries(join(gitDir, "remotes")) || hasEntries(join(gitDir, "branches"))) return undefined;

  const local = readConfig(join(gitDir, "config"));
  if (!local) return undefined;
  const version = local.get("core.repositoryformatversion")?.[0] ?? "0";
  if (version !== "0" && version !== "1") return undefined;
  const unusual = (k: string) => k.startsWith("extensions.") || k === "core.worktree" || (k === "core.bare" && local.get(k)?.[0] === "true");
  if ([...local.keys()].some(unusual)) return undefined;

  const head = readText(join(gitDir, "HEAD"));
  const symbolic = head && /^ref: (refs\/heads\/\S+)\n?$/.exec(head);
  if (!symbolic) return undefined; // detached (git describes the tag) or unreadable
  const ref = symbolic[1]!;
  const sha = resolveRef(gitDir, ref);
  if (sha === undefined) return undefined;

  const global = globalConfigFiles(env).map(readConfig);
  if (global.some((c) => c === undefined)) return undefined;
  const all = [...(global as Config[]), local];
  const userName = all.reduce<string | undefined>((v, c) => c.get("user.name")?.at(-1) ?? v, undefined) ?? "";

  const remotes = new Map<string, string>();
  for (const config of all) {
    for (const [key, values] of config) {
      const m = /^remote\.(.+)\.url$/s.exec(key);
      if (m && values[0] !== undefined && !remotes.has(m[1]!)) remotes.set(m[1]!, values[0]);
    }
  }
  const remoteLines = [...remotes.keys()]
    .sort()
    .map((name) => `${name}\t${remotes.get(name)!} (fetch)`)
    .join("\n");

  const originHeadText = readText(join(gitDir, "refs/remotes/origin/HEAD"));
  const originHead = originHeadText ? (/^ref: (refs\/\S+)\n?$/.exec(originHeadText)?.[1] ?? "") : "";

  return [remoteLines, ref, sha, "", userName, originHead];
}

/** The `.git` directory of the repository `dir` is in, as git discovers it; undefined where that is not plain. */
function findGitDir(start: string): string | undefined {
  let dev: number;
  try {
    dev = statSync(start).dev;
  } catch {
    return undefined;
  }
  for (let d = start; ; d = dirname(d)) {
    const candidate = join(d, ".git");
    const st = lstatSync(candidate, { throwIfNoEntry: false });
    if (st) return st.isDirectory() ? candidate : undefined; // a `.git` file: a worktree or submodule
    if (d.split("/").includes(".git")) return undefined; // inside a git directory itself
    // git takes a directory that is itself a repository (a bare one) before looking further up.
    if (lstatSync(join(d, "HEAD"), { throwIfNoEntry: false }) && lstatSync(join(d, "objects"), { throwIfNoEntry: false })) return undefined;
    const parent = dirname(d);
    if (parent === d) return undefined;
    // git stops at a file system boundary.
    if (statSync(parent).dev !== dev) return undefined;
  }
}

/**
 * Git variables that change neither which repository git finds nor what its config says (TLS, ssh, identity
 * for commits, prompts, tracing). Any other GIT_* (GIT_DIR, GIT_CONFIG_*, GIT_CEILING_DIRECTORIES…) is left to git.
 */
const NOT_ABOUT_THE_REPOSITORY =
  /^GIT_(SSL_|SSH|ASKPASS$|TERMINAL_PROMPT$|AUTHOR_|COMMITTER_|EDITOR$|SEQUENCE_EDITOR$|PAGER$|TRACE|HTTP_|PROXY_|CURL_|TEMPLATE_DIR$|FLUSH$|PROTOCOL_FROM_USER$|ALLOW_PROTOCOL$|LFS_)/;

/** The object a ref names: its loose file, else its packed-refs line; "" for a branch with no commit yet. */
function resolveRef(gitDir: string, ref: string): string | undefined {
  const loose = readText(join(gitDir, ref));
  if (loose !== undefined) return /^[0-9a-f]{40}([0-9a-f]{24})?\n?$/.test(loose) ? loose.trim() : undefined;
  const packed = readText(join(gitDir, "packed-refs"));
  if (packed !== undefined) {
    for (const line of packed.split("\n")) {
      const m = /^([0-9a-f]{40}(?:[0-9a-f]{24})?) (.+)$/.exec(line);
      if (m && m[2] === ref) return m[1]!;
    }
  }
  return "";
}

function globalConfigFiles(env: NodeJS.ProcessEnv): string[] {
  const home = env.HOME ?? homedir();
  const xdg = env.XDG_CONFIG_HOME ? join(env.XDG_CONFIG_HOME, "git/config") : join(home, ".config/git/config");
  return ["/etc/gitconfig", xdg, join(home, ".gitconfig")];
}

function hasEntries(dir: string): boolean {
  try {
    return readdirSync(dir).length > 0;
  } catch {
    return false;
  }
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

/** Lower-cased `section[.subsection].key` → its values in file order. */
type Config = Map<string, string[]>;

/**
 * A git config file, or undefined where this reader would not give git's answer: includes, URL rewriting
 * (`insteadOf`), a line it does not understand. A missing file is an empty config.
 */
function readConfig(path: string): Config | undefined {
  const text = readText(path);
  const out: Config = new Map();
  if (text === undefined) return out;
  let section: string | undefined;
  for (const raw of text.split("\n")) {
    let line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const header = /^\[\s*([A-Za-z0-9.-]+)(?:\s+"((?:[^"\\]|\\.)*)")?\s*\](.*)$/.exec(line);
    if (header) {
      const name = header[1]!.toLowerCase();
      if (name === "include" || name === "includeif" || name === "url") return undefined;
      if (header[2] === undefined && name.includes(".")) return undefined; // the old [section.subsection] form
      section = header[2] === undefined ? name : `${name}.${header[2].replace(/\\(.)/g, "$1")}`;
      line = header[3]!.trim();
      if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    }
    if (section === undefined) return undefined;
    const kv = /^([A-Za-z][A-Za-z0-9-]*)\s*(?:=\s*(.*))?$/.exec(line);
    if (!kv) return undefined;
    const value = kv[2] === undefined ? "true" : configValue(kv[2]);
    if (value === undefined) return undefined;
    const key = `${section}.${kv[1]!.toLowerCase()}`;
    out.set(key, [...(out.get(key) ?? []), value]);
  }
  return out;
}

/** A value: quotes dropped, a comment after it cut, the common escapes read; undefined for a continued line. */
function configValue(raw: string): string | undefined {
  let out = "";
  let quoted = false;
  let pendingSpace = "";
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (c === "\\") {
      const n = raw[++i];
      if (n === undefined) return undefined; // continues on the next line
      const esc: Record<string, string> = { n: "\n", t: "\t", b: "\b", "\\": "\\", '"': '"' };
      if (!(n in esc)) return undefined;
      out += pendingSpace + esc[n]!;
      pendingSpace = "";
    } else if (c === '"') {
      quoted = !quoted;
      out += pendingSpace;
      pendingSpace = "";
    } else if (!quoted && (c === "#" || c === ";")) {
      break;
    } else if (!quoted && (c === " " || c === "\t")) {
      pendingSpace += " "; // as git: each blank between words is a space
    } else {
      out += pendingSpace + c;
      pendingSpace = "";
    }
  }
  return quoted ? undefined : out;
}
