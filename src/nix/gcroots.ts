import { lstat, mkdir, readdir, readFile, readlink, rm, rmdir, stat, symlink, utimes, lutimes } from "node:fs/promises";
import { basename, join } from "node:path";
import { addRoot, closureBytes, type NixCliOptions } from "./nix-cli.js";
import { parseDeclaredRoots, resultLinks, rootsFromAutoDir, type FoundRoot } from "./store-paths.js";

export interface RetentionPolicy {
  /** Roots older than this (ms since the run dir's mtime) are dropped; 0 = no TTL. */
  ttl: number;
  /** Keep at most this many run dirs per repo+ref; 0 = unlimited. */
  keepLast: number;
  /** Only keep outputs of runs on the repository's default branch. */
  defaultBranchOnly: boolean;
}

export interface HarvestInput {
  workspace: string;
  /** File the job may append store paths to (NATIVE_RUNNER_NIX_ROOTS). */
  declaredFile?: string;
  repository: string;
  ref: string;
  defaultBranch?: string;
  runId: string;
  jobId: string;
}

export interface HarvestResult {
  /** Directory holding this run's roots, when something was kept. */
  dir?: string;
  kept: FoundRoot[];
  /** Why nothing was kept, or declared lines that were not store paths. */
  notes: string[];
}

export interface GcRootManagerOptions {
  stateDir: string;
  policy: RetentionPolicy;
  /** Where the nix daemon records indirect roots. */
  autoDir?: string;
  nix?: NixCliOptions;
  /** Bypass nix-store (tests without nix): plain symlinks. */
  linkOnly?: boolean;
}

/** Path segment safe for a directory name, still readable. */
export function segment(s: string): string {
  const cleaned = s.replace(/^refs\//, "").replace(/[^A-Za-z0-9._-]+/g, "_").replace(/^\.+/, "_");
  return cleaned.slice(0, 100) || "_";
}

export function isDefaultBranchRef(ref: string, defaultBranch: string | undefined): boolean {
  if (!defaultBranch) return false;
  return ref === `refs/heads/${defaultBranch}` || ref === defaultBranch;
}

/**
 * Keeps the store paths a job built alive after its workspace is deleted,
 * by re-rooting them under `<stateDir>/gcroots/<owner>/<repo>/<ref>/<run>-<job>/`,
 * and expires those roots by policy. It never runs garbage collection.
 */
export class GcRootManager {
  readonly root: string;
  private readonly autoDir: string;

  constructor(private readonly opts: GcRootManagerOptions) {
    this.root = join(opts.stateDir, "gcroots");
    this.autoDir = opts.autoDir ?? "/nix/var/nix/gcroots/auto";
  }

  async harvest(input: HarvestInput): Promise<HarvestResult> {
    const notes: string[] = [];
    const found: FoundRoot[] = [
      ...(await rootsFromAutoDir(this.autoDir, input.workspace)),
      ...(await resultLinks(input.workspace)),
    ];
    if (input.declaredFile) {
      const text = await readFile(input.declaredFile, "utf8").catch(() => "");
      const { roots, invalid } = parseDeclaredRoots(text);
      found.push(...roots);
      for (const l of invalid) notes.push(`ignored declared root (not a store path): ${l}`);
    }
    const unique = new Map<string, FoundRoot>();
    for (const f of found) if (!unique.has(f.storePath)) unique.set(f.storePath, f);
    if (unique.size === 0) return { kept: [], notes };
    if (this.opts.policy.defaultBranchOnly && !isDefaultBranchRef(input.ref, input.defaultBranch)) {
      notes.push(`not keeping ${unique.size} output(s): ${input.ref} is not the default branch (nix.gcroots.default_branch_only)`);
      return { kept: [], notes };
    }
    const [owner = "_", repo = "_"] = input.repository.split("/");
    const refDir = join(this.root, segment(owner), segment(repo), segment(input.ref));
    const dir = join(refDir, `${segment(input.runId)}-${segment(input.jobId)}`);
    await mkdir(dir, { recursive: true });
    const kept: FoundRoot[] = [];
    for (const f of unique.values()) {
      const link = join(dir, basename(f.storePath));
      try {
        await rm(link, { force: true });
        if (this.opts.linkOnly) await symlink(f.storePath, link);
        else await addRoot(link, f.storePath, this.opts.nix);
        kept.push(f);
      } catch (err) {
        notes.push(`could not keep ${f.storePath}: ${(err as Error).message}`);
      }
    }
    await this.refreshSiblings(refDir, dir, new Set(kept.map((k) => k.storePath)));
    await this.applyKeepLast(refDir);
    return { dir, kept, notes };
  }

  /** Older runs of the same repo+ref that rooted the same outputs count as fresh again. */
  private async refreshSiblings(refDir: string, current: string, paths: Set<string>): Promise<void> {
    const now = new Date();
    for (const run of await listDirs(refDir)) {
      if (run === current) continue;
      let touched = false;
      for (const l of await readdir(run).catch(() => [] as string[])) {
        const target = await readlink(join(run, l)).catch(() => "");
        if (paths.has(target)) {
          await lutimes(join(run, l), now, now).catch(() => {});
          touched = true;
        }
      }
      if (touched) await utimes(run, now, now).catch(() => {});
    }
  }

  private async applyKeepLast(refDir: string): Promise<void> {
    const k = this.opts.policy.keepLast;
    if (k <= 0) return;
    const runs = await runsByAge(refDir);
    for (const r of runs.slice(k)) await rm(r.dir, { recursive: true, force: true });
  }

  /** Drops expired run dirs (TTL, keep-last). Returns the run dirs removed. */
  async sweep(now = Date.now()): Promise<string[]> {
    const removed: string[] = [];
    for (const owner of await listDirs(this.root)) {
      for (const repo of await listDirs(owner)) {
        for (const ref of await listDirs(repo)) {
          const runs = await runsByAge(ref);
          for (const [i, r] of runs.entries()) {
            const expired = this.opts.policy.ttl > 0 && now - r.mtime > this.opts.policy.ttl;
            const surplus = this.opts.policy.keepLast > 0 && i >= this.opts.policy.keepLast;
            if (expired || surplus) {
              await rm(r.dir, { recursive: true, force: true });
              removed.push(r.dir);
            }
          }
          await rmdir(ref).catch(() => {});
        }
        await rmdir(repo).catch(() => {});
      }
      await rmdir(owner).catch(() => {});
    }
    return removed;
  }

  /** Every store path currently rooted by the runner. */
  async rootedPaths(): Promise<string[]> {
    const paths = new Set<string>();
    for (const owner of await listDirs(this.root))
      for (const repo of await listDirs(owner))
        for (const ref of await listDirs(repo))
          for (const run of await listDirs(ref))
            for (const l of await readdir(run).catch(() => [] as string[])) {
              const t = await readlink(join(run, l)).catch(() => undefined);
              if (t) paths.add(t);
            }
    return [...paths];
  }

  /** Number of rooted store paths and the bytes their closures keep alive. */
  async usage(): Promise<{ roots: number; bytes: number }> {
    const paths = await this.rootedPaths();
    if (this.opts.linkOnly) return { roots: paths.length, bytes: 0 };
    const valid: string[] = [];
    for (const p of paths) if (await stat(p).then(() => true, () => false)) valid.push(p);
    return { roots: paths.length, bytes: await closureBytes(valid, this.opts.nix).catch(() => 0) };
  }
}

async function listDirs(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    if (e.isDirectory()) out.push(join(dir, e.name));
  }
  return out;
}

async function runsByAge(refDir: string): Promise<Array<{ dir: string; mtime: number }>> {
  const runs: Array<{ dir: string; mtime: number }> = [];
  for (const d of await listDirs(refDir)) {
    const st = await lstat(d).catch(() => undefined);
    if (st) runs.push({ dir: d, mtime: st.mtimeMs });
  }
  return runs.sort((a, b) => b.mtime - a.mtime);
}
