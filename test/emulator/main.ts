/**
 * Standalone Forgejo emulator:
 *   npx tsx test/emulator/main.ts --port 3000 [--state file.json] [--legacy-errors] [--tls]
 *     [--default-actions-url URL] [--actions-url-keys both|gitea|none] [--zombie-timeout-ms N]
 *     [--disable declare|fetchSingleTask|taskCapacity|requestKey]...
 * Prints the URL and an instance registration token; the control API is under /_emulator/.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { startEmulator } from "./index.js";
import type { EmulatorSnapshot, StartOptions } from "./types.js";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "3000" },
    host: { type: "string", default: "127.0.0.1" },
    state: { type: "string" },
    "legacy-errors": { type: "boolean", default: false },
    tls: { type: "boolean", default: false },
    "default-actions-url": { type: "string" },
    "actions-url-keys": { type: "string", default: "both" },
    "zombie-timeout-ms": { type: "string" },
    disable: { type: "string", multiple: true, default: [] },
    help: { type: "boolean", short: "h", default: false },
  },
});

if (values.help) {
  process.stdout.write(
    "usage: tsx test/emulator/main.ts [--port N] [--host H] [--state FILE] [--legacy-errors] [--tls]\n" +
      "       [--default-actions-url URL] [--actions-url-keys both|gitea|none] [--zombie-timeout-ms N]\n" +
      "       [--disable declare|fetchSingleTask|taskCapacity|requestKey]...\n",
  );
  process.exit(0);
}

const keys = values["actions-url-keys"];
if (keys !== "both" && keys !== "gitea" && keys !== "none") {
  process.stderr.write(`--actions-url-keys must be both, gitea or none (got ${keys})\n`);
  process.exit(2);
}

const FEATURES = ["declare", "fetchSingleTask", "taskCapacity", "requestKey"] as const;
const features: Record<string, boolean> = {};
for (const f of values.disable ?? []) {
  if (!(FEATURES as readonly string[]).includes(f)) {
    process.stderr.write(`--disable takes one of ${FEATURES.join(", ")} (got ${f})\n`);
    process.exit(2);
  }
  features[f] = false;
}

const opts: StartOptions = {
  features,
  port: Number(values.port),
  host: values.host,
  legacyErrors: values["legacy-errors"],
  tls: values.tls,
  actionsUrlKeys: keys,
  defaultActionsUrl: values["default-actions-url"],
  zombieTimeoutMs: values["zombie-timeout-ms"] ? Number(values["zombie-timeout-ms"]) : undefined,
};
if (values.state && existsSync(values.state)) {
  opts.state = JSON.parse(readFileSync(values.state, "utf8")) as EmulatorSnapshot;
}

const emulator = await startEmulator(opts);
const token = emulator.createRegistrationToken();
process.stdout.write(`forgejo emulator listening on ${emulator.url}\ninstance registration token: ${token}\n`);

let stopping = false;
const shutdown = async () => {
  if (stopping) return;
  stopping = true;
  if (values.state) writeFileSync(values.state, JSON.stringify(emulator.snapshot(), null, 2));
  await emulator.stop();
  process.exit(0);
};
process.on("SIGINT", () => void shutdown());
process.on("SIGTERM", () => void shutdown());
