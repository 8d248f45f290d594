import { isMap, isScalar, isSeq, parseDocument, Scalar } from "yaml";

// Forgejo writes the payload from Go structs in which some fields are strings
// (`TimeoutMinutes string`, `RawContinueOnError string`, `FailFastString`...),
// so go-yaml emits `timeout-minutes: "5"` and `continue-on-error: "true"`.
// GitHub's schema wants a number or boolean there. Those quoted literals are
// unquoted in place, which keeps every line number of the payload.

const JOB_FIELDS = ["timeout-minutes", "continue-on-error"];
const STRATEGY_FIELDS = ["fail-fast", "max-parallel"];
const STEP_FIELDS = ["timeout-minutes", "continue-on-error"];

const LITERAL = /^(?:true|false|-?\d+(?:\.\d+)?)$/;

/** Cheap test first: a payload that names none of the fields has nothing to unquote and is not parsed. */
const ANY_FIELD = new RegExp([...new Set([...JOB_FIELDS, ...STRATEGY_FIELDS, ...STEP_FIELDS])].join("|"));

export function unquoteGoScalars(text: string): string {
  if (!ANY_FIELD.test(text)) return text;
  const doc = parseDocument(text, { keepSourceTokens: true, uniqueKeys: false });
  if (doc.errors.length > 0 || !isMap(doc.contents)) return text;
  const edits: { start: number; end: number; value: string }[] = [];
  const visit = (node: unknown, fields: string[]) => {
    if (!isMap(node)) return;
    for (const item of node.items) {
      if (!isScalar(item.key) || !fields.includes(String(item.key.value))) continue;
      const v = item.value;
      if (!isScalar(v) || typeof v.value !== "string" || !v.range) continue;
      if (v.type !== Scalar.QUOTE_DOUBLE && v.type !== Scalar.QUOTE_SINGLE) continue;
      if (!LITERAL.test(v.value)) continue;
      edits.push({ start: v.range[0], end: v.range[1], value: v.value });
    }
  };
  const jobs = doc.contents.get("jobs", true);
  if (isMap(jobs)) {
    for (const { value: job } of jobs.items) {
      if (!isMap(job)) continue;
      visit(job, JOB_FIELDS);
      visit(job.get("strategy", true), STRATEGY_FIELDS);
      const steps = job.get("steps", true);
      if (isSeq(steps)) for (const step of steps.items) visit(step, STEP_FIELDS);
    }
  }
  if (edits.length === 0) return text;
  let out = text;
  for (const e of edits.sort((a, b) => b.start - a.start)) out = out.slice(0, e.start) + e.value + out.slice(e.end);
  return out;
}
