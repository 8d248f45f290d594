// The conformance corpus in job containers, part 1 of 3 (see container-cases.ts).
import { test } from "node:test";
import { containerCases } from "./container-cases.js";

for (const c of await containerCases(0, 3)) test(c.title, c.options, (t) => c.run(t));
