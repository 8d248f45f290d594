import { promises as fs } from "node:fs";
import path from "node:path";
import { LineCounter, parseDocument, type Document } from "yaml";
import { z } from "zod";
import { formatWorkflowError, type ParseResult, type StepModel, type WorkflowError } from "../workflow/model.js";
import { ActionError, type ActionInput, type ActionMetadata, type ActionOutput, type ActionRuns } from "./types.js";

const METADATA_FILES = ["action.yml", "action.yaml"] as const;

// Scalars that action.yml authors write unquoted (`default: 3`, `default: true`) become strings.
const scalarString = z.union([z.string(), z.number(), z.boolean()]).transform((v) => String(v));
const optionalText = scalarString.nullish().transform((v) => v ?? undefined);
const booleanLike = z
  .union([z.boolean(), z.enum(["true", "false", "True", "False", "TRUE", "FALSE"])])
  .transform((v) => (typeof v === "boolean" ? v : v.toLowerCase() === "true"));
const stringMap = z
  .record(z.string(), scalarString.nullable().transform((v) => v ?? ""))
  .nullish()
  .transform((v) => v ?? undefined);
const nonEmpty = z
  .string({ error: (issue) => (issue.input === undefined ? "is required" : "must be a string") })
  .trim()
  .min(1, "must be a non-empty string");

const inputSchema = z
  .looseObject({
    description: optionalText,
    required: booleanLike.nullish().transform((v) => v ?? undefined),
    default: optionalText,
    deprecationMessage: optionalText,
  })
  .nullable();

const outputSchema = z
  .looseObject({
    description: optionalText,
    value: optionalText,
  })
  .nullable();

const rootSchema = z.looseObject({
  name: optionalText,
  description: optionalText,
  author: optionalText,
  inputs: z.record(z.string(), inputSchema).nullish(),
  outputs: z.record(z.string(), outputSchema).nullish(),
  runs: z.looseObject({ using: z.string({ error: "runs.using is required" }).trim().min(1) }, {
    error: "'runs' is required and must be a mapping",
  }),
});

const scriptRunsFields = {
  main: nonEmpty,
  pre: optionalText,
  "pre-if": optionalText,
  post: optionalText,
  "post-if": optionalText,
  env: stringMap,
};

const nodeRunsSchema = z.looseObject(scriptRunsFields);

const dockerRunsSchema = z.looseObject({
  image: nonEmpty,
  entrypoint: optionalText,
  "pre-entrypoint": optionalText,
  "pre-if": optionalText,
  "post-entrypoint": optionalText,
  "post-if": optionalText,
  args: z.array(scalarString).nullish().transform((v) => v ?? undefined),
  env: stringMap,
});

const rawMap = z
  .record(z.string(), z.unknown())
  .nullish()
  .transform((v) => v ?? {});

const compositeStepSchema = z
  .looseObject({
    id: optionalText,
    name: optionalText,
    if: optionalText,
    run: optionalText,
    uses: optionalText,
    shell: optionalText,
    "working-directory": optionalText,
    with: rawMap,
    env: rawMap,
    "continue-on-error": z.unknown().optional(),
    "timeout-minutes": z.unknown().optional(),
  })
  .superRefine((step, ctx) => {
    if (step.run === undefined && step.uses === undefined) {
      ctx.addIssue({ code: "custom", message: "a step needs either 'run' or 'uses'" });
    } else if (step.run !== undefined && step.uses !== undefined) {
      ctx.addIssue({ code: "custom", message: "a step cannot have both 'run' and 'uses'" });
    } else if (step.run !== undefined && step.shell === undefined) {
      ctx.addIssue({ code: "custom", path: ["run"], message: "'shell' is required on 'run' steps of a composite action" });
    }
  });

const compositeRunsSchema = z.looseObject({
  steps: z.array(compositeStepSchema, { error: "must be a list of steps" }).min(1, "needs at least one step"),
});

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

  const errors: WorkflowError[] = [];
  const issuesToErrors = (issues: z.core.$ZodIssue[], prefix: (string | number)[]) => {
    for (const issue of issues.slice(0, 20)) {
      const at = [...prefix, ...issue.path.filter((p): p is string | number => typeof p !== "symbol")];
      errors.push(positioned(doc, lineCounter, fileName, at, `${describePath(at)}${issue.message}`));
    }
  };

  const root = rootSchema.safeParse(js);
  if (!root.success) {
    issuesToErrors(root.error.issues, []);
    return { errors };
  }
  const rawRuns = root.data.runs as Record<string, unknown>;
  const using = root.data.runs.using.toLowerCase();
  let runs: ActionRuns | undefined;
  switch (using) {
    case "node12":
    case "node16":
    case "node20":
    case "node24":
    case "sh":
    case "go": {
      const r = nodeRunsSchema.safeParse(rawRuns);
      if (!r.success) issuesToErrors(r.error.issues, ["runs"]);
      else {
        runs = dropUndefined({
          using,
          main: r.data.main,
          pre: r.data.pre,
          preIf: r.data["pre-if"],
          post: r.data.post,
          postIf: r.data["post-if"],
          env: r.data.env,
        }) as ActionRuns;
      }
      break;
    }
    case "docker": {
      const r = dockerRunsSchema.safeParse(rawRuns);
      if (!r.success) issuesToErrors(r.error.issues, ["runs"]);
      else {
        runs = dropUndefined({
          using: "docker",
          image: r.data.image,
          entrypoint: r.data.entrypoint,
          preEntrypoint: r.data["pre-entrypoint"],
          preIf: r.data["pre-if"],
          postEntrypoint: r.data["post-entrypoint"],
          postIf: r.data["post-if"],
          args: r.data.args,
          env: r.data.env,
        }) as ActionRuns;
      }
      break;
    }
    case "composite": {
      const r = compositeRunsSchema.safeParse(rawRuns);
      if (!r.success) issuesToErrors(r.error.issues, ["runs"]);
      else {
        const steps: StepModel[] = r.data.steps.map((s, index) =>
          dropUndefined({
            index,
            id: s.id,
            name: s.name,
            if: s.if,
            run: s.run,
            uses: s.uses,
            with: s.with,
            env: s.env,
            shell: s.shell,
            workingDirectory: s["working-directory"],
            continueOnError: s["continue-on-error"],
            timeoutMinutes: s["timeout-minutes"],
          }) as StepModel,
        );
        const ids = new Set<string>();
        steps.forEach((s, i) => {
          if (s.id === undefined) return;
          if (ids.has(s.id)) {
            errors.push(positioned(doc, lineCounter, fileName, ["runs", "steps", i, "id"], `duplicate step id '${s.id}'`));
          }
          ids.add(s.id);
        });
        runs = { using: "composite", steps };
      }
      break;
    }
    default:
      errors.push(
        positioned(
          doc,
          lineCounter,
          fileName,
          ["runs", "using"],
          `runs.using '${root.data.runs.using}' is not supported (expected one of ${USINGS.join(", ")})`,
        ),
      );
  }
  if (errors.length > 0 || runs === undefined) return { errors };

  const inputs: Record<string, ActionInput> = {};
  for (const [k, v] of Object.entries(root.data.inputs ?? {})) {
    inputs[k] = v === null ? {} : dropUndefined({ description: v.description, required: v.required, default: v.default, deprecationMessage: v.deprecationMessage });
  }
  const outputs: Record<string, ActionOutput> = {};
  for (const [k, v] of Object.entries(root.data.outputs ?? {})) {
    outputs[k] = v === null ? {} : dropUndefined({ description: v.description, value: v.value });
  }
  const metadata: ActionMetadata = dropUndefined({
    name: root.data.name ?? "",
    description: root.data.description,
    author: root.data.author,
    inputs,
    outputs,
    runs,
  });
  return { value: metadata, errors: [] };
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
