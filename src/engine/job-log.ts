// The job's log: every row is masked, then emitted with the stage it belongs
// to ("setup" before the first main step, "step" during one, "complete" after).

import type { AnnotationEvent, Emit, LogStage } from "./events.js";
import { Masker } from "./masker.js";

export class JobLog {
  private stage: LogStage = "setup";
  private stepIndex: number | undefined;

  constructor(
    private readonly emit: Emit,
    readonly masker: Masker,
  ) {}

  enterStep(index: number): void {
    this.stage = "step";
    this.stepIndex = index;
  }

  enterStage(stage: "setup" | "complete"): void {
    this.stage = stage;
    this.stepIndex = undefined;
  }

  get currentStepIndex(): number | undefined {
    return this.stepIndex;
  }

  /** Logs text (split on newlines), masked. */
  write(text: string): void {
    for (const line of text.split(/\r?\n/)) this.writeMasked(this.masker.mask(line));
  }

  /** Logs one line that is already masked. */
  writeMasked(line: string): void {
    const time = this.now();
    if (this.stepIndex === undefined) this.emit({ type: "log", time, line, stage: this.stage });
    else this.emit({ type: "log", time, line, stage: this.stage, stepIndex: this.stepIndex });
  }

  /**
   * Runs `fn` with one timestamp for every row it writes: the rows of one
   * output chunk arrive together, and a busy step writes hundreds of
   * thousands of rows a second.
   */
  batch(fn: () => void): void {
    const outer = this.frozen;
    this.frozen = new Date();
    try {
      fn();
    } finally {
      this.frozen = outer;
    }
  }

  private frozen: Date | undefined;
  private now(): Date {
    return this.frozen ?? new Date();
  }

  error(message: string): void {
    this.write(prefixLines("##[error]", message));
  }

  warning(message: string): void {
    this.write(prefixLines("##[warning]", message));
  }

  annotate(a: Omit<AnnotationEvent, "type" | "time" | "stepIndex">): void {
    const masked = { ...a, message: this.masker.mask(a.message) };
    if (masked.title !== undefined) masked.title = this.masker.mask(masked.title);
    const ev: AnnotationEvent = { type: "annotation", time: new Date(), ...masked };
    if (this.stepIndex !== undefined) ev.stepIndex = this.stepIndex;
    this.emit(ev);
    this.write(prefixLines(`##[${a.level}]`, a.message));
  }

  raw(event: Parameters<Emit>[0]): void {
    this.emit(event);
  }
}

function prefixLines(prefix: string, message: string): string {
  return prefix + message;
}
