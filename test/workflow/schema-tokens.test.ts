import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { getWorkflowSchema } from "@actions/workflow-parser/workflows/workflow-schema";
import { decorateDefinitions, schemaFromJson } from "../../src/workflow/workflow-schema-tokens.js";

test("the schema built from the JSON equals the one the package reads through its template reader", () => {
  const dist = dirname(fileURLToPath(import.meta.resolve("@actions/workflow-parser")));
  const json: unknown = JSON.parse(readFileSync(join(dist, "workflow-v1.0.min.json"), "utf8"));
  const fast = schemaFromJson(json);
  const slow = getWorkflowSchema();
  assert.deepEqual(Object.keys(fast.definitions).sort(), Object.keys(slow.definitions).sort());
  for (const [name, def] of Object.entries(slow.definitions)) {
    const other = fast.definitions[name]!;
    assert.equal(Object.getPrototypeOf(other), Object.getPrototypeOf(def), name);
    assert.deepEqual(JSON.parse(JSON.stringify(other)), JSON.parse(JSON.stringify(def)), name);
  }
  assert.equal(fast.version, slow.version);
});

test("a definition is built when first looked up, and a decorator reaches the ones built before and after it", () => {
  const dist = dirname(fileURLToPath(import.meta.resolve("@actions/workflow-parser")));
  const json: unknown = JSON.parse(readFileSync(join(dist, "workflow-v1.0.min.json"), "utf8"));
  const fast = schemaFromJson(json);
  const built = (name: string) => "value" in Object.getOwnPropertyDescriptor(fast.definitions, name)!;
  assert.equal(built("workflow-root"), false);
  assert.equal(built("step-uses"), false);
  fast.getDefinition("workflow-root");
  assert.equal(built("workflow-root"), true);
  assert.equal(built("step-uses"), false, "looking up one definition builds no other");
  const seen: string[] = [];
  decorateDefinitions(fast, (name) => seen.push(name));
  assert.ok(seen.includes("workflow-root") && !seen.includes("step-uses"));
  fast.getDefinition("step-uses");
  assert.ok(seen.includes("step-uses"), "a definition built after the decorator is decorated");
  assert.equal(seen.filter((n) => n === "workflow-root").length, 1, "each definition is decorated once");
  // An allowed-values definition brings its constant siblings, which are looked up by name.
  const withValues = Object.entries((json as { definitions: Record<string, Record<string, unknown>> }).definitions)
    .find(([, body]) => Array.isArray(body["allowed-values"]));
  assert.ok(withValues, "the schema has an allowed-values definition");
  const [name, body] = withValues;
  const value = (body["allowed-values"] as string[])[0]!;
  assert.equal(fast.getDefinition(`${name}-${value}`).key, `${name}-${value}`);
  assert.ok(built(name));
});

test("the definitions are a hash table, so that replacing each accessor by its definition does not copy the object's shape", () => {
  // Building all ~300 lazily on an object in V8's fast mode took 350 ms (a shape copy per definition). V8 shares
  // shapes between objects built alike, so this runs in a process of its own, where the schema is the first, as in
  // exec or a job worker.
  const dist = dirname(fileURLToPath(import.meta.resolve("@actions/workflow-parser")));
  const tokens = new URL("../../src/workflow/workflow-schema-tokens.ts", import.meta.url).href;
  const code = `
    const { readFileSync } = await import("node:fs");
    const { schemaFromJson } = await import(${JSON.stringify(tokens)});
    const json = JSON.parse(readFileSync(${JSON.stringify(join(dist, "workflow-v1.0.min.json"))}, "utf8"));
    const fast = schemaFromJson(json);
    const before = %HasFastProperties(fast.definitions);
    for (const name of Object.keys(fast.definitions)) fast.getDefinition(name);
    console.log(JSON.stringify({ before, after: %HasFastProperties(fast.definitions) }));`;
  const out = execFileSync(process.execPath, ["--allow-natives-syntax", "--import", "tsx", "--input-type=module", "-e", code], { encoding: "utf8" });
  assert.deepEqual(JSON.parse(out), { before: false, after: false });
});
