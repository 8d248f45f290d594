// The conformance corpus once more with every job in a job container (`exec -i`
// with the local test image: busybox, dash, bash, node, GNU tar, zstd, python3,
// perl) and the same expectations, split over three test files (a container per
// job makes a case slower than on the host). Every case holds there; a case
// that cannot would be listed in `exceptions` with the reason (reported as
// skipped, never run).
import { corpusCases, type CorpusCase } from "./corpus.js";
import { TEST_IMAGE, podmanMissing } from "../container/helpers.js";

export function containerCases(index: number, count: number): Promise<CorpusCase[]> {
  return corpusCases({
    title: "conformance in a job container",
    execArgs: ["-i", TEST_IMAGE],
    unavailable: podmanMissing,
    caseTimeoutMs: 180_000,
    shard: { index, count },
    exceptions: {},
  });
}
