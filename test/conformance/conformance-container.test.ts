// The conformance corpus once more with every job in a job container (`exec -i`
// with the local test image: busybox, dash, bash, node, GNU tar, zstd, python3,
// perl) and the same expectations. Every case holds there; a case that cannot
// would be listed in `exceptions` with the reason (reported as skipped).
import { test } from "node:test";
import { corpusCases } from "./corpus.js";
import { TEST_IMAGE, podmanMissing } from "../container/helpers.js";

const cases = await corpusCases({
  title: "conformance in a job container",
  execArgs: ["-i", TEST_IMAGE],
  unavailable: podmanMissing,
  caseTimeoutMs: 180_000,
  exceptions: {},
});
for (const c of cases) test(c.title, c.options, (t) => c.run(t));
