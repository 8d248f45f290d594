/** Shared helpers for the emulator's own tests: real Connect clients against a started emulator. */
import { type Client, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { PingService } from "../../src/protocol/gen/ping/v1/services_pb.js";
import { RunnerService } from "../../src/protocol/gen/runner/v1/services_pb.js";
import type { Emulator } from "./index.js";

export type RunnerClient = Client<typeof RunnerService>;

export interface Creds {
  uuid: string;
  token: string;
}

export function runnerClient(emu: Emulator, opts: { json?: boolean; creds?: Creds; requestKey?: string } = {}): RunnerClient {
  const transport = createConnectTransport({
    baseUrl: `${emu.url}api/actions`,
    httpVersion: "1.1",
    useBinaryFormat: !opts.json,
    interceptors: [
      (next) => async (req) => {
        if (opts.creds) {
          req.header.set("x-runner-uuid", opts.creds.uuid);
          req.header.set("x-runner-token", opts.creds.token);
        }
        if (opts.requestKey) req.header.set("x-runner-request-key", opts.requestKey);
        return next(req);
      },
    ],
  });
  return createClient(RunnerService, transport);
}

export function pingClient(emu: Emulator, json = false): Client<typeof PingService> {
  return createClient(
    PingService,
    createConnectTransport({ baseUrl: `${emu.url}api/actions`, httpVersion: "1.1", useBinaryFormat: !json }),
  );
}

/** Registers a runner with a fresh instance (or scoped) token and returns its credentials. */
export async function registerRunner(
  emu: Emulator,
  opts: { labels?: string[]; ephemeral?: boolean; owner?: string; repo?: string; name?: string; json?: boolean } = {},
): Promise<Creds & { id: bigint }> {
  const token = emu.createRegistrationToken({ owner: opts.owner, repo: opts.repo });
  const res = await runnerClient(emu, { json: opts.json }).register({
    name: opts.name ?? "test-runner",
    token,
    version: "0.1.0",
    labels: opts.labels ?? ["native"],
    ephemeral: opts.ephemeral ?? false,
  });
  return { uuid: res.runner!.uuid, token: res.runner!.token, id: res.runner!.id };
}

export const SIMPLE_WORKFLOW = (runsOn = "native", steps = 2) => `name: ci
on: push
jobs:
  build:
    runs-on: ${runsOn}
    steps:
${Array.from({ length: steps }, (_, i) => `      - name: step ${i}\n        run: echo ${i}\n`).join("")}`;

export async function rawPost(
  emu: Emulator,
  rpc: string,
  body: Uint8Array | string,
  headers: Record<string, string>,
): Promise<Response> {
  return fetch(`${emu.url}api/actions/${rpc}`, { method: "POST", body, headers });
}
