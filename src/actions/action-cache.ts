// On-disk cache of fetched actions, shared by concurrent jobs and processes.
//
//   <cacheDir>/entries/<urlhash>-<commit>/       the repository's files at that commit (no .git)
//   <cacheDir>/entries/<urlhash>-<commit>.json   { url, commit, size, created }
//   <cacheDir>/refs/<hash(url, ref)>.json        last commit a ref resolved to (offline use)
//   <cacheDir>/leases/<entry>@<pid>@<nonce>      an entry in use; eviction skips it
//   <cacheDir>/tmp/                              fetches in progress, trash being deleted
//   <cacheDir>/lock/                             short cross-process critical sections
//
// An entry appears by an atomic rename of a complete tree, so a reader sees
// all of it or nothing. The lock covers only renames, leases and eviction,
// never the network.

import { promises as fs } from "node:fs";
import path from "node:path";
import { nodeCrypto, randomHex } from "../host/index.js";

const LOCK_STALE_MS = 120_000;
const LOCK_WAIT_MS = 120_000;
const TEMP_STALE_MS = 6 * 3600_000;

export interface CacheLease {
  /** Absolute directory of the entry (repository root at the commit). */
  dir: string;
  /** The entry was fetched with credentials: a later user must prove access too. */
  authenticated: boolean;
  release(): Promise<void>;
}

interface EntryMeta {
  url: string;
  commit: string;
  size: number;
  created: string;
  authenticated?: boolean;
}

export class ActionCache {
  readonly entriesDir: string;
  private readonly refsDir: string;
  private readonly leasesDir: string;
  readonly tmpDir: string;
  private readonly lockDir: string;

  constructor(readonly root: string) {
    this.entriesDir = path.join(root, "entries");
    this.refsDir = path.join(root, "refs");
    this.leasesDir = path.join(root, "leases");
    this.tmpDir = path.join(root, "tmp");
    this.lockDir = path.join(root, "lock");
  }

  async init(): Promise<void> {
    for (const d of [this.entriesDir, this.refsDir, this.leasesDir, this.tmpDir]) await fs.mkdir(d, { recursive: true });
  }

  entryName(url: string, commit: string): string {
    return `${sha256(url).slice(0, 16)}-${commit.toLowerCase()}`;
  }

  /** The commit `ref` of `url` resolved to when last fetched online. */
  async lookupRef(url: string, ref: string): Promise<string | undefined> {
    try {
      const rec = JSON.parse(await fs.readFile(this.refFile(url, ref), "utf8")) as { url?: string; ref?: string; commit?: string };
      return rec.url === url && rec.ref === ref && typeof rec.commit === "string" ? rec.commit : undefined;
    } catch {
      return undefined;
    }
  }

  async recordRef(url: string, ref: string, commit: string): Promise<void> {
    await writeAtomic(this.refFile(url, ref), JSON.stringify({ url, ref, commit, resolved: new Date().toISOString() }), this.tmpDir);
  }

  /** Leases the entry if it is complete in the cache (and marks it recently used). */
  async acquire(url: string, commit: string): Promise<CacheLease | undefined> {
    const name = this.entryName(url, commit);
    const dir = path.join(this.entriesDir, name);
    return this.withLock(async () => {
      if (!(await isDir(dir))) return undefined;
      return this.lease(name, dir);
    });
  }

  /** A fresh directory for a fetch; on the cache's file system so a rename can publish it. */
  async makeTempDir(prefix = "fetch-"): Promise<string> {
    await fs.mkdir(this.tmpDir, { recursive: true });
    return fs.mkdtemp(path.join(this.tmpDir, prefix));
  }

  /**
   * Publishes a complete tree as the entry for url+commit and leases it. When
   * another job or process published the same entry first, its copy is kept
   * and `tree` is deleted.
   */
  async install(url: string, commit: string, tree: string, authenticated: boolean): Promise<CacheLease> {
    const name = this.entryName(url, commit);
    const dir = path.join(this.entriesDir, name);
    const size = await treeSize(tree);
    const meta: EntryMeta = { url, commit, size, created: new Date().toISOString(), authenticated };
    let lost = false;
    const lease = await this.withLock(async () => {
      try {
        await fs.rename(tree, dir);
        await writeAtomic(`${dir}.json`, JSON.stringify(meta), this.tmpDir);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== "ENOTEMPTY" && code !== "EEXIST") throw err;
        lost = true;
      }
      return this.lease(name, dir);
    });
    if (lost) await fs.rm(tree, { recursive: true, force: true });
    return lease;
  }

  /**
   * Evicts least recently used entries until the cache holds at most
   * `maxBytes`. Leased entries stay, whatever their age. Returns the names
   * of evicted entries.
   */
  async evict(maxBytes: number): Promise<string[]> {
    const evicted: string[] = [];
    const trash: string[] = [];
    await this.withLock(async () => {
      const leased = await this.liveLeases();
      const entries: { name: string; size: number; used: number }[] = [];
      for (const name of await fs.readdir(this.entriesDir)) {
        if (name.endsWith(".json")) continue;
        const dir = path.join(this.entriesDir, name);
        const st = await fs.stat(dir).catch(() => undefined);
        if (!st?.isDirectory()) continue;
        let size: number;
        try {
          size = (JSON.parse(await fs.readFile(`${dir}.json`, "utf8")) as EntryMeta).size;
        } catch {
          size = await treeSize(dir);
        }
        entries.push({ name, size, used: st.mtimeMs });
      }
      let total = entries.reduce((n, e) => n + e.size, 0);
      entries.sort((a, b) => a.used - b.used);
      for (const e of entries) {
        if (total <= maxBytes) break;
        if (leased.has(e.name)) continue;
        const dest = path.join(this.tmpDir, `trash-${e.name}-${randomHex(4)}`);
        await fs.rename(path.join(this.entriesDir, e.name), dest);
        await fs.rm(path.join(this.entriesDir, `${e.name}.json`), { force: true });
        trash.push(dest);
        evicted.push(e.name);
        total -= e.size;
      }
    });
    for (const t of trash) await fs.rm(t, { recursive: true, force: true });
    await this.removeStaleTemps();
    return evicted;
  }

  /** Entry names with a lease held by a live process; removes leases of dead ones. */
  private async liveLeases(): Promise<Set<string>> {
    const live = new Set<string>();
    for (const file of await fs.readdir(this.leasesDir).catch(() => [] as string[])) {
      const [name, pidText] = file.split("@");
      const pid = Number(pidText);
      if (name && Number.isInteger(pid) && processAlive(pid)) live.add(name);
      else await fs.rm(path.join(this.leasesDir, file), { force: true });
    }
    return live;
  }

  private async lease(name: string, dir: string): Promise<CacheLease> {
    let authenticated = true; // unknown metadata: assume the stricter case
    try {
      authenticated = (JSON.parse(await fs.readFile(`${dir}.json`, "utf8")) as EntryMeta).authenticated !== false;
    } catch {
      // keep the strict default
    }
    const file = path.join(this.leasesDir, `${name}@${process.pid}@${randomHex(6)}`);
    await fs.writeFile(file, "");
    const now = new Date();
    await fs.utimes(dir, now, now).catch(() => undefined);
    let released = false;
    return {
      dir,
      authenticated,
      release: async () => {
        if (released) return;
        released = true;
        await fs.rm(file, { force: true });
      },
    };
  }

  private async removeStaleTemps(): Promise<void> {
    const now = Date.now();
    for (const name of await fs.readdir(this.tmpDir).catch(() => [] as string[])) {
      const p = path.join(this.tmpDir, name);
      const st = await fs.stat(p).catch(() => undefined);
      if (st && now - st.mtimeMs > TEMP_STALE_MS) await fs.rm(p, { recursive: true, force: true });
    }
  }

  private refFile(url: string, ref: string): string {
    return path.join(this.refsDir, `${sha256(`${url}\n${ref}`).slice(0, 32)}.json`);
  }

  /** Runs `fn` holding the cache-wide lock (a directory, so it works across processes). */
  private async withLock<T>(fn: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + LOCK_WAIT_MS;
    const owner = path.join(this.lockDir, "owner");
    for (;;) {
      try {
        await fs.mkdir(this.lockDir);
        await fs.writeFile(owner, String(process.pid)).catch(() => undefined);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      }
      await this.breakStaleLock(owner);
      if (Date.now() > deadline) throw new Error(`timed out waiting for the action cache lock ${this.lockDir}`);
      await sleep(3 + Math.random() * 20);
    }
    try {
      return await fn();
    } finally {
      await fs.rm(this.lockDir, { recursive: true, force: true });
    }
  }

  private async breakStaleLock(owner: string): Promise<void> {
    const st = await fs.stat(this.lockDir).catch(() => undefined);
    if (!st) return;
    const pid = Number(await fs.readFile(owner, "utf8").catch(() => ""));
    const ownerDead = Number.isInteger(pid) && pid > 0 && !processAlive(pid);
    if (ownerDead || Date.now() - st.mtimeMs > LOCK_STALE_MS) {
      // Rename first so two breakers cannot both remove a lock taken meanwhile.
      const dest = path.join(this.tmpDir, `stale-lock-${randomHex(4)}`);
      try {
        await fs.rename(this.lockDir, dest);
        await fs.rm(dest, { recursive: true, force: true });
      } catch {
        // someone else broke or released it
      }
    }
  }
}

export function sha256(s: string): string {
  return nodeCrypto().createHash("sha256").update(s).digest("hex");
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function isDir(p: string): Promise<boolean> {
  const st = await fs.stat(p).catch(() => undefined);
  return st?.isDirectory() ?? false;
}

/** Sum of file sizes under `dir` (symlinks not followed). */
export async function treeSize(dir: string): Promise<number> {
  let total = 0;
  const stack = [dir];
  while (stack.length > 0) {
    const d = stack.pop()!;
    for (const ent of await fs.readdir(d, { withFileTypes: true })) {
      const p = path.join(d, ent.name);
      if (ent.isDirectory()) stack.push(p);
      else total += (await fs.lstat(p)).size;
    }
  }
  return total;
}

async function writeAtomic(file: string, text: string, tmpDir: string): Promise<void> {
  const tmp = path.join(tmpDir, `w-${randomHex(6)}`);
  await fs.writeFile(tmp, text);
  await fs.rename(tmp, file);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
