// The bundle's Headers (src/protocol/light-headers.ts) against Node's own: the same answers for every sequence
// of operations, and the same errors.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { LightHeaders } from "../../src/protocol/light-headers.js";

type Op = { op: "append" | "set" | "delete" | "get" | "has"; name: string; value: string };

const names = fc.constantFrom("content-type", "Content-Type", "grpc-status", "Set-Cookie", "set-cookie", "x-a", "X-A", "bad name", "", "conn:ect");
const values = fc.constantFrom("a", " b ", "\tc\t", "application/proto", "x=1; Path=/", "", "new\nline", "nul\0");
const ops = fc.array(fc.record({ op: fc.constantFrom("append", "set", "delete", "get", "has"), name: names, value: values }) as fc.Arbitrary<Op>, { maxLength: 20 });

function apply(h: Headers, o: Op): unknown {
  try {
    switch (o.op) {
      case "append": return h.append(o.name, o.value);
      case "set": return h.set(o.name, o.value);
      case "delete": return h.delete(o.name);
      case "get": return h.get(o.name);
      case "has": return h.has(o.name);
    }
  } catch (err) {
    return `${(err as Error).name}`;
  }
}

const state = (h: Headers) => ({ entries: [...h], keys: [...h.keys()], values: [...h.values()], cookies: h.getSetCookie(), each: collect(h) });
function collect(h: Headers): string[] {
  const out: string[] = [];
  h.forEach((v, k) => out.push(`${k}=${v}`));
  return out;
}

test("every sequence of operations gives the same answers and the same state as Node's Headers", () => {
  fc.assert(
    fc.property(ops, (seq) => {
      const ours = new LightHeaders();
      const node = new Headers();
      for (const o of seq) assert.deepEqual(apply(ours, o), apply(node, o), JSON.stringify(o));
      assert.deepEqual(state(ours), state(node));
    }),
    { numRuns: 500 },
  );
});

test("constructed from a record, from pairs and from another Headers as Node's is", () => {
  const inits: unknown[] = [
    { "Content-Type": "application/json", "x-a": " 1 " },
    [["x-a", "1"], ["X-A", "2"], ["set-cookie", "a=1"], ["Set-Cookie", "b=2"]],
    new Headers([["grpc-status", "0"]]),
    new LightHeaders({ b: "2", a: "1" }),
    new Map([["x", "y"]]),
  ];
  for (const init of inits) {
    assert.deepEqual(state(new LightHeaders(init as ConstructorParameters<typeof Headers>[0])), state(new Headers(init as ConstructorParameters<typeof Headers>[0])));
  }
  for (const bad of [[["only-name"]], [["a", "b", "c"]], { "bad name": "x" }]) {
    assert.throws(() => new Headers(bad as ConstructorParameters<typeof Headers>[0]), TypeError);
    assert.throws(() => new LightHeaders(bad as ConstructorParameters<typeof Headers>[0]), TypeError);
  }
  assert.equal(Object.prototype.toString.call(new LightHeaders()), "[object Headers]");
});
