import Database from "better-sqlite3";

/** One cache entry as stored in the index. Times are unix milliseconds. */
export interface Entry {
  id: number;
  repo: string;
  key: string;
  version: string;
  isolationKey: string;
  /** Reserved size while uploading (-1 = unknown), the real size once complete. */
  size: number;
  complete: boolean;
  createdAt: number;
  usedAt: number;
}

interface Row {
  id: number;
  repo: string;
  key: string;
  version: string;
  isolation_key: string;
  size: number;
  complete: number;
  created_at: number;
  used_at: number;
}

const toEntry = (r: Row): Entry => ({
  id: r.id,
  repo: r.repo,
  key: r.key,
  version: r.version,
  isolationKey: r.isolation_key,
  size: r.size,
  complete: r.complete === 1,
  createdAt: r.created_at,
  usedAt: r.used_at,
});

const SCHEMA = `
CREATE TABLE IF NOT EXISTS entries (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  repo          TEXT    NOT NULL,
  key           TEXT    NOT NULL,
  version       TEXT    NOT NULL,
  isolation_key TEXT    NOT NULL DEFAULT '',
  size          INTEGER NOT NULL,
  complete      INTEGER NOT NULL DEFAULT 0,
  created_at    INTEGER NOT NULL,
  used_at       INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_lookup ON entries (repo, version, isolation_key, complete, key);
CREATE INDEX IF NOT EXISTS entries_lru ON entries (complete, used_at);
`;

/**
 * The SQLite index of cache entries. The database is opened in exclusive
 * locking mode, so a second server on the same directory fails at start
 * instead of sharing upload state it cannot see.
 */
export class IndexDb {
  private readonly db: Database.Database;
  private readonly stmts;

  constructor(file: string) {
    this.db = new Database(file, { timeout: 0 });
    try {
      this.db.pragma("locking_mode = EXCLUSIVE");
      this.db.pragma("journal_mode = WAL");
      this.db.pragma("synchronous = FULL");
      this.db.exec(SCHEMA);
    } catch (err) {
      this.db.close();
      if ((err as { code?: string }).code === "SQLITE_BUSY") {
        throw new Error(`cache index ${file} is in use by another process`);
      }
      throw err;
    }
    const d = this.db;
    this.stmts = {
      get: d.prepare<[number], Row>("SELECT * FROM entries WHERE id = ?"),
      insert: d.prepare<[string, string, string, string, number, number, number], Row>(
        "INSERT INTO entries (repo, key, version, isolation_key, size, complete, created_at, used_at) VALUES (?, ?, ?, ?, ?, 0, ?, ?) RETURNING *"),
      exact: d.prepare<[string, string, string, string], Row>(
        "SELECT * FROM entries WHERE repo = ? AND version = ? AND isolation_key = ? AND complete = 1 AND key = ? ORDER BY created_at DESC, id DESC LIMIT 1"),
      prefix: d.prepare<[string, string, string, string, string], Row>(
        "SELECT * FROM entries WHERE repo = ? AND version = ? AND isolation_key = ? AND complete = 1 AND substr(key, 1, length(?)) = ? ORDER BY created_at DESC, id DESC LIMIT 1"),
      sameKeyIncomplete: d.prepare<[string, string, string, string], Row>(
        "SELECT * FROM entries WHERE repo = ? AND key = ? AND version = ? AND isolation_key = ? AND complete = 0"),
      touch: d.prepare<[number, number]>("UPDATE entries SET used_at = ? WHERE id = ?"),
      markComplete: d.prepare<[number, number, number]>("UPDATE entries SET complete = 1, size = ?, used_at = ? WHERE id = ? AND complete = 0"),
      delete: d.prepare<[number]>("DELETE FROM entries WHERE id = ?"),
      usedBytes: d.prepare<[], { n: number | null }>("SELECT sum(CASE WHEN size > 0 THEN size ELSE 0 END) AS n FROM entries"),
      lru: d.prepare<[number], Row>("SELECT * FROM entries WHERE complete = 1 AND id != ? ORDER BY used_at ASC, id ASC LIMIT 1"),
      incomplete: d.prepare<[], Row>("SELECT * FROM entries WHERE complete = 0"),
      completeIds: d.prepare<[], { id: number }>("SELECT id FROM entries WHERE complete = 1"),
      expired: d.prepare<[number, number, number], Row>(
        "SELECT * FROM entries WHERE (complete = 0 AND used_at < ?) OR used_at < ? OR created_at < ?"),
      duplicates: d.prepare<[], Row>(
        `SELECT e.* FROM entries e WHERE e.complete = 1 AND EXISTS (
           SELECT 1 FROM entries n WHERE n.complete = 1 AND n.repo = e.repo AND n.key = e.key
             AND n.version = e.version AND n.isolation_key = e.isolation_key
             AND (n.created_at > e.created_at OR (n.created_at = e.created_at AND n.id > e.id)))`),
      count: d.prepare<[], { n: number }>("SELECT count(*) AS n FROM entries WHERE complete = 1"),
    };
  }

  get(id: number): Entry | undefined {
    const r = this.stmts.get.get(id);
    return r && toEntry(r);
  }

  insert(e: { repo: string; key: string; version: string; isolationKey: string; size: number; now: number }): Entry {
    return toEntry(this.stmts.insert.get(e.repo, e.key, e.version, e.isolationKey, e.size, e.now, e.now)!);
  }

  /** Exact match first, then prefix, for each key in order; newest wins. */
  find(repo: string, keys: string[], version: string, isolationKey: string): Entry | undefined {
    for (const key of keys) {
      const r = this.stmts.exact.get(repo, version, isolationKey, key) ?? this.stmts.prefix.get(repo, version, isolationKey, key, key);
      if (r) return toEntry(r);
    }
    return undefined;
  }

  incompleteWithKey(repo: string, key: string, version: string, isolationKey: string): Entry[] {
    return this.stmts.sameKeyIncomplete.all(repo, key, version, isolationKey).map(toEntry);
  }

  touch(id: number, now: number): void {
    this.stmts.touch.run(now, id);
  }

  markComplete(id: number, size: number, now: number): boolean {
    return this.stmts.markComplete.run(size, now, id).changes === 1;
  }

  delete(id: number): void {
    this.stmts.delete.run(id);
  }

  /** Bytes of complete entries plus bytes reserved by uploads of known size. */
  usedBytes(): number {
    return this.stmts.usedBytes.get()?.n ?? 0;
  }

  leastRecentlyUsed(exceptId = -1): Entry | undefined {
    const r = this.stmts.lru.get(exceptId);
    return r && toEntry(r);
  }

  incomplete(): Entry[] {
    return this.stmts.incomplete.all().map(toEntry);
  }

  completeIds(): Set<number> {
    return new Set(this.stmts.completeIds.all().map((r) => r.id));
  }

  expired(incompleteBefore: number, unusedBefore: number, createdBefore: number): Entry[] {
    return this.stmts.expired.all(incompleteBefore, unusedBefore, createdBefore).map(toEntry);
  }

  /** Complete entries that have a newer complete entry with the same repo, key, version and isolation key. */
  superseded(): Entry[] {
    return this.stmts.duplicates.all().map(toEntry);
  }

  completeCount(): number {
    return this.stmts.count.get()?.n ?? 0;
  }

  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
