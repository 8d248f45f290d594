/** Public types of the Forgejo emulator (control API and snapshots). */

export type ResultName = "success" | "failure" | "cancelled" | "skipped";

export interface StartOptions {
  /** TCP port; 0 or absent = any free port. */
  port?: number;
  /** Interface to bind; default 127.0.0.1. */
  host?: string;
  /** Restore state from an earlier `snapshot()`. */
  state?: EmulatorSnapshot;
  /**
   * Answer every Connect error the way Forgejo did before 2025-03: code `unknown`, HTTP 500,
   * message `rpc error: code = Unauthenticated desc = unregistered runner`.
   */
  legacyErrors?: boolean;
  /** DEFAULT_ACTIONS_URL as resolved by the server; default https://data.forgejo.org. */
  defaultActionsUrl?: string;
  /**
   * Which default-actions-URL / runtime-token context keys to send:
   * "both" (gitea_ + forgejo_, newest servers, default), "gitea" (older servers), "none".
   */
  actionsUrlKeys?: "both" | "gitea" | "none";
  /** `forgejo_server_version` context value. */
  serverVersion?: string;
  /** Responses at least this large are gzip-compressed when the client accepts gzip; default 1024. */
  compressMinBytes?: number;
  /**
   * Zombie detection: a running task whose last UpdateTask is older than this is stopped as
   * failure and its log archived. Off when absent (Forgejo: 10 min).
   */
  zombieTimeoutMs?: number;
  /** HS256 secret for runtime tokens; random when absent (kept in snapshots). */
  jwtSecret?: string;
  /**
   * Serve https: `true` uses the built-in self-signed certificate for localhost/127.0.0.1
   * (exported as TEST_TLS_CERT), or give a PEM certificate and key.
   */
  tls?: boolean | { cert: string; key: string };
  /** Turn off newer server features to emulate older Forgejo versions (all on by default). */
  features?: ServerFeatures;
  /**
   * The task context's `job`: the job's key in the workflow (Forgejo today, default), or the
   * server's numeric job id, as Gitea 1.22 (the real server of test/e2e-gitea) and Forgejo
   * servers of 2024 send it.
   */
  contextJob?: "key" | "id";
}

export interface ServerFeatures {
  /** Declare RPC (off: answered `unimplemented`, as very old servers). */
  declare?: boolean;
  /** FetchSingleTask RPC (off: plain 404, as servers before 2026-03). */
  fetchSingleTask?: boolean;
  /** FetchTask `task_capacity` (off: ignored, one task per call, as servers before 2025-12). */
  taskCapacity?: boolean;
  /** `x-runner-request-key` recovery (off: ignored, as servers before 2026-02). */
  requestKey?: boolean;
}

export interface NeedInput {
  result: ResultName;
  outputs?: Record<string, string>;
}

export interface EnqueueOptions {
  /** Workflow file text (YAML). Required unless `payload` is given. */
  workflow?: string;
  /** A payload sent verbatim instead of one built from `workflow` (e.g. a malformed one). */
  payload?: string;
  /** Overrides the labels the job runs on (needed with a payload that cannot be parsed). */
  runsOn?: string[];
  /** Job id inside the workflow; default: the first job. */
  job?: string;
  /** `owner/name`; default `alice/webapp`. */
  repo?: string;
  /** Event name; default `push`. */
  event?: string;
  /** Webhook payload; a push payload is synthesised when absent. */
  eventPayload?: Record<string, unknown>;
  /** Keys merged over the generated task context last; a `null` value deletes the key. */
  context?: Record<string, unknown>;
  secrets?: Record<string, string>;
  vars?: Record<string, string>;
  needs?: Record<string, NeedInput>;
  /** One matrix combination; absent with a matrix job = every combination is enqueued. */
  matrix?: Record<string, unknown>;
  /** Workflow file name (context.workflow); default `ci.yml`. */
  workflowFile?: string;
  /** Full git ref; default from the event payload or `refs/heads/main`. */
  ref?: string;
  /** Commit SHA; default from the event payload or random. */
  sha?: string;
  /** Trigger user; default `alice`. */
  actor?: string;
  /** Run priority (higher is picked first); default 0. */
  priority?: number;
}

export type EnqueueRunOptions = Omit<EnqueueOptions, "job" | "matrix" | "needs" | "payload" | "runsOn"> & {
  workflow: string;
};

export interface EnqueueResult {
  jobId: number;
  /** All jobs created (several when a matrix was expanded). */
  jobIds: number[];
  runId: number;
}

export interface StepView {
  index: number;
  name: string;
  status: "waiting" | "running" | ResultName;
  result?: ResultName;
  logIndex: number;
  logLength: number;
  startedAt?: string;
  stoppedAt?: string;
}

export interface TaskView {
  taskId: number;
  jobId: number;
  runnerId: number;
  status: "running" | ResultName;
  result?: ResultName;
  /** Current task token (changes on request-key recovery). */
  token: string;
  startedAt?: string;
  stoppedAt?: string;
  steps: StepView[];
  outputs: Record<string, string>;
  /** Log row contents, in order. */
  logRows: string[];
  /** RFC 3339 time of each row as sent. */
  logTimes: string[];
  logArchived: boolean;
  /** How many times the task was handed out (1 + request-key recoveries). */
  deliveries: number;
}

export interface JobView {
  jobId: number;
  runId: number;
  jobKey: string;
  name: string;
  handle: string;
  repo: string;
  runsOn: string[];
  /** 1-based; a rerun adds one. */
  attempt: number;
  /** `blocked`: part of a whole run, waiting for the jobs it needs. */
  status: "blocked" | "waiting" | "running" | "done";
  result?: ResultName;
  taskId?: number;
  /** The single-job payload YAML handed to runners. */
  payload: string;
  /** Fields of the current task (empty when none). */
  steps: StepView[];
  outputs: Record<string, string>;
  logRows: string[];
  logArchived: boolean;
  task?: TaskView;
  /** Server clock, epoch ms; 0 when it has not happened. */
  enqueuedAt: number;
  pickedAt: number;
  doneAt: number;
}

export interface RunnerView {
  id: number;
  uuid: string;
  name: string;
  version: string;
  labels: string[];
  ephemeral: boolean;
  owner?: string;
  repo?: string;
  deleted: boolean;
  lastOnline?: string;
  lastActive?: string;
  /** As Forgejo shows it: offline after 1 min without any call, idle after 10 s without UpdateTask/UpdateLog. */
  status: "offline" | "idle" | "active";
}

export interface FaultRule {
  /** RPC name (`FetchTask`, `runner.v1.RunnerService/FetchTask`, `Ping`…); absent = every RPC. */
  rpc?: string;
  kind: "drop" | "drop-response" | "http5xx" | "latency" | "reset" | "oversize" | "error";
  /** Chance of applying to a matching request; default 1. */
  probability?: number;
  /** Number of times the rule applies; absent = unlimited. */
  count?: number;
  /** For `latency`. */
  latencyMs?: number;
  /** For `error`: the Connect code answered (`not_found`, `permission_denied`…); default `internal`. */
  code?: string;
  /** For `error`: the message; default "injected". */
  message?: string;
  /** For `http5xx`; default 503. For `error`: the HTTP status; default the code's. */
  status?: number;
  /** For `oversize`: size of the answer's task payload; default 300 MiB. */
  bytes?: number;
}

export interface StoredLogRow {
  time: string;
  content: string;
}

export interface StoredStep {
  name: string;
  result: number;
  logIndex: number;
  logLength: number;
  started: number;
  stopped: number;
}

export interface StoredRegistrationToken {
  token: string;
  owner?: string;
  repo?: string;
  active: boolean;
}

export interface StoredRunner {
  id: number;
  uuid: string;
  tokenSalt: string;
  tokenHash: string;
  name: string;
  version: string;
  labels: string[];
  ephemeral: boolean;
  owner?: string;
  repo?: string;
  lastOnline: number;
  lastActive: number;
  deleted: boolean;
}

export interface StoredJob {
  id: number;
  runId: number;
  runNumber: number;
  attempt: number;
  jobKey: string;
  name: string;
  handle: string;
  repo: string;
  payload: string;
  runsOn: string[];
  stepNames: string[];
  /** 5 waiting, 6 running, 1-4 done with that result. */
  status: number;
  taskId: number;
  priority: number;
  updated: number;
  event: string;
  eventPayload: Record<string, unknown>;
  contextOverrides: Record<string, unknown>;
  workflowFile: string;
  ref: string;
  sha: string;
  actor: string;
  secrets: Record<string, string>;
  vars: Record<string, string>;
  needs: Record<string, NeedInput>;
  /** Job ids this job needs (whole runs: it stays blocked until they are done). */
  needsJobs?: string[];
  ifCondition?: string;
  /** Epoch ms: enqueued, handed to a runner (latest task), finished. 0 = not yet. */
  enqueuedAt: number;
  pickedAt: number;
  doneAt: number;
}

export interface StoredTask {
  id: number;
  jobId: number;
  runnerId: number;
  tokenHash: string;
  /** Plain token, kept only so tests can read it back. */
  token: string;
  requestKey: string;
  /** 6 running, 1-4 done. */
  status: number;
  started: number;
  stopped: number;
  updated: number;
  steps: StoredStep[];
  outputs: Record<string, string>;
  logRows: StoredLogRow[];
  logArchived: boolean;
  deliveries: number;
}

export interface EmulatorSnapshot {
  version: 1;
  jwtSecret: string;
  nextIds: { runner: number; job: number; task: number; run: number };
  runNumbers: Record<string, number>;
  /** Ids of users/orgs and repositories by name (the emulator invents them). */
  userIds: Record<string, number>;
  repoIds: Record<string, number>;
  tasksVersions: Record<string, number>;
  registrationTokens: StoredRegistrationToken[];
  runners: StoredRunner[];
  jobs: StoredJob[];
  tasks: StoredTask[];
  faults: FaultRule[];
}
