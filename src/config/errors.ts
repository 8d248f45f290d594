/** A configuration problem. `problems` lists every error found, each naming the key, the value and what is expected. */
export class ConfigError extends Error {
  override name = "ConfigError";
  readonly problems: string[];
  readonly file: string | undefined;

  constructor(problems: string[], file?: string) {
    const head = file ? `invalid configuration in ${file}` : "invalid configuration";
    super(problems.length === 1 ? `${head}: ${problems[0]}` : `${head}:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.problems = problems;
    this.file = file;
  }
}

/** How a value is shown in a message: strings quoted, other values as JSON. */
export function showValue(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (v === undefined) return "nothing";
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}
