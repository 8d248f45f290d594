import { mkdirSync, chmodSync, existsSync, readdirSync, rmSync, unlinkSync } from "node:fs";
import { open, rename, rm, unlink, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { IndexDb, type Entry } from "./index-db.js";
import { CacheHttpError, type ContentRange } from "./http-util.js";
import type { CacheLog } from "./log.js";

export type { Entry } from "./index-db.js";

/** forgejo-runner's expiry rules, in milliseconds. */
export interface ExpiryRules {
  /** An upload nobody touched for this long is dropped. */
  incompleteUnused: number;
  /** A complete entry nobody restored for this long is dropped. */
  unused: number;
  /** A complete entry older than this is dropped. */
  maxAge: number;
  /** A superseded duplicate is kept this long after its last use (downloads in progress). */
  duplicateGrace: number;
  /** An upload with no request for this long no longer blocks a new reservation of its key. */
  uploadStale: number;
  /** How often expiry runs. */
  interval: number;
}

export const DEFAULT_EXPIRY: ExpiryRules = {
  incompleteUnused: 5 * 60_000,
  unused: 7 * 24 * 3600_000,
  maxAge: 30 * 24 * 3600_000,
  duplicateGrace: 5 * 60_000,
  uploadStale: 60_000,
  interval: 3600_000,
};

export interface CacheStoreOptions {
  dir: string;
  /** Quota in bytes over complete entries plus reserved uploads. */
  maxSize: number;
  expiry?: Partial<ExpiryRules>;
  log?: CacheLog;
  now?: () => number;
}

interface Upload {
  fh: FileHandle;
  path: string;
  received: Array<{ start: number; end: number }>;
  inflight: Array<{ start: number; end: number }>;
  committing: boolean;
  lastActivity: number;
  /** Background flush of written chunks, so that the fsync at commit has little left to do. */
  syncing?: Promise<void>;
  syncAgain?: boolean;
}

const MAX_KEY = 512;
const MAX_VERSION = 512;
const WRITE_BATCH = 1 << 20;
const MAX_PENDING = 4 << 20;

/**
 * Entries as files under `dir`, indexed in SQLite.
 *
 * Layout: `index.sqlite`, `blobs/<id % 256 as %02x>/<id>` for complete
 * entries, `uploads/<id>.part` for uploads in progress. A blob is renamed
 * into place (after fsync) before its row is marked complete, and only
 * complete rows are ever served, so a crash at any point leaves at worst
 * an orphan file that the next start removes.
 */
export class CacheStore {
  readonly dir: string;
  readonly maxSize: number;
  readonly expiry: ExpiryRules;
  private readonly db: IndexDb;
  private readonly uploads = new Map<number, Upload>();
  private readonly log: CacheLog;
  private readonly now: () => number;
  private readonly blobDir: string;
  private readonly uploadDir: string;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(opts: CacheStoreOptions) {
    this.dir = opts.dir;
    this.maxSize = opts.maxSize;
    this.expiry = { ...DEFAULT_EXPIRY, ...opts.expiry };
    this.log = opts.log ?? (() => {});
    this.now = opts.now ?? Date.now;
    this.blobDir = join(this.dir, "blobs");
    this.uploadDir = join(this.dir, "uploads");
    // Job processes must not read other repositories' entries from disk.
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    chmodSync(this.dir, 0o700);
    mkdirSync(this.blobDir, { recursive: true, mode: 0o700 });
    this.db = new IndexDb(join(this.dir, "index.sqlite"));
    try {
      this.recover();
    } catch (err) {
      this.db.close();
      throw err;
    }
    this.expire();
    this.timer = setInterval(() => this.expire(), this.expiry.interval);
    this.timer.unref();
  }

  /**
   * Uploads do not survive a restart (their connections died with the old
   * process), so incomplete rows, upload files and blobs without a complete
   * row are removed.
   */
  private recover(): void {
    for (const e of this.db.incomplete()) this.db.delete(e.id);
    rmSync(this.uploadDir, { recursive: true, force: true });
    mkdirSync(this.uploadDir, { recursive: true, mode: 0o700 });
    const complete = this.db.completeIds();
    const present = new Set<number>();
    for (const shard of readdirSync(this.blobDir)) {
      const shardDir = join(this.blobDir, shard);
      let names: string[];
      try {
        names = readdirSync(shardDir);
      } catch {
        rmSync(shardDir, { force: true });
        continue;
      }
      for (const name of names) {
        const id = /^\d+$/.test(name) ? Number(name) : NaN;
        if (complete.has(id) && this.blobPath(id) === join(shardDir, name)) present.add(id);
        else rmSync(join(shardDir, name), { recursive: true, force: true });
      }
    }
    for (const id of complete) {
      if (!present.has(id)) {
        this.log("warn", `cache entry ${id} lost its file; dropping it`);
        this.db.delete(id);
      }
    }
  }

  private blobPath(id: number): string {
    return join(this.blobDir, (id % 256).toString(16).padStart(2, "0"), String(id));
  }

  /** Looks up the newest complete entry; an isolated run falls back to the shared entries. */
  find(repo: string, keys: string[], version: string, isolationKey: string): Entry | undefined {
    const lower = keys.map((k) => k.toLowerCase()).filter((k) => k !== "");
    let e = this.db.find(repo, lower, version, isolationKey);
    if (!e && isolationKey !== "") e = this.db.find(repo, lower, version, "");
    if (!e) return undefined;
    if (!existsSync(this.blobPath(e.id))) {
      this.log("warn", `cache entry ${e.id} lost its file; dropping it`);
      this.db.delete(e.id);
      return this.find(repo, keys, version, isolationKey);
    }
    this.db.touch(e.id, this.now());
    return e;
  }

  async reserve(repo: string, rawKey: unknown, rawVersion: unknown, rawSize: unknown, isolationKey: string): Promise<Entry> {
    const key = checkKey(rawKey);
    const version = checkVersion(rawVersion);
    let size: number;
    if (rawSize === undefined || rawSize === null) size = -1;
    else if (typeof rawSize !== "number" || !Number.isSafeInteger(rawSize)) throw new CacheHttpError(400, "cacheSize must be an integer");
    else size = rawSize <= 0 ? -1 : rawSize;
    if (size > this.maxSize) {
      throw new CacheHttpError(400, `cache size of ${size} bytes is over the cache quota of ${this.maxSize} bytes`);
    }
    const now = this.now();
    for (const other of this.db.incompleteWithKey(repo, key, version, isolationKey)) {
      const up = this.uploads.get(other.id);
      // A row without upload state is a reservation still opening its file.
      const active = up ? !this.isStale(up, now) : now - other.usedAt <= this.expiry.uploadStale;
      if (active) {
        throw new CacheHttpError(409, `cache entry for key ${JSON.stringify(key)} and this version is already being uploaded (id ${other.id})`);
      }
      this.removeSync(other.id);
    }
    // From the check above to the insert nothing awaits, so two reservations of one key cannot both pass.
    this.makeRoom(size > 0 ? size : 0, -1);
    const entry = this.db.insert({ repo, key, version, isolationKey, size, now });
    const path = join(this.uploadDir, `${entry.id}.part`);
    try {
      const fh = await open(path, "w+", 0o600);
      this.uploads.set(entry.id, { fh, path, received: [], inflight: [], committing: false, lastActivity: now });
    } catch (err) {
      this.db.delete(entry.id);
      throw err;
    }
    return entry;
  }

  private isStale(up: Upload, now: number): boolean {
    return up.inflight.length === 0 && !up.committing && now - up.lastActivity > this.expiry.uploadStale;
  }

  /** Evicts least recently used complete entries until `extra` more bytes fit. */
  private makeRoom(extra: number, exceptId: number): void {
    while (this.db.usedBytes() + extra > this.maxSize) {
      const victim = this.db.leastRecentlyUsed(exceptId);
      if (!victim) {
        throw new CacheHttpError(400, `cache quota of ${this.maxSize} bytes is taken by uploads in progress; try again later`);
      }
      this.log("info", `cache quota: evicting entry ${victim.id} (${victim.repo} ${victim.key}, ${victim.size} bytes)`);
      this.removeSync(victim.id);
    }
  }

  /** An entry this run may upload to. */
  forWrite(id: number, repo: string, isolationKey: string): Entry {
    const e = this.db.get(id);
    if (!e || e.repo !== repo) throw new CacheHttpError(404, `cache ${id}: not reserved`);
    if (e.isolationKey !== isolationKey) {
      throw new CacheHttpError(403, `cache ${id} belongs to write isolation ${JSON.stringify(e.isolationKey)}, not ${JSON.stringify(isolationKey)}`);
    }
    if (e.complete) throw new CacheHttpError(400, `cache ${id} ${JSON.stringify(e.key)}: already complete`);
    return e;
  }

  async writeChunk(entry: Entry, range: ContentRange, body: Readable, contentLength: number | undefined): Promise<void> {
    const up = this.uploads.get(entry.id);
    if (!up) throw new CacheHttpError(404, `cache ${entry.id}: no upload in progress`);
    if (up.committing) throw new CacheHttpError(409, `cache ${entry.id}: commit in progress`);
    const { start, end } = range;
    const limit = entry.size > 0 ? entry.size : this.maxSize;
    if (end >= limit) {
      throw new CacheHttpError(400, `Content-Range ${start}-${end} goes beyond the ${entry.size > 0 ? "reserved size" : "cache quota"} of ${limit} bytes`);
    }
    if (range.total !== undefined && entry.size > 0 && range.total !== entry.size) {
      throw new CacheHttpError(400, `Content-Range total ${range.total} differs from the reserved size ${entry.size}`);
    }
    const expected = end - start + 1;
    if (contentLength !== undefined && contentLength !== expected) {
      throw new CacheHttpError(400, `body of ${contentLength} bytes does not match Content-Range ${start}-${end} (${expected} bytes)`);
    }
    const overlaps = (r: { start: number; end: number }) => r.start <= end && start <= r.end;
    if (up.inflight.some(overlaps)) throw new CacheHttpError(400, `Content-Range ${start}-${end} overlaps a chunk being uploaded`);
    const same = up.received.findIndex((r) => r.start === start && r.end === end);
    if (same < 0 && up.received.some(overlaps)) {
      throw new CacheHttpError(400, `Content-Range ${start}-${end} overlaps a chunk already uploaded`);
    }
    // A retried chunk replaces the earlier copy; until it is complete the range counts as missing.
    if (same >= 0) up.received.splice(same, 1);
    const slot = { start, end };
    up.inflight.push(slot);
    up.lastActivity = this.now();
    this.db.touch(entry.id, up.lastActivity);
    try {
      // Reading the socket and writing the file overlap: up to MAX_PENDING bytes of
      // positional writes are in flight while more of the body arrives.
      let pos = start;
      let got = 0;
      let batch: Buffer[] = [];
      let batchLen = 0;
      const pending: Array<{ p: Promise<unknown>; n: number }> = [];
      let pendingBytes = 0;
      let failed: unknown;
      const flush = () => {
        if (batchLen === 0) return;
        const n = batchLen;
        const p = up.fh.writev(batch, pos).catch((err: unknown) => {
          failed ??= err;
        });
        pending.push({ p, n });
        pendingBytes += n;
        pos += n;
        batch = [];
        batchLen = 0;
      };
      const settle = async (limit: number) => {
        while (pendingBytes > limit) {
          const w = pending.shift()!;
          await w.p;
          pendingBytes -= w.n;
        }
        if (failed) throw failed;
      };
      try {
        // On a bad body the request is left readable, so that the error response still reaches the client.
        for await (const chunk of body.iterator({ destroyOnReturn: false })) {
          const buf = chunk as Buffer;
          got += buf.length;
          if (got > expected) throw new CacheHttpError(400, `body is longer than Content-Range ${start}-${end} (${expected} bytes)`);
          batch.push(buf);
          batchLen += buf.length;
          if (batchLen >= WRITE_BATCH) {
            flush();
            await settle(MAX_PENDING);
          }
        }
        flush();
      } finally {
        await settle(0).catch(() => {});
      }
      if (failed) throw failed;
      if (got !== expected) throw new CacheHttpError(400, `body has ${got} bytes, Content-Range ${start}-${end} says ${expected}`);
      up.received.push(slot);
      this.flushInBackground(up);
    } finally {
      up.inflight.splice(up.inflight.indexOf(slot), 1);
      up.lastActivity = this.now();
    }
  }

  private flushInBackground(up: Upload): void {
    if (up.syncing) {
      up.syncAgain = true;
      return;
    }
    up.syncing = (async () => {
      do {
        up.syncAgain = false;
        await up.fh.datasync().catch(() => {});
      } while (up.syncAgain && !up.committing);
      up.syncing = undefined;
    })();
  }

  async commit(entry: Entry, clientSize: unknown): Promise<Entry> {
    const up = this.uploads.get(entry.id);
    if (!up) throw new CacheHttpError(404, `cache ${entry.id}: no upload in progress`);
    if (up.committing) throw new CacheHttpError(409, `cache ${entry.id}: commit already in progress`);
    if (up.inflight.length > 0) throw new CacheHttpError(409, `cache ${entry.id}: chunks are still being uploaded`);
    const ranges = [...up.received].sort((a, b) => a.start - b.start);
    let total = 0;
    for (const r of ranges) {
      if (r.start !== total) throw new CacheHttpError(400, `cache ${entry.id}: missing bytes ${total}-${r.start - 1}`);
      total = r.end + 1;
    }
    if (entry.size >= 0 && total < entry.size) {
      throw new CacheHttpError(400, `cache ${entry.id}: missing bytes ${total}-${entry.size - 1} of ${entry.size} reserved`);
    }
    if (entry.size >= 0 && total !== entry.size) {
      throw new CacheHttpError(400, `cache ${entry.id}: broken file: received ${total} of ${entry.size} reserved bytes`);
    }
    if (clientSize !== undefined && clientSize !== null && clientSize !== total) {
      throw new CacheHttpError(400, `cache ${entry.id}: commit size ${JSON.stringify(clientSize)} differs from the ${total} bytes received`);
    }
    if (total > this.maxSize) {
      await this.remove(entry.id);
      throw new CacheHttpError(400, `cache ${entry.id}: ${total} bytes is over the cache quota of ${this.maxSize} bytes`);
    }
    up.committing = true;
    const dest = this.blobPath(entry.id);
    try {
      if (up.syncing) await up.syncing;
      await up.fh.truncate(total);
      await up.fh.sync();
      await up.fh.close();
      mkdirSync(join(dest, ".."), { recursive: true, mode: 0o700 });
      await rename(up.path, dest);
      const dirFh = await open(join(dest, ".."), "r");
      try {
        await dirFh.sync();
      } finally {
        await dirFh.close();
      }
      if (this.closed) throw new CacheHttpError(503, "cache server is shutting down");
      const now = this.now();
      this.db.transaction(() => {
        if (entry.size < 0) this.makeRoom(total, entry.id);
        if (!this.db.markComplete(entry.id, total, now)) throw new CacheHttpError(404, `cache ${entry.id}: no longer reserved`);
      });
      this.uploads.delete(entry.id);
      return { ...entry, size: total, complete: true, usedAt: now };
    } catch (err) {
      this.uploads.delete(entry.id);
      this.db.delete(entry.id);
      await up.fh.close().catch(() => {});
      await rm(up.path, { force: true });
      await rm(dest, { force: true });
      throw err;
    }
  }

  /** Opens a complete entry for reading by a run of `repo` with `isolationKey`. */
  async openForRead(id: number, repo: string, isolationKey: string): Promise<{ entry: Entry; fh: FileHandle }> {
    const e = this.db.get(id);
    if (!e || e.repo !== repo || !e.complete) throw new CacheHttpError(404, `cache ${id}: not found`);
    if (e.isolationKey !== "" && e.isolationKey !== isolationKey) {
      throw new CacheHttpError(403, `cache ${id} belongs to write isolation ${JSON.stringify(e.isolationKey)}, not ${JSON.stringify(isolationKey)}`);
    }
    let fh: FileHandle;
    try {
      fh = await open(this.blobPath(id), "r");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") {
        this.db.delete(id);
        throw new CacheHttpError(404, `cache ${id}: not found`);
      }
      throw err;
    }
    this.db.touch(id, this.now());
    return { entry: e, fh };
  }

  /** Drops an entry: first from the index (never served again), then its files. */
  private async remove(id: number): Promise<void> {
    this.db.delete(id);
    const up = this.uploads.get(id);
    this.uploads.delete(id);
    if (up) {
      await up.fh.close().catch(() => {});
      await rm(up.path, { force: true });
    }
    await unlink(this.blobPath(id)).catch(() => {});
  }

  private removeSync(id: number): void {
    this.db.delete(id);
    const up = this.uploads.get(id);
    this.uploads.delete(id);
    if (up) {
      void up.fh.close().catch(() => {});
      rmSync(up.path, { force: true });
    }
    try {
      // Readers holding the file open keep reading; the space returns when they finish.
      unlinkSync(this.blobPath(id));
    } catch {
      // already gone
    }
  }

  /** forgejo-runner's expiry, per repository, key, version and isolation key. */
  expire(): number {
    if (this.closed) return 0;
    const now = this.now();
    const x = this.expiry;
    let n = 0;
    for (const e of this.db.expired(now - x.incompleteUnused, now - x.unused, now - x.maxAge)) {
      const up = this.uploads.get(e.id);
      if (up && (up.inflight.length > 0 || up.committing || now - up.lastActivity < x.incompleteUnused)) continue;
      this.log("info", `cache expiry: dropping entry ${e.id} (${e.repo} ${e.key})`);
      this.removeSync(e.id);
      n++;
    }
    for (const e of this.db.superseded()) {
      if (now - e.usedAt < x.duplicateGrace) continue;
      this.log("info", `cache expiry: dropping superseded entry ${e.id} (${e.repo} ${e.key})`);
      this.removeSync(e.id);
      n++;
    }
    return n;
  }

  /** Logs a request that failed on the server side. */
  reportError(what: string, err: unknown): void {
    this.log("error", `cache: ${what}: ${(err as Error)?.stack ?? String(err)}`);
  }

  stats(): { entries: number; bytes: number; uploads: number } {
    return { entries: this.db.completeCount(), bytes: this.db.usedBytes(), uploads: this.uploads.size };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    for (const up of this.uploads.values()) await up.fh.close().catch(() => {});
    this.uploads.clear();
    this.db.close();
  }
}

function checkKey(raw: unknown): string {
  if (typeof raw !== "string" || raw === "") throw new CacheHttpError(400, "key must be a non-empty string");
  if (raw.length > MAX_KEY) throw new CacheHttpError(400, `key is longer than ${MAX_KEY} characters`);
  if (raw.includes(",")) throw new CacheHttpError(400, "key must not contain commas");
  if (/[\u0000-\u001f\u007f]/.test(raw)) throw new CacheHttpError(400, "key must not contain control characters");
  // Keys never name files, but a key that looks like a path escape is refused outright.
  if (/(^|[/\\])\.\.([/\\]|$)/.test(raw)) throw new CacheHttpError(400, "key must not contain \"..\" path segments");
  return raw.toLowerCase();
}

function checkVersion(raw: unknown): string {
  if (typeof raw !== "string") throw new CacheHttpError(400, "version must be a string");
  if (raw.length > MAX_VERSION) throw new CacheHttpError(400, `version is longer than ${MAX_VERSION} characters`);
  return raw;
}
