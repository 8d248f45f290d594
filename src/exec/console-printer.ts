import type { AnnotationEvent, Conclusion, JobEvent } from "../engine/events.js";
import type { ExecObserver, JobFinish, JobRef } from "./orchestrator.js";
import type { RunRow } from "./json-printer.js";

const PREFIX_COLORS = [36, 35, 34, 33, 32, 96, 95, 94, 93, 92];

interface JobState {
  color: number;
  depth: number;
  steps: Map<number, { name: string; started: number }>;
  /** Log rows that repeat the annotation just printed (the engine logs each annotation too). */
  echo: string[];
  /** Inside the engine's own "Job summary" log block; the summary event shows it. */
  inSummaryBlock: boolean;
  /** Name of the step whose header is not printed yet. */
  pendingHeader?: string;
  /** First error line of each step, and of the job outside steps. */
  firstError: Map<number | "job", string>;
  /** The first step that failed (after continue-on-error). */
  failedStep?: { name: string; error?: string };
  /** `[job]   │ ` for plain output lines, by depth and stage (most lines of a big log share one). */
  plainPrefix?: { depth: number; stage: string; text: string };
}

interface SummaryNote {
  key: string;
  text: string;
}

export interface ConsolePrinterOptions {
  write: (s: string) => void;
  /** `prefix`, `line` and a newline (a job's plain output lines, most of a big log); else through `write`. */
  writeLine?: (prefix: string, line: string) => void;
  color: boolean;
}

/** Human output for exec: per-job prefix, groups, step results with durations, annotations, summaries, a final table. */
export class ConsolePrinter implements ExecObserver {
  private readonly jobs = new Map<string, JobState>();
  private nextColor = 0;
  readonly rows: RunRow[] = [];
  /** Below a job's row in the final table: its failed step and first error, or why it was skipped. */
  private readonly notes: SummaryNote[] = [];

  constructor(private readonly opts: ConsolePrinterOptions) {}

  private c(code: number | string, s: string): string {
    return this.opts.color ? `\x1b[${code}m${s}\x1b[0m` : s;
  }

  private state(job: JobRef): JobState {
    let st = this.jobs.get(job.key);
    if (!st) {
      st = { color: PREFIX_COLORS[this.nextColor++ % PREFIX_COLORS.length]!, depth: 0, steps: new Map(), echo: [], inSummaryBlock: false, firstError: new Map() };
      this.jobs.set(job.key, st);
    }
    return st;
  }

  private line(job: JobRef, text: string): void {
    const st = this.state(job);
    this.opts.write(`${this.c(st.color, `[${job.name}]`)} ${text}\n`);
  }

  jobStarted(job: JobRef): void {
    this.line(job, this.c(1, job.isCall ? `⇢ Call ${job.name}` : `▶ Job ${job.name}`));
  }

  /** The `⏵ step` header waits for the step's first output, so a skipped step prints one line. */
  private flushHeader(job: JobRef, st: JobState): void {
    if (st.pendingHeader === undefined) return;
    this.line(job, this.c(1, `⏵ ${st.pendingHeader}`));
    st.pendingHeader = undefined;
  }

  jobEvent(job: JobRef, ev: JobEvent): void {
    const st = this.state(job);
    if (ev.type !== "step-finished" && ev.type !== "step-started") this.flushHeader(job, st);
    switch (ev.type) {
      case "log": {
        const err = ev.line.startsWith("##[error]") ? /^##\[error\](.*)$/.exec(ev.line) : null;
        if (err) {
          const where = ev.stage === "step" && ev.stepIndex !== undefined ? ev.stepIndex : "job";
          if (!st.firstError.has(where)) st.firstError.set(where, err[1]!);
        }
        this.logLine(job, st, ev.line, ev.stage);
        break;
      }
      case "step-started":
        this.flushHeader(job, st);
        st.depth = 0;
        st.steps.set(ev.index, { name: ev.name, started: ev.time.getTime() });
        st.pendingHeader = ev.name;
        break;
      case "step-finished": {
        if (ev.conclusion === "skipped") st.pendingHeader = undefined;
        else this.flushHeader(job, st);
        st.depth = 0;
        const s = st.steps.get(ev.index);
        const dur = s ? formatDuration(ev.time.getTime() - s.started) : "";
        const name = s?.name ?? ev.id;
        const note = ev.outcome !== ev.conclusion ? ` (${ev.outcome}, continue-on-error)` : "";
        if (ev.conclusion === "failure" && !st.failedStep) {
          const error = st.firstError.get(ev.index);
          st.failedStep = error !== undefined ? { name, error } : { name };
        }
        this.line(job, `${this.symbol(ev.conclusion === "success" ? ev.outcome : ev.conclusion)} ${name}${note} ${this.c(2, dur)}`);
        break;
      }
      case "annotation":
        this.annotation(job, st, ev);
        break;
      case "summary":
        this.line(job, this.c(1, "☰ Job summary"));
        for (const l of ev.markdown.replace(/\n+$/, "").split("\n")) this.line(job, `  ${this.c(2, "│")} ${l}`);
        break;
      case "job-finished":
        break;
    }
  }

  private logLine(job: JobRef, st: JobState, raw: string, stage: string): void {
    if (st.inSummaryBlock) {
      if (raw === "##[endgroup]") st.inSummaryBlock = false;
      return;
    }
    if (stage === "complete" && raw === "##[group]Job summary") {
      st.inSummaryBlock = true;
      return;
    }
    if (st.echo.length > 0) {
      const expected = st.echo.shift()!;
      if (raw === expected || raw.replace(/^##\[(error|warning|notice)\]/, "") === expected) return;
      st.echo = [];
    }
    if (!raw.startsWith("##[")) {
      // the common case: plain output, no workflow command to render
      let p = st.plainPrefix;
      if (!p || p.depth !== st.depth || p.stage !== stage) {
        const indent = "  ".repeat(st.depth + 1);
        p = { depth: st.depth, stage, text: `${this.c(st.color, `[${job.name}]`)} ${indent}${this.c(2, stage === "step" ? "│" : "·")} ` };
        st.plainPrefix = p;
      }
      if (this.opts.writeLine) this.opts.writeLine(p.text, raw);
      else this.opts.write(`${p.text}${raw}\n`);
      return;
    }
    const indent = "  ".repeat(st.depth + 1);
    const group = /^##\[group\](.*)$/.exec(raw);
    if (group) {
      this.line(job, `${indent}${this.c(1, `▸ ${group[1]}`)}`);
      st.depth++;
      return;
    }
    if (raw === "##[endgroup]") {
      st.depth = Math.max(0, st.depth - 1);
      return;
    }
    const cmd = /^##\[(debug|error|warning|notice)\](.*)$/.exec(raw);
    if (cmd) {
      const [, level, msg] = cmd;
      if (level === "debug") {
        this.line(job, `${indent}${this.c(2, `debug ${msg}`)}`);
        return;
      }
      this.line(job, `${indent}${this.levelText(level!)} ${msg}`);
      return;
    }
    const bar = stage === "step" ? "│" : "·";
    this.line(job, `${indent}${this.c(2, bar)} ${raw}`);
  }

  private levelText(level: string): string {
    const code = level === "error" ? 31 : level === "warning" ? 33 : 36;
    return this.c(code, level);
  }

  private annotation(job: JobRef, st: JobState, ev: AnnotationEvent): void {
    st.echo = ev.message.split("\n");
    let where = "";
    if (ev.file) where = ev.line !== undefined ? `${ev.file}:${ev.line}${ev.col !== undefined ? `:${ev.col}` : ""} ` : `${ev.file} `;
    const title = ev.title ? `${ev.title}: ` : "";
    const lines = ev.message.split("\n");
    this.line(job, `${this.levelText(ev.level)} ${where}${title}${lines[0]}`);
    for (const l of lines.slice(1)) this.line(job, `  ${l}`);
  }

  private symbol(r: Conclusion): string {
    switch (r) {
      case "success":
        return this.c(32, "✓");
      case "failure":
        return this.c(31, "✗");
      case "cancelled":
        return this.c(33, "⊘");
      case "skipped":
        return this.c(2, "↷");
    }
  }

  jobFinished(job: JobRef, f: JobFinish): void {
    this.rows.push({ job: job.key, name: job.name, result: f.result, durationMs: f.durationMs });
    const summary = this.summaryNote(job, f);
    if (summary) this.notes.push({ key: job.key, text: summary });
    const note = f.outcome !== f.result ? " (continue-on-error)" : "";
    const what = job.isCall ? "Call" : "Job";
    this.line(job, `${this.symbol(f.outcome)} ${what} ${resultWord(f.outcome)}${note} ${this.c(2, formatDuration(f.durationMs))}`);
  }

  runFinished(result: string): void {
    const rows = this.rows;
    if (rows.length === 0) return;
    const nameW = Math.max(3, ...rows.map((r) => r.name.length));
    const resW = 9;
    this.opts.write("\n" + this.c(1, `${"JOB".padEnd(nameW)}  ${"RESULT".padEnd(resW)}  DURATION`) + "\n");
    for (const r of rows) {
      const res = this.colorResult(r.result as Conclusion, r.result.padEnd(resW));
      this.opts.write(`${r.name.padEnd(nameW)}  ${res}  ${formatDuration(r.durationMs)}\n`);
      for (const n of this.notes) if (n.key === r.job) this.opts.write(`  ${this.c(2, "└")} ${n.text}\n`);
    }
    this.opts.write(`\n${this.c(1, "Run")} ${this.colorResult(result as Conclusion, result)}\n`);
  }

  private summaryNote(job: JobRef, f: JobFinish): string | undefined {
    if (f.reason !== undefined) return `${f.result}: ${f.reason}`;
    if (f.outcome !== "failure" || job.isCall) return undefined;
    const st = this.jobs.get(job.key);
    const failed = st?.failedStep;
    if (failed) return `step '${failed.name}' failed${failed.error !== undefined ? `: ${failed.error}` : ""}`;
    const error = st?.firstError.get("job");
    return error !== undefined ? `error: ${error}` : undefined;
  }

  private colorResult(r: Conclusion, text: string): string {
    const code = r === "success" ? 32 : r === "failure" ? 31 : r === "cancelled" ? 33 : 2;
    return this.c(code, text);
  }
}

function resultWord(r: Conclusion): string {
  return r === "success" ? "succeeded" : r === "failure" ? "failed" : r;
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  return `${m}m${Math.round(s - m * 60)}s`;
}
