// The containers a job needs, read from its single-job YAML: the job
// container (`container:`, else the label's image) and its `services:`.
// Values holding expressions are refused: the payload carries them
// unevaluated and the runner does not guess.

import { isObject, singleJob, type JobPlatform } from "./job-platform.js";
import type { ContainerSpec, JobContainerPlan } from "./container-backend.js";

export class JobPlanError extends Error {}

/** The default image for a job with services or a bare label but no image of its own. */
export const DEFAULT_JOB_IMAGE = "node:22-bookworm";

export function jobContainerPlan(workflowYaml: string, platform: JobPlatform, secrets: Record<string, string> = {}): JobContainerPlan {
  const job = singleJob(workflowYaml);
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

function containerSpec(v: unknown, where: string, secrets: Record<string, string>): ContainerSpec {
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

/** The value itself; `${{ secrets.NAME }}` is substituted, any other expression is refused. */
function literal(s: string, where: string, secrets: Record<string, string>): string {
  return s.replace(/\$\{\{\s*([^}]*?)\s*\}\}/g, (_m, expr: string) => {
    const m = /^secrets\.([A-Za-z_][A-Za-z0-9_]*)$/.exec(expr);
    if (m) return secrets[m[1]!] ?? secrets[m[1]!.toUpperCase()] ?? "";
    throw new JobPlanError(`${where}: the expression \${{ ${expr} }} is not supported here`);
  });
}

