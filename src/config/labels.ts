// Runner labels: `name[:schema[:arg]]`, the grammar forgejo-runner uses.
// Only the names are sent to the server; the schema and argument decide how
// the runner itself executes a job.

export type LabelSchema = "host" | "docker" | "lxc";

export interface Label {
  name: string;
  schema: LabelSchema;
  arg: string;
}

export const DEFAULT_DOCKER_ARG = "//node:22-bookworm";
export const DEFAULT_LXC_ARG = "//debian:bookworm";

export class LabelError extends Error {
  override name = "LabelError";
}

/** Parses one label. Throws LabelError with forgejo-runner's wording on a bad one. */
export function parseLabel(text: string): Label {
  const parts = splitN(text, ":", 3);
  const name = parts[0]!;
  if (name.trim() !== name) {
    throw new LabelError(`invalid label ${JSON.stringify(name)}: starting or ending with a space is invalid`);
  }
  let schema: string = "docker";
  if (parts.length >= 2) {
    schema = parts[1]!;
    if (schema !== "host" && schema !== "docker" && schema !== "lxc") {
      throw new LabelError(`unsupported schema: ${schema}`);
    }
  }
  let arg = "";
  if (parts.length >= 3) {
    if (schema === "host") throw new LabelError(`schema: ${schema} does not have arguments`);
    arg = parts[2]!;
  }
  if (arg === "") {
    if (schema === "docker") arg = DEFAULT_DOCKER_ARG;
    else if (schema === "lxc") arg = DEFAULT_LXC_ARG;
  }
  return { name, schema: schema as LabelSchema, arg };
}

/** Returns the message of the first invalid label, or undefined when all parse. */
export function validateLabels(labels: readonly string[]): string | undefined {
  for (const l of labels) {
    try {
      parseLabel(l);
    } catch (err) {
      return (err as Error).message;
    }
  }
  return undefined;
}

/** The label names, which is what Register and Declare carry. Invalid labels throw. */
export function labelNames(labels: readonly string[]): string[] {
  return labels.map((l) => parseLabel(l).name);
}

/** Canonical text of a parsed label (`name:schema[:arg]`). */
export function formatLabel(label: Label): string {
  return label.arg ? `${label.name}:${label.schema}:${label.arg}` : `${label.name}:${label.schema}`;
}

/**
 * The platform a job runs on, picked like forgejo-runner does: the first
 * `runs-on` entry that names a local label wins; otherwise the default image.
 * Host labels give "-self-hosted", lxc labels "lxc:<arg>", docker the image.
 */
export function pickPlatform(labels: readonly Label[], runsOn: readonly string[]): string {
  const platforms = new Map<string, string>();
  for (const l of labels) {
    if (l.schema === "host") platforms.set(l.name, "-self-hosted");
    else if (l.schema === "lxc") platforms.set(l.name, "lxc:" + stripSlashes(l.arg));
    else platforms.set(l.name, stripSlashes(l.arg));
  }
  for (const r of runsOn) {
    const p = platforms.get(r);
    if (p !== undefined) return p;
  }
  return stripSlashes(DEFAULT_DOCKER_ARG);
}

/** Splits a comma-separated label list, trimming each part and dropping empty ones. */
export function commaSplit(text: string): string[] {
  return text.split(",").map((p) => p.trim()).filter((p) => p !== "");
}

function stripSlashes(s: string): string {
  return s.startsWith("//") ? s.slice(2) : s;
}

/** Go's strings.SplitN: at most n parts, the last one holding the rest. */
function splitN(s: string, sep: string, n: number): string[] {
  const out: string[] = [];
  let rest = s;
  while (out.length < n - 1) {
    const i = rest.indexOf(sep);
    if (i < 0) break;
    out.push(rest.slice(0, i));
    rest = rest.slice(i + sep.length);
  }
  out.push(rest);
  return out;
}
