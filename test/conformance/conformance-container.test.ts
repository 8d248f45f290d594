// The conformance corpus once more with every job in a job container (`exec -i`
// with the local test image) and the same expectations. Cases that cannot hold
// inside a container are listed here with the reason.
import { runCorpus } from "./corpus.js";
import { TEST_IMAGE, podmanMissing } from "../container/helpers.js";

await runCorpus({
  title: "conformance in a job container",
  execArgs: ["-i", TEST_IMAGE],
  unavailable: podmanMissing,
  caseTimeoutMs: 180_000,
  exceptions: {},
});
