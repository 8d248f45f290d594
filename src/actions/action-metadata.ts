import { promises as fs } from "node:fs";
import path from "node:path";
import { LineCounter, parseDocument, type Document } from "yaml";
import { formatWorkflowError, type ParseResult, type StepModel, type WorkflowError } from "../workflow/index.js";
import { ActionError, type ActionInput, type ActionMetadata, type ActionOutput, type ActionRuns } from "./types.js";

const METADATA_FILES = ["action.yml", "action.yaml"] as const;

// The checks are written out rather than declared with a schema library: action.yml has a dozen keys, and a
// schema library's load time (zod: ~750 KB of code, tens of ms) would be paid by every job that runs an action.

type Path = (string | number)[];
interface Issue {
  path: Path;
  message: string;
}

class Checker {
  readonly issues: Issue[] = [];
  fail(path: Path, message: string): undefined {
    this.issues.push({ path, message });
    return undefined;
  }

  /** Scalars that action.yml authors write unquoted (`default: 3`, `default: true`) become strings; null and absent are undefined. */
  text(v: unknown, path: Path): string | undefined {
    if (v === null || v === undefined) return undefined;
    if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") return String(v);
    return this.fail(path, "must be a string");
  }

  nonEmpty(v: unknown, path: Path): string | undefined {
    if (v === undefined) return this.fail(path, "is required");
    if (typeof v !== "string") return this.fail(path, "must be a string");
    const t = v.trim();
    return t === "" ? this.fail(path, "must be a non-empty string") : t;
  }

  booleanLike(v: unknown, path: Path): boolean | undefined {
    if (v === null || v === undefined) return undefined;
    if (typeof v === "boolean") return v;
    if (typeof v === "string" && /^(true|false|True|False|TRUE|FALSE)$/.test(v)) return v.toLowerCase() === "true";
    return this.fail(path, "must be true or false");
  }

  mapping(v: unknown, path: Path, message = "must be a mapping"): Record<string, unknown> | undefined {
    if (v !== null && typeof v === "object" && !Array.isArray(v)) return v as Record<string, unknown>;
    return this.fail(path, message);
  }

  /** A mapping of strings (env:); null values become "". */
  stringMap(v: unknown, path: Path): Record<string, string> | undefined {
    if (v === null || v === undefined) return undefined;
    const m = this.mapping(v, path);
    if (!m) return undefined;
    const out: Record<string, string> = {};
    for (const [k, x] of Object.entries(m)) out[k] = x === null ? "" : (this.text(x, [...path, k]) ?? "");
    return out;
  }

  /** A mapping kept as it is (a composite step's with:/env:); null and absent are {}. */
  rawMap(v: unknown, path: Path): Record<string, unknown> {
    if (v === null || v === undefined) return {};
    return this.mapping(v, path) ?? {};
  }

  /** inputs:/outputs:: a mapping of mappings (or nulls). */
  entries(v: unknown, path: Path): [string, Record<string, unknown> | null][] {
    if (v === null || v === undefined) return [];
    const m = this.mapping(v, path);
    if (!m) return [];
    const out: [string, Record<string, unknown> | null][] = [];
    for (const [k, x] of Object.entries(m)) {
      if (x === null) out.push([k, null]);
      else {
        const e = this.mapping(x, [...path, k]);
        if (e) out.push([k, e]);
      }
    }
    return out;
  }
}

const USINGS = ["node12", "node16", "node20", "node24", "composite", "docker", "sh", "go"];

/** Parses action.yml text. `fileName` appears in error positions. */
export function parseActionMetadata(text: string, fileName: string): ParseResult<ActionMetadata> {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return {
      errors: doc.errors.map((e) => {
        const pos = e.linePos?.[0] ?? lineCounter.linePos(e.pos[0]);
        const err: WorkflowError = { file: fileName, message: e.message.split("\n")[0] ?? e.message, code: "yaml" };
        if (pos) {
          err.line = pos.line;
          err.column = pos.col;
        }
        return err;
      }),
    };
  }
  const js: unknown = doc.toJS({ maxAliasCount: 1000 });
  if (js === null || typeof js !== "object" || Array.isArray(js)) {
    return { errors: [{ file: fileName, line: 1, column: 1, message: "an action file must be a YAML mapping" }] };
  }

  const c = new Checker();
  const meta = checkMetadata(js as Record<string, unknown>, c);
  const errors = c.issues
    .slice(0, 20)
    .map((i) => positioned(doc, lineCounter, fileName, i.path, `${i.path.length > 0 ? describePath(i.path) : ""}${i.message}`));
  if (meta.runs?.using === "composite") {
    const ids = new Set<string>();
    meta.runs.steps.forEach((s, i) => {
      if (s.id === undefined) return;
      if (ids.has(s.id)) errors.push(positioned(doc, lineCounter, fileName, ["runs", "steps", i, "id"], `duplicate step id '${s.id}'`));
      ids.add(s.id);
    });
  }
  if (meta.badUsing !== undefined) {
    errors.push(
      positioned(doc, lineCounter, fileName, ["runs", "using"], `runs.using '${meta.badUsing}' is not supported (expected one of ${USINGS.join(", ")})`),
    );
  }
  if (errors.length > 0 || meta.runs === undefined) return { errors };
  return { value: dropUndefined({ ...meta.value, runs: meta.runs }), errors: [] };
}

interface Checked {
  value: Omit<ActionMetadata, "runs">;
  runs?: ActionRuns;
  badUsing?: string;
}

function checkMetadata(root: Record<string, unknown>, c: Checker): Checked {
  const inputs: Record<string, ActionInput> = {};
  for (const [k, v] of c.entries(root.inputs, ["inputs"])) {
    const at = ["inputs", k];
    inputs[k] =
      v === null
        ? {}
        : dropUndefined({
            description: c.text(v.description, [...at, "description"]),
            required: c.booleanLike(v.required, [...at, "required"]),
            default: c.text(v.default, [...at, "default"]),
            deprecationMessage: c.text(v.deprecationMessage, [...at, "deprecationMessage"]),
          });
  }
  const outputs: Record<string, ActionOutput> = {};
  for (const [k, v] of c.entries(root.outputs, ["outputs"])) {
    outputs[k] = v === null ? {} : dropUndefined({ description: c.text(v.description, ["outputs", k, "description"]), value: c.text(v.value, ["outputs", k, "value"]) });
  }
  const value = dropUndefined({
    name: c.text(root.name, ["name"]) ?? "",
    description: c.text(root.description, ["description"]),
    author: c.text(root.author, ["author"]),
    inputs,
    outputs,
  });
  const rawRuns = c.mapping(root.runs, ["runs"], "'runs' is required and must be a mapping");
  if (!rawRuns) return { value };
  const usingRaw = rawRuns.using;
  if (typeof usingRaw !== "string" || usingRaw.trim() === "") {
    c.fail(["runs", "using"], "runs.using is required");
    return { value };
  }
  if (c.issues.length > 0) return { value };
  const using = usingRaw.trim().toLowerCase();
  const at = (k: string | number, ...more: (string | number)[]) => ["runs", k, ...more];
  switch (using) {
    case "node12":
    case "node16":
    case "node20":
    case "node24":
    case "sh":
    case "go": {
      const runs = dropUndefined({
        using,
        main: c.nonEmpty(rawRuns.main, at("main")),
        pre: c.text(rawRuns.pre, at("pre")),
        preIf: c.text(rawRuns["pre-if"], at("pre-if")),
        post: c.text(rawRuns.post, at("post")),
        postIf: c.text(rawRuns["post-if"], at("post-if")),
        env: c.stringMap(rawRuns.env, at("env")),
      }) as ActionRuns;
      return c.issues.length > 0 ? { value } : { value, runs };
    }
    case "docker": {
      let args: string[] | undefined;
      if (rawRuns.args !== null && rawRuns.args !== undefined) {
        if (!Array.isArray(rawRuns.args)) c.fail(at("args"), "must be a list");
        else args = rawRuns.args.map((a, i) => c.text(a, at("args", i)) ?? "");
      }
      const runs = dropUndefined({
        using: "docker",
        image: c.nonEmpty(rawRuns.image, at("image")),
        entrypoint: c.text(rawRuns.entrypoint, at("entrypoint")),
        preEntrypoint: c.text(rawRuns["pre-entrypoint"], at("pre-entrypoint")),
        preIf: c.text(rawRuns["pre-if"], at("pre-if")),
        postEntrypoint: c.text(rawRuns["post-entrypoint"], at("post-entrypoint")),
        postIf: c.text(rawRuns["post-if"], at("post-if")),
        args,
        env: c.stringMap(rawRuns.env, at("env")),
      }) as ActionRuns;
      return c.issues.length > 0 ? { value } : { value, runs };
    }
    case "composite": {
      const raw = rawRuns.steps;
      if (!Array.isArray(raw)) {
        c.fail(at("steps"), "must be a list of steps");
        return { value };
      }
      if (raw.length === 0) {
        c.fail(at("steps"), "needs at least one step");
        return { value };
      }
      const steps = raw.map((item, index) => compositeStep(item, index, c));
      return c.issues.length > 0 ? { value } : { value, runs: { using: "composite", steps: steps as StepModel[] } };
    }
    default:
      return { value, badUsing: usingRaw };
  }
}

function compositeStep(item: unknown, index: number, c: Checker): StepModel | undefined {
  const at = (...more: (string | number)[]) => ["runs", "steps", index, ...more];
  const s = c.mapping(item, at());
  if (!s) return undefined;
  const step = dropUndefined({
    index,
    id: c.text(s.id, at("id")),
    name: c.text(s.name, at("name")),
    if: c.text(s.if, at("if")),
    run: c.text(s.run, at("run")),
    uses: c.text(s.uses, at("uses")),
    with: c.rawMap(s.with, at("with")),
    env: c.rawMap(s.env, at("env")),
    shell: c.text(s.shell, at("shell")),
    workingDirectory: c.text(s["working-directory"], at("working-directory")),
    continueOnError: s["continue-on-error"],
    timeoutMinutes: s["timeout-minutes"],
  }) as StepModel;
  if (step.run === undefined && step.uses === undefined) c.fail(at(), "a step needs either 'run' or 'uses'");
  else if (step.run !== undefined && step.uses !== undefined) c.fail(at(), "a step cannot have both 'run' and 'uses'");
  else if (step.run !== undefined && step.shell === undefined) c.fail(at("run"), "'shell' is required on 'run' steps of a composite action");
  return step;
}

/**
 * Reads the metadata of the action in `dir`: action.yml, else action.yaml,
 * else a Dockerfile (a docker action). `displayDir` names the action in errors.
 * With `root`, metadata reached through a symlink leading outside `root` is refused.
 */
export async function readActionMetadata(dir: string, displayDir: string = dir, root?: string): Promise<ActionMetadata> {
  for (const name of METADATA_FILES) {
    const file = path.join(dir, name);
    let text: string;
    try {
      if (root !== undefined) await assertInside(root, file, joinDisplay(displayDir, name));
      text = await fs.readFile(file, "utf8");
    } catch (err) {
      if (isNotFound(err)) continue;
      throw new ActionError("not-found", `cannot read ${joinDisplay(displayDir, name)}: ${(err as Error).message}`);
    }
    const display = joinDisplay(displayDir, name);
    const parsed = parseActionMetadata(text, display);
    if (!parsed.value) {
      const lines = parsed.errors.map(formatWorkflowError);
      throw new ActionError("invalid-metadata", `invalid action metadata in ${display}:\n${lines.join("\n")}`, parsed.errors);
    }
    const metadata = parsed.value;
    metadata.file = file;
    if (metadata.name === "") metadata.name = path.basename(dir);
    return metadata;
  }
  const dockerfile = path.join(dir, "Dockerfile");
  if (await exists(dockerfile)) {
    return { name: path.basename(dir), inputs: {}, outputs: {}, runs: { using: "docker", image: "Dockerfile" }, file: dockerfile };
  }
  throw new ActionError(
    "not-found",
    `can't find 'action.yml' or 'action.yaml' (or a 'Dockerfile') in ${displayDir}`,
  );
}

function positioned(
  doc: Document,
  lineCounter: LineCounter,
  file: string,
  at: (string | number)[],
  message: string,
): WorkflowError {
  const err: WorkflowError = { file, message, code: "action-schema" };
  // The nearest node that exists: a missing key reports at its parent mapping.
  for (let n = at.length; n >= 0; n--) {
    const node = n === 0 ? doc.contents : doc.getIn(at.slice(0, n), true);
    const range = (node as { range?: [number, number, number] } | null | undefined)?.range;
    if (range) {
      const pos = lineCounter.linePos(range[0]);
      err.line = pos.line;
      err.column = pos.col;
      break;
    }
  }
  return err;
}

/** Throws unless `file` (symlinks resolved) lies inside `root`; a missing file passes through as ENOENT. */
async function assertInside(root: string, file: string, display: string): Promise<void> {
  const [realRoot, realFile] = await Promise.all([fs.realpath(root), fs.realpath(file)]);
  const rel = path.relative(realRoot, realFile);
  if (rel === "" || rel.startsWith("..") || path.isAbsolute(rel)) {
    throw new ActionError("not-found", `${display} leads outside the action tree through a symlink`);
  }
}

function joinDisplay(dir: string, name: string): string {
  return `${dir.replace(/\/+$/, "")}/${name}`;
}

function describePath(at: (string | number)[]): string {
  if (at.length === 0) return "";
  return `${at.map((p) => (typeof p === "number" ? `[${p}]` : p)).join(".").replace(/\.\[/g, "[")}: `;
}

function dropUndefined<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}

function isNotFound(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === "ENOENT" || code === "ENOTDIR";
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.stat(p);
    return true;
  } catch {
    return false;
  }
}
