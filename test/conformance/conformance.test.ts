// The conformance corpus (cases/, see README.md) with every job on the host.
import { test } from "node:test";
import { corpusCases } from "./corpus.js";

for (const c of await corpusCases({ title: "conformance" })) test(c.title, c.options, (t) => c.run(t));
