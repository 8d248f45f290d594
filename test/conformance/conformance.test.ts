// The conformance corpus (cases/, see README.md) with every job on the host.
import { runCorpus } from "./corpus.js";

await runCorpus({ title: "conformance" });
