// Types shared by action resolution (src/actions/) and the engine that runs
// actions. `prepareAction(uses, opts)` turns a step's `uses:` into a
// PreparedAction: a directory on disk plus its parsed metadata.

import type { StepModel, WorkflowError } from "../workflow/model.js";

// ---------------------------------------------------------------------------
// `uses:` references

/** `uses: ./path/to/action` — resolved against the workspace. */
export interface LocalActionReference {
  kind: "local";
  /** The `uses` text as written. */
  uses: string;
  /** Path relative to the workspace, normalised, without a leading `./` ("" for `./`). */
  path: string;
}

/**
 * `uses: owner/repo[/subdir]@ref` (baseUrl undefined: the default actions URL)
 * or `uses: https://host[/prefix]/owner/repo[/subdir]@ref` (baseUrl set).
 */
export interface RemoteActionReference {
  kind: "remote";
  uses: string;
  /** Origin (plus any path prefix) of a full-URL reference; undefined means the default actions URL. */
  baseUrl?: string;
  owner: string;
  repo: string;
  /** Sub-directory inside the repository holding action.yml; "" for the root. */
  path: string;
  ref: string;
}

/** `uses: docker://image[:tag]`. */
export interface DockerActionReference {
  kind: "docker";
  uses: string;
  /** Image without the `docker://` prefix. */
  image: string;
}

export type ActionReference = LocalActionReference | RemoteActionReference | DockerActionReference;

// ---------------------------------------------------------------------------
// action.yml metadata

export interface ActionInput {
  description?: string;
  required?: boolean;
  /** Raw default; may contain `${{ }}` expressions (github, runner, matrix, ... contexts). */
  default?: string;
  deprecationMessage?: string;
}

export interface ActionOutput {
  description?: string;
  /** Composite actions: raw expression text mapping the output from inner steps. */
  value?: string;
}

export type NodeVersion = "node12" | "node16" | "node20" | "node24";

export interface NodeRuns {
  using: NodeVersion;
  /** Paths relative to the action directory. */
  main: string;
  pre?: string;
  /** Raw condition text; the engine applies GitHub's default (`always()`) when absent. */
  preIf?: string;
  post?: string;
  postIf?: string;
  env?: Record<string, string>;
}

export interface CompositeRuns {
  using: "composite";
  /** Steps with raw (unevaluated) values; `index` is the position inside the composite. */
  steps: StepModel[];
}

export interface DockerRuns {
  using: "docker";
  /** `Dockerfile` (or a path to one, relative to the action dir) or `docker://image`. */
  image: string;
  entrypoint?: string;
  preEntrypoint?: string;
  preIf?: string;
  postEntrypoint?: string;
  postIf?: string;
  args?: string[];
  env?: Record<string, string>;
}

/** Forgejo's extensions: `sh` runs `main` with sh, `go` builds and runs it. */
export interface ScriptRuns {
  using: "sh" | "go";
  main: string;
  pre?: string;
  preIf?: string;
  post?: string;
  postIf?: string;
  env?: Record<string, string>;
}

export type ActionRuns = NodeRuns | CompositeRuns | DockerRuns | ScriptRuns;

export interface ActionMetadata {
  name: string;
  description?: string;
  author?: string;
  inputs: Record<string, ActionInput>;
  outputs: Record<string, ActionOutput>;
  runs: ActionRuns;
  /** Absolute path of the file the metadata came from (action.yml, action.yaml or Dockerfile); undefined for docker://. */
  file?: string;
}

// ---------------------------------------------------------------------------
// Preparation

export interface PreparedAction {
  /** Absolute directory of the action (the subdir inside the repository for remote actions). */
  dir: string;
  metadata: ActionMetadata;
  reference: ActionReference;
  /** True for `./path` actions (no pre step on GitHub for those). */
  isLocal: boolean;
  /** "owner/repo" for remote actions (GITHUB_ACTION_REPOSITORY). */
  repository?: string;
  /** The ref as written after `@` (GITHUB_ACTION_REF). */
  ref?: string;
  /** Resolved 40-hex commit for remote actions. */
  commit?: string;
  /** Sub-directory inside the repository (remote) or workspace (local); "" for the root. */
  path: string;
  /** Clone URL of a remote action, without credentials. */
  url?: string;
  /**
   * Ends this use of a cached remote action so that size-bounded eviction may
   * remove it again. Idempotent; a no-op for local/docker actions. Call it when
   * the job ends (after post steps). A lease left by a dead process is ignored.
   */
  release(): Promise<void>;
}

export interface PrepareActionOptions {
  /** Absolute workspace directory; `./path` references resolve against it. */
  workspace: string;
  /** Base URL for `owner/repo@ref` (the task's forgejo_default_actions_url). */
  defaultActionsUrl?: string;
  /** Directory holding the fetched-action cache (shared by jobs and processes). */
  cacheDir: string;
  /** Use only the cache: refs come from the cache's own index, no network, no access checks. */
  offline: boolean;
  /**
   * Token for authenticated clones; sent as an HTTP header, never put in a URL.
   * A cache entry fetched with credentials is reused online only after the
   * remote accepts this job's credentials (one ls-remote), so a job cannot read
   * a private action another job fetched.
   */
  token?: string;
  /**
   * Origin (or URL) of the Forgejo instance the token belongs to. When set, the
   * token is sent only to clone URLs on this origin; when absent, to every clone.
   */
  serverUrl?: string;
  /** Skip TLS verification for clones (runner.insecure). */
  insecure?: boolean;
  signal?: AbortSignal;
  /** Progress lines; never contain credentials. */
  log?: (line: string) => void;
  /** Bound on the cache's size; least recently used entries not in use are evicted. */
  maxCacheBytes?: number;
}

export type ActionErrorCode =
  | "bad-reference" // `uses` text not understood
  | "no-default-url" // owner/repo@ref without a default actions URL
  | "not-found" // no action.yml / action.yaml / Dockerfile
  | "invalid-metadata" // action.yml does not parse or validate
  | "resolve-failed" // the ref matches nothing on the remote
  | "fetch-failed" // git failed
  | "not-cached" // offline and not in the cache
  | "aborted";

export class ActionError extends Error {
  override readonly name = "ActionError";
  constructor(
    readonly code: ActionErrorCode,
    message: string,
    /** Positioned problems in action.yml (invalid-metadata). */
    readonly errors: WorkflowError[] = [],
  ) {
    super(message);
  }
}
