// Front door of the protocol layer. Only src/daemon (and the CLI verbs that
// talk to Forgejo) import from here.
export {
  createForgejoClient, isUnregisteredRunner, isUnimplemented, isTransient, clientTimeoutFromEnv, actionsApiUrl,
  Code, ConnectError,
} from "./client.js";
export type { ForgejoClient, ForgejoClientOptions, CallOptions, FetchOptions, Codec, RegisterInit, UpdateTaskInit, UpdateLogInit } from "./client.js";
export * from "./gen/runner/v1/messages_pb.js";
export type { PingResponse } from "./gen/ping/v1/messages_pb.js";
