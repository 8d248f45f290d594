/** Status of the scope an `if:` is evaluated in (the job's steps, a composite action's steps, or a job's needs). */
export interface StatusScope {
  /** An earlier step (or a needed job) in this scope failed. */
  failed: boolean;
  /** The run or job was cancelled. */
  cancelled: boolean;
  /**
   * Job scope only: a needed job neither succeeded nor failed (it was
   * skipped), so success() is false while failure() stays false.
   */
  blocked?: boolean;
}

export interface EvalContext {
  /** Context name → plain value (`github`, `env`, `steps`, ...). Only the names given here may be used. */
  contexts: Record<string, unknown>;
  status?: StatusScope;
  /** Root directory for hashFiles(); hashFiles() is an error without it. */
  workspace?: string;
}

/** An expression that does not parse or does not evaluate. The message says what and where. */
export class ExpressionError extends Error {
  readonly expression: string | undefined;
  constructor(message: string, expression?: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ExpressionError";
    this.expression = expression;
  }
}
