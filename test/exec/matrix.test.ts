import { test } from "node:test";
import assert from "node:assert/strict";
import { MatrixError, expandMatrix, matrixJobName } from "../../src/exec/matrix.js";

test("cartesian product in definition order", () => {
  assert.deepEqual(expandMatrix({ os: ["linux", "mac"], node: [18, 20] }), [
    { os: "linux", node: 18 },
    { os: "linux", node: 20 },
    { os: "mac", node: 18 },
    { os: "mac", node: 20 },
  ]);
});

test("no matrix means no expansion", () => {
  assert.equal(expandMatrix(undefined), undefined);
  assert.equal(expandMatrix(null), undefined);
});

test("GitHub's documented include example", () => {
  // docs.github.com: "Example: Expanding configurations"
  const got = expandMatrix({
    fruit: ["apple", "pear"],
    animal: ["cat", "dog"],
    include: [
      { color: "green" },
      { color: "pink", animal: "cat" },
      { fruit: "apple", shape: "circle" },
      { fruit: "banana" },
      { fruit: "banana", animal: "cat" },
    ],
  });
  assert.deepEqual(got, [
    { fruit: "apple", animal: "cat", color: "pink", shape: "circle" },
    { fruit: "apple", animal: "dog", color: "green", shape: "circle" },
    { fruit: "pear", animal: "cat", color: "pink" },
    { fruit: "pear", animal: "dog", color: "green" },
    { fruit: "banana" },
    { fruit: "banana", animal: "cat" },
  ]);
});

test("GitHub's documented exclude example (partial matches)", () => {
  const got = expandMatrix({
    os: ["macos-latest", "windows-latest"],
    version: [12, 14, 16],
    environment: ["staging", "production"],
    exclude: [
      { os: "macos-latest", version: 12, environment: "production" },
      { os: "windows-latest", version: 16 },
    ],
  })!;
  assert.equal(got.length, 12 - 1 - 2);
  assert.ok(!got.some((c) => c.os === "windows-latest" && c.version === 16));
  assert.ok(!got.some((c) => c.os === "macos-latest" && c.version === 12 && c.environment === "production"));
  assert.ok(got.some((c) => c.os === "macos-latest" && c.version === 12 && c.environment === "staging"));
});

test("exclude runs before include; include can re-add an excluded combination", () => {
  assert.deepEqual(
    expandMatrix({ a: [1, 2], exclude: [{ a: 2 }], include: [{ a: 2, extra: true }] }),
    [{ a: 1 }, { a: 2, extra: true }],
  );
});

test("include-only matrix and object values", () => {
  assert.deepEqual(expandMatrix({ include: [{ name: "x", cfg: { deep: [1] } }, { name: "y" }] }), [
    { name: "x", cfg: { deep: [1] } },
    { name: "y" },
  ]);
  assert.deepEqual(expandMatrix({ cfg: [{ a: 1 }, { a: 2 }], exclude: [{ cfg: { a: 2 } }] }), [{ cfg: { a: 1 } }]);
});

test("include may overwrite values it added itself but never original ones", () => {
  assert.deepEqual(
    expandMatrix({ os: ["linux"], include: [{ tag: "one" }, { tag: "two" }, { os: "mac", tag: "three" }] }),
    [{ os: "linux", tag: "two" }, { os: "mac", tag: "three" }],
  );
});

test("invalid matrices are errors", () => {
  assert.throws(() => expandMatrix("nope"), MatrixError);
  assert.throws(() => expandMatrix({ a: "x" }), /must be a sequence/);
  assert.throws(() => expandMatrix({ a: [] }), /does not contain any values/);
  assert.throws(() => expandMatrix({ a: [1], exclude: [{ a: 1 }] }), /no combinations/);
  assert.throws(() => expandMatrix({ include: ["x"] }), /must be mappings/);
  assert.throws(() => expandMatrix({ a: Array.from({ length: 17 }, (_, i) => i), b: Array.from({ length: 16 }, (_, i) => i) }), /at most 256/);
});

test("instance names", () => {
  assert.equal(matrixJobName("build", { node: 20, os: "linux" }), "build (20, linux)");
  assert.equal(matrixJobName("build", undefined), "build");
  assert.equal(matrixJobName("t", { cfg: { a: 1 }, flag: true }), 't ({"a":1}, true)');
  assert.equal(matrixJobName("t", { a: "", b: true, c: null }), "t (true)");
  assert.equal(matrixJobName("t", { a: "" }), "t");
});
