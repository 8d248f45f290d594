// Runs a cache service (proxy + internal store) in its own process so that a
// benchmark can measure its memory. Prints one JSON line with a job's env,
// then serves until SIGTERM.
//   node --import tsx bench/cache-service-process.ts <dir>
import { startCacheService } from "../src/cache/index.js";

const dir = process.argv[2];
if (!dir) throw new Error("usage: cache-service-process.ts <dir>");
const svc = await startCacheService({
  dir, host: "127.0.0.1", port: 0, proxyPort: 0, secret: "bench", maxSize: 64 * 1024 ** 3, macMaxAge: 0,
});
const token = "bench-token";
const job = svc.registerJob({ repository: "bench/repo", runtimeToken: token, eventName: "push", event: {}, ref: "refs/heads/main", runId: 1 });
process.stdout.write(`${JSON.stringify({ env: job.env, token })}\n`);
process.once("SIGTERM", () => {
  job.release();
  void svc.close().then(() => process.exit(0));
});
