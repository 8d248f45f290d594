// Field readers with forgejo-runner semantics, shared by the section and
// connection readers.

import { REPO_PATTERN } from "../policy/trust.js";
import { parseLabel } from "./labels.js";
import type { Section } from "./yaml-reader.js";

/** A duration where 0 or negative means the default (negative also warns). */
export function positiveOr(sec: Section, key: string, fallback: number): number {
  const v = sec.duration(key);
  if (v === undefined) return fallback;
  if (v < 0) sec.warn(key, "negative value ignored; using the default");
  return v <= 0 ? fallback : v;
}

/** A list of labels, each checked against the label grammar. */
export function labelList(sec: Section, key: string): string[] | undefined {
  const list = sec.strList(key);
  if (!list) return undefined;
  let ok = true;
  list.forEach((l, i) => {
    try {
      parseLabel(l);
    } catch (err) {
      ok = false;
      sec.problem([key, i], l, `is not a valid label: ${(err as Error).message}`, "name[:host] or name:docker://image or name:lxc://image");
    }
  });
  return ok ? list : undefined;
}

/** A list of `owner/repo` or `owner/*` patterns. */
export function repoPatterns(sec: Section, key: string): string[] | undefined {
  const list = sec.strList(key);
  if (!list) return undefined;
  let ok = true;
  list.forEach((p, i) => {
    if (!REPO_PATTERN.test(p)) {
      ok = false;
      sec.problem([key, i], p, "is not a repository pattern", "owner/repo or owner/*");
    }
  });
  return ok ? list : undefined;
}
