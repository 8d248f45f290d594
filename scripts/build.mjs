// Bundles the CLI into dist/ (scripts/bundle.mjs describes the layout) with the engine's code cache.
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { bundleCli, ROOT } from "./bundle.mjs";

const outdir = join(ROOT, "dist");
// Chunk names carry a content hash: clear old ones.
await rm(join(outdir, "chunks"), { recursive: true, force: true });
await bundleCli(outdir, { codeCache: true });
