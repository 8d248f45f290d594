// Runs as a non-root runner under /proc mounted with hidepid=2 (systemd's ProtectProc=invisible): started by
// proc-scan.test.ts. One job on the plain backend (or the prepared backend of a job worker, with argv[2]
// "prepared") leaves a job-control process in its step's session whose parent exited (init adopts it, and init
// is hidden); the job is disposed and this prints whether the walk was complete and the orphan's marker.

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PlainBackend } from "../../src/host/plain-backend.js";
import { PreparedBackend } from "../../src/host/prepared-backend.js";
import { listStartedSince } from "../../src/host/proc-scan.js";
import { run } from "./fixture.js";

const dir = await mkdtemp(join(tmpdir(), "nr-hidepid-"));
const mark = `${50_000 + Math.floor(Math.random() * 9_000)}`;
let sb;
if (process.argv[2] === "prepared") {
  const dirs = { root: dir, workspace: dir, temp: dir, home: dir, toolCache: dir };
  sb = await new PreparedBackend("none", dirs, { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir }).prepareJob();
} else {
  sb = await new PlainBackend(dir).prepareJob({ jobKey: "hidepid" });
}
// `set -m`: the subshell gets a process group of its own in the step's session; it exits at once, so its sleep
// is adopted by init.
const r = await run(sb, `set -m; (sleep ${mark} & exit 0) & wait; sleep 0.2; echo started`);
const walk = await listStartedSince(0, () => false);
await sb.dispose();
await rm(dir, { recursive: true, force: true });
process.stdout.write(JSON.stringify({ out: r.out, mark, walkComplete: walk !== undefined }) + "\n");
