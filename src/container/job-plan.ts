// The containers a job needs, read from its single-job YAML: the job
// container (`container:`, else the label's image) and its `services:`.
// The payload carries expressions unevaluated; `${{ secrets.NAME }}` and
// `${{ matrix.NAME }}` (the payload's expanded matrix holds one value per key)
// are substituted, any other expression is refused: the runner does not guess.

import { isObject, singleJob, type JobPlatform } from "./job-platform.js";
import type { ContainerSpec, JobContainerPlan } from "./container-backend.js";

export class JobPlanError extends Error {}

/** The default image for a job with services or a bare label but no image of its own. */
export const DEFAULT_JOB_IMAGE = "node:22-bookworm";

export function jobContainerPlan(workflowYaml: string, platform: JobPlatform, secretValues: Record<string, string> = {}): JobContainerPlan {
  const job = singleJob(workflowYaml);
  const secrets: Values = { secrets: secretValues, matrix: expandedMatrix(job) };
  const container = job?.container;
  let spec: ContainerSpec;
  if (container !== undefined && container !== null && container !== "") {
    spec = containerSpec(container, "container", secrets);
  } else {
    spec = { image: (platform.kind === "container" ? platform.image : undefined) ?? DEFAULT_JOB_IMAGE, env: {}, ports: [], volumes: [], options: "" };
  }
  const services: Record<string, ContainerSpec> = {};
  const raw = job?.services;
  if (isObject(raw)) {
    for (const [key, svc] of Object.entries(raw)) services[key] = containerSpec(svc, `services.${key}`, secrets);
  }
  return { job: spec, services };
}

interface Values {
  secrets: Record<string, string>;
  /** Matrix keys with exactly one value (an expanded payload job). */
  matrix: Record<string, string>;
}

function expandedMatrix(job: Record<string, unknown> | undefined): Record<string, string> {
  const strategy = job?.strategy;
  const m = isObject(strategy) ? strategy.matrix : undefined;
  const out: Record<string, string> = {};
  if (!isObject(m)) return out;
  for (const [k, v] of Object.entries(m)) {
    const one = Array.isArray(v) && v.length === 1 ? v[0] : undefined;
    if (typeof one === "string" || typeof one === "number" || typeof one === "boolean") out[k] = String(one);
  }
  return out;
}

function containerSpec(v: unknown, where: string, secrets: Values): ContainerSpec {
  if (typeof v === "string") return { image: literal(v, `${where}`, secrets), env: {}, ports: [], volumes: [], options: "" };
  if (!isObject(v)) throw new JobPlanError(`${where}: expected an image name or a mapping`);
  const image = v.image;
  if (typeof image !== "string" || image === "") throw new JobPlanError(`${where}.image: required`);
  const env: Record<string, string> = {};
  if (isObject(v.env)) for (const [k, val] of Object.entries(v.env)) env[k] = literal(String(val ?? ""), `${where}.env.${k}`, secrets);
  const list = (x: unknown, name: string) => (Array.isArray(x) ? x.map((e) => literal(String(e), `${where}.${name}`, secrets)) : []);
  const spec: ContainerSpec = {
    image: literal(image, `${where}.image`, secrets),
    env,
    ports: list(v.ports, "ports"),
    volumes: list(v.volumes, "volumes"),
    options: typeof v.options === "string" ? literal(v.options, `${where}.options`, secrets) : "",
  };
  if (isObject(v.credentials)) {
    const username = literal(String(v.credentials.username ?? ""), `${where}.credentials.username`, secrets);
    const password = literal(String(v.credentials.password ?? ""), `${where}.credentials.password`, secrets);
    spec.credentials = { username, password };
  }
  return spec;
}

/** The value itself; `${{ secrets.NAME }}` and `${{ matrix.NAME }}` are substituted, any other expression is refused. */
function literal(s: string, where: string, values: Values): string {
  return s.replace(/\$\{\{\s*([^}]*?)\s*\}\}/g, (_m, expr: string) => {
    const m = /^secrets\.([A-Za-z_][A-Za-z0-9_]*)$/.exec(expr);
    if (m) return values.secrets[m[1]!] ?? values.secrets[m[1]!.toUpperCase()] ?? "";
    const mx = /^matrix\.([A-Za-z_][A-Za-z0-9_-]*)$/.exec(expr);
    if (mx && Object.hasOwn(values.matrix, mx[1]!)) return values.matrix[mx[1]!]!;
    throw new JobPlanError(`${where}: the expression \${{ ${expr} }} is not supported here`);
  });
}

