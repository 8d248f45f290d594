import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { getWorkflowSchema } from "@actions/workflow-parser/workflows/workflow-schema";
import { schemaFromJson } from "../../src/workflow/workflow-schema-tokens.js";

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
