import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname } from "node:path";

export interface RunningJobStatus {
  taskId: string;
  connection: string;
  repository: string;
  job: string;
  startedAt: string;
}

export interface ConnectionStatus {
  name: string;
  url: string;
  lastContact?: string;
  lastError?: string;
}

export interface DaemonStatus {
  pid: number;
  version: string;
  startedAt: string;
  updatedAt: string;
  capacity: number;
  running: RunningJobStatus[];
  connections: ConnectionStatus[];
  lastErrors: Array<{ time: string; message: string }>;
  healthy: boolean;
  healthReason?: string;
}

/**
 * What the daemon is doing, kept in memory and written atomically to
 * `<state dir>/status.json` for `native-runner status`.
 */
export class StatusTracker {
  private readonly startedAt = new Date();
  private readonly running = new Map<string, RunningJobStatus>();
  private readonly connections = new Map<string, ConnectionStatus>();
  private readonly errors: Array<{ time: string; message: string }> = [];
  private health: { ok: boolean; reason?: string } = { ok: true };

  constructor(readonly file: string, private readonly capacity: number, private readonly version: string) {}

  jobStarted(j: Omit<RunningJobStatus, "startedAt">): void {
    this.running.set(j.taskId, { ...j, startedAt: new Date().toISOString() });
  }
  jobFinished(taskId: string): void {
    this.running.delete(taskId);
  }
  contact(name: string, url: string): void {
    const c = this.connections.get(name) ?? { name, url };
    c.lastContact = new Date().toISOString();
    c.lastError = undefined;
    this.connections.set(name, c);
  }
  connectionError(name: string, url: string, message: string): void {
    const c = this.connections.get(name) ?? { name, url };
    c.lastError = message;
    this.connections.set(name, c);
    this.error(`${name}: ${message}`);
  }
  error(message: string): void {
    this.errors.push({ time: new Date().toISOString(), message });
    if (this.errors.length > 20) this.errors.shift();
  }
  setHealth(ok: boolean, reason?: string): void {
    this.health = { ok, reason };
  }
  get healthy(): { ok: boolean; reason?: string } {
    return this.health;
  }

  snapshot(): DaemonStatus {
    return {
      pid: process.pid,
      version: this.version,
      startedAt: this.startedAt.toISOString(),
      updatedAt: new Date().toISOString(),
      capacity: this.capacity,
      running: [...this.running.values()],
      connections: [...this.connections.values()],
      lastErrors: [...this.errors],
      healthy: this.health.ok,
      healthReason: this.health.reason,
    };
  }

  async write(): Promise<void> {
    await mkdir(dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(this.snapshot(), null, 2) + "\n", { mode: 0o600 });
    await rename(tmp, this.file);
  }
}

export async function readStatus(file: string): Promise<DaemonStatus> {
  return JSON.parse(await readFile(file, "utf8")) as DaemonStatus;
}

function ago(iso: string, now: number): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60}s`;
  return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
}

export function formatStatus(st: DaemonStatus, alive: boolean, now = Date.now()): string {
  const lines: string[] = [];
  lines.push(`native-runner ${st.version}, pid ${st.pid} ${alive ? "running" : "NOT RUNNING (stale status)"}, up ${ago(st.startedAt, now)}`);
  lines.push(`health: ${st.healthy ? "ok" : `unhealthy: ${st.healthReason ?? "unknown"}`}`);
  lines.push(`jobs: ${st.running.length}/${st.capacity}`);
  for (const j of st.running) lines.push(`  task ${j.taskId}  ${j.repository}  ${j.job}  (${j.connection}, ${ago(j.startedAt, now)})`);
  lines.push("connections:");
  for (const c of st.connections) {
    lines.push(`  ${c.name}  ${c.url}  last contact ${c.lastContact ? ago(c.lastContact, now) + " ago" : "never"}${c.lastError ? `  error: ${c.lastError}` : ""}`);
  }
  if (st.lastErrors.length) {
    lines.push("recent errors:");
    for (const e of st.lastErrors.slice(-10)) lines.push(`  ${e.time}  ${e.message}`);
  }
  return lines.join("\n") + "\n";
}
