// A step process's stdout/stderr → lines → workflow commands → masked log rows.

import { LineSplitter, lineEnd, type LineSink } from "./line-splitter.js";
import type { JobLog } from "./job-log.js";
import { applyRanges, MAX_MASK_CHARS, MAX_MASKS } from "./masker.js";
import {
  WORKFLOW_COMMANDS, parseCommand, type CommandTarget, type ParsedCommand,
} from "./workflow-commands.js";

/** Effects of commands that the step runner applies after the step. */
export interface CommandEffects {
  outputs: Array<[string, string]>;
  state: Array<[string, string]>;
  env: Array<[string, string]>;
  path: string[];
  /** Set when a command failed: the step fails. */
  failed: boolean;
}

export interface StepOutputOptions {
  debug: boolean;
  unsecureAllowed: boolean;
}

function nextCommand(text: string, pos: number, end: number): number {
  const i = text.indexOf("::", pos);
  return i < 0 || i >= end ? end : i;
}

export class StepOutput implements CommandTarget {
  readonly effects: CommandEffects = { outputs: [], state: [], env: [], path: [], failed: false };
  private stopToken: string | undefined;
  private echo = false;
  private readonly stdout: LineSplitter;
  private readonly stderr: LineSplitter;
  /** Per stream: the tail of an over-long line kept back so a secret across the cut is still masked. */
  private readonly carries = { out: { text: "" }, err: { text: "" } };

  constructor(
    private readonly jobLog: JobLog,
    private readonly opts: StepOutputOptions,
  ) {
    this.stdout = new LineSplitter(this.sink(this.carries.out));
    this.stderr = new LineSplitter(this.sink(this.carries.err));
  }

  private sink(carry: { text: string }): LineSink {
    return {
      lines: (text, start, end) => this.onLines(text, start, end, carry),
      line: (line, complete) => this.onLine(line, complete, carry),
    };
  }

  onStdout = (chunk: Buffer): void => this.jobLog.batch(() => this.stdout.push(chunk));
  onStderr = (chunk: Buffer): void => this.jobLog.batch(() => this.stderr.push(chunk));

  /** End of the process: flush partial lines. */
  finish(): void {
    this.stdout.flush();
    this.stderr.flush();
    for (const carry of [this.carries.out, this.carries.err]) {
      if (carry.text !== "") {
        this.jobLog.writeMasked(this.jobLog.masker.mask(carry.text));
        carry.text = "";
      }
    }
  }

  /**
   * Whole lines text[start, end): masked and checked for workflow commands as
   * one text, so a line with no value and no "::" costs a slice. A line with a
   * value in it is masked on its own (as every line is: a value that spans
   * lines is masked by its lines). Once a command registered a mask, the rest
   * goes line by line.
   */
  private onLines(text: string, start: number, end: number, carry: { text: string }): void {
    let pos = start;
    if (carry.text !== "") {
      const nl = text.indexOf("\n", pos);
      this.onLine(text.slice(pos, lineEnd(text, pos, nl)), true, carry);
      pos = nl + 1;
    }
    const log = this.jobLog;
    const masker = log.masker;
    const version = masker.version;
    const cover = masker.cover(text, pos, end, this.cover);
    let r = 0;
    /** Position of the next "::" at or after pos (end: none before the end). */
    let cmd = nextCommand(text, pos, end);
    while (pos < end) {
      const nl = text.indexOf("\n", pos);
      let line = text.slice(pos, lineEnd(text, pos, nl));
      if (cmd < pos) cmd = nextCommand(text, pos, end);
      if ((this.stopToken !== undefined || cmd < nl) && this.handleCommand(line)) {
        pos = nl + 1;
        if (masker.version !== version) {
          this.eachLine(text, pos, end, carry);
          return;
        }
        continue;
      }
      while (r < cover.length && cover[r + 1]! <= pos) r += 2;
      if (r < cover.length && cover[r]! < nl) line = masker.mask(line);
      log.writeMasked(line);
      pos = nl + 1;
    }
  }

  private readonly cover: number[] = [];

  private eachLine(text: string, pos: number, end: number, carry: { text: string }): void {
    while (pos < end) {
      const nl = text.indexOf("\n", pos);
      this.onLine(text.slice(pos, lineEnd(text, pos, nl)), true, carry);
      pos = nl + 1;
    }
  }

  private onLine(line: string, complete: boolean, carry: { text: string }): void {
    if (!complete) {
      this.emitPiece(carry.text + line, carry);
      return;
    }
    if (carry.text !== "") {
      line = carry.text + line;
      carry.text = "";
    } else if (this.handleCommand(line)) {
      return;
    }
    this.jobLog.writeMasked(this.jobLog.masker.mask(line));
  }

  private emitPiece(text: string, carry: { text: string }): void {
    const masker = this.jobLog.masker;
    const ranges = masker.ranges(text);
    let cut = Math.max(0, text.length - Math.max(0, masker.maxLength - 1));
    for (const [s, e] of ranges) if (s < cut && e > cut) cut = s;
    const head = text.slice(0, cut);
    carry.text = text.slice(cut);
    if (head === "") return;
    this.jobLog.writeMasked(applyRanges(head, ranges.filter(([, e]) => e <= cut)));
  }

  /** True when the line was a command (and must not be logged as text). */
  private handleCommand(line: string): boolean {
    if (this.stopToken !== undefined) {
      const t = line.trim();
      if (t === `::${this.stopToken}::`) {
        this.stopToken = undefined;
        return true;
      }
      return false;
    }
    if (!line.includes("::")) return false;
    const cmd = parseCommand(line, WORKFLOW_COMMANDS);
    if (!cmd) return false;
    this.runCommand(cmd, line);
    return true;
  }

  private runCommand(cmd: ParsedCommand, line: string): void {
    const handler = WORKFLOW_COMMANDS[cmd.name]!;
    try {
      handler(cmd, this);
      if (this.echo) this.jobLog.write(line);
    } catch (e) {
      this.jobLog.write(line);
      this.jobLog.error(`Unable to process command '${line.trim()}' successfully.`);
      this.jobLog.error((e as Error).message);
      this.effects.failed = true;
    }
  }

  // CommandTarget
  log(line: string): void {
    this.jobLog.write(line);
  }
  addMask(value: string): void {
    const masker = this.jobLog.masker;
    if (!masker.add(value) && masker.refused === 1) {
      this.jobLog.warning(
        `native-runner: this job registered more than ${MAX_MASKS} masks (or ${MAX_MASK_CHARS} characters of them); further ::add-mask:: values are not masked`,
      );
    }
  }
  annotate(level: "notice" | "warning" | "error", message: string, p: Record<string, string>): void {
    const num = (k: string) => {
      const v = p[k];
      if (v === undefined) return undefined;
      const n = Number.parseInt(v, 10);
      return Number.isFinite(n) ? n : undefined;
    };
    const a: Parameters<JobLog["annotate"]>[0] = { level, message };
    if (p["file"] !== undefined) a.file = p["file"];
    if (p["title"] !== undefined) a.title = p["title"];
    const line = num("line");
    const endLine = num("endline");
    const col = num("col");
    const endColumn = num("endcolumn");
    if (line !== undefined) a.line = line;
    if (endLine !== undefined) a.endLine = endLine;
    if (col !== undefined) a.col = col;
    if (endColumn !== undefined) a.endColumn = endColumn;
    this.jobLog.annotate(a);
  }
  debugEnabled(): boolean {
    return this.opts.debug;
  }
  setOutput(name: string, value: string): void {
    this.effects.outputs.push([name, value]);
  }
  saveState(name: string, value: string): void {
    this.effects.state.push([name, value]);
  }
  setEnv(name: string, value: string): void {
    this.effects.env.push([name, value]);
  }
  addPath(path: string): void {
    this.effects.path.push(path);
  }
  unsecureAllowed(): boolean {
    return this.opts.unsecureAllowed;
  }
  stopCommands(token: string): void {
    this.stopToken = token;
  }
  setEcho(on: boolean): void {
    this.echo = on;
  }
}
