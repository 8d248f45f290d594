import { test } from "node:test";
import assert from "node:assert/strict";
import { nodeCrypto, randomHex, randomUuid } from "../../src/host/index.js";

test("random names and tokens: the asked length, never repeated, across refills of the pool", () => {
  const seen = new Set<string>();
  for (let i = 0; i < 3000; i++) {
    const h = randomHex(20);
    assert.match(h, /^[0-9a-f]{40}$/);
    assert.ok(!seen.has(h));
    seen.add(h);
  }
  // Every hex digit shows up in every position over many draws (not a constant or a counter).
  const firsts = new Set([...seen].map((h) => h[0]));
  assert.equal(firsts.size, 16);
});

test("randomUuid is a version 4 UUID, as crypto.randomUUID() makes them", () => {
  const ids = new Set<string>();
  for (let i = 0; i < 1000; i++) {
    const id = randomUuid();
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    ids.add(id);
  }
  assert.equal(ids.size, 1000);
});

test("nodeCrypto hashes like node:crypto", () => {
  assert.equal(nodeCrypto().createHash("sha256").update("abc").digest("hex"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
});
