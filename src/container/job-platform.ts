// Which executor a job needs: the host, or a container. Decided from the
// runner's labels and the job's `runs-on`, `container:` and `services:`, the
// way forgejo-runner picks a platform: the first `runs-on` entry naming a
// local label wins; a job container or services always mean containers.

import { parse as parseYaml } from "yaml";
import { formatLabel, parseLabel, type Label } from "../config/index.js";

export type JobPlatform =
  | { kind: "host"; label?: Label }
  | { kind: "container"; label?: Label; image?: string; reason: string };

export interface PlatformOptions {
  /** What a job whose `runs-on` names no local label gets (the daemon: a container, as forgejo-runner; exec: the host). */
  unmatched: "host" | "container";
}

/** The platform of a single-job workflow YAML (a task payload or exec's per-job YAML). */
export function jobPlatform(workflowYaml: string, labels: readonly Label[], opts: PlatformOptions): JobPlatform {
  const job = singleJob(workflowYaml);
  const runsOn = runsOnList(job?.["runs-on"]);
  const label = matchLabel(labels, runsOn);
  const container = job?.container;
  if (container !== undefined && container !== null && container !== "") {
    const image = typeof container === "string" ? container : isObject(container) && typeof container.image === "string" ? container.image : undefined;
    return { kind: "container", ...(label ? { label } : {}), ...(image ? { image } : {}), reason: "the job has a `container:`" };
  }
  if (label && label.schema !== "host") {
    return {
      kind: "container",
      label,
      image: stripSlashes(label.arg),
      reason: `runs-on ${JSON.stringify(label.name)} maps to the container label ${JSON.stringify(formatLabel(label))}`,
    };
  }
  const services = job?.services;
  if (isObject(services) && Object.keys(services).length > 0) {
    return { kind: "container", ...(label ? { label } : {}), reason: "the job has `services:`" };
  }
  if (label) return { kind: "host", label };
  if (opts.unmatched === "container") {
    return {
      kind: "container",
      reason: `runs-on ${JSON.stringify(runsOn.join(","))} names none of this runner's labels, which means the default container image`,
    };
  }
  return { kind: "host" };
}

/** The first label named by a `runs-on` entry. */
export function matchLabel(labels: readonly Label[], runsOn: readonly string[]): Label | undefined {
  for (const r of runsOn) {
    const l = labels.find((x) => x.name === r);
    if (l) return l;
  }
  return undefined;
}

/** `runs-on` as a list of label names (string, list, or `{ labels: ... }`). */
export function runsOnList(v: unknown): string[] {
  if (typeof v === "string") return [v];
  if (Array.isArray(v)) return v.filter((x) => typeof x === "string" || typeof x === "number").map(String);
  if (isObject(v)) return runsOnList(v.labels);
  return [];
}

/**
 * Labels this runner cannot serve, with the reason; register and daemon
 * refuse them so that no such job is ever fetched.
 */
export function unsupportedLabels(labels: readonly string[], supported: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (const text of labels) {
    let l: Label;
    try {
      l = parseLabel(text);
    } catch {
      continue; // grammar errors are reported by the callers' own checks
    }
    if (!supported.has(l.schema)) out.push(text);
  }
  return out;
}

/** Label schemas this runner has an executor for. */
export const SUPPORTED_SCHEMAS: ReadonlySet<string> = new Set(["host", "docker"]);

/** undefined when every label can be served; else the refusal message naming the first bad label. */
export function labelRefusal(labels: readonly string[], supported: ReadonlySet<string> = SUPPORTED_SCHEMAS): string | undefined {
  const bad = unsupportedLabels(labels, supported);
  return bad.length > 0 ? unsupportedLabelMessage(bad[0]!) : undefined;
}

/** The message for a label this runner refuses. */
export function unsupportedLabelMessage(text: string): string {
  const l = parseLabel(text);
  const how = l.schema === "lxc" ? "in an LXC container" : "in a container";
  return (
    `label ${JSON.stringify(text)} runs jobs ${how} (schema ${l.schema}), which this runner does not support; ` +
    `its jobs would otherwise run on the host. Use a host label instead (e.g. "${l.name}:host")`
  );
}

/** The single job of a task payload as plain YAML data; undefined when unreadable. */
export function singleJob(yaml: string): Record<string, unknown> | undefined {
  try {
    const doc: unknown = parseYaml(yaml);
    if (!isObject(doc) || !isObject(doc.jobs)) return undefined;
    const job = Object.values(doc.jobs)[0];
    return isObject(job) ? job : undefined;
  } catch {
    return undefined;
  }
}

function stripSlashes(s: string): string {
  return s.startsWith("//") ? s.slice(2) : s;
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** `-P label=image` (exec): `-self-hosted` as the image means the host. */
export function platformLabel(spec: string): Label {
  const eq = spec.indexOf("=");
  if (eq <= 0 || eq === spec.length - 1) throw new Error(`--platform ${spec}: expected LABEL=IMAGE (or LABEL=-self-hosted)`);
  const name = spec.slice(0, eq);
  const image = spec.slice(eq + 1);
  return image === "-self-hosted" ? { name, schema: "host", arg: "" } : { name, schema: "docker", arg: `//${image}` };
}
