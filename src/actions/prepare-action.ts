import { promises as fs } from "node:fs";
import path from "node:path";
import { ActionCache, type CacheLease } from "./action-cache.js";
import { readActionMetadata } from "./action-metadata.js";
import {
  basicAuthorization,
  isFullSha,
  lsRemote,
  pickRef,
  splitCredentials,
  type GitRemote,
  type RemoteRef,
} from "./git.js";
import { checkAccess, fetchIntoCache } from "./fetch-action.js";
import { describeReference, parseUses } from "./parse-uses.js";
import {
  ActionError,
  type DockerActionReference,
  type LocalActionReference,
  type PrepareActionOptions,
  type PreparedAction,
  type RemoteActionReference,
} from "./types.js";

const noRelease = async (): Promise<void> => undefined;

/**
 * Resolves a step's `uses:` to an action directory with parsed metadata.
 * Remote actions are fetched with git into `opts.cacheDir` (or found there).
 * Throws ActionError with a message fit for the step's log.
 */
export async function prepareAction(uses: string, opts: PrepareActionOptions): Promise<PreparedAction> {
  const reference = parseUses(uses);
  switch (reference.kind) {
    case "docker":
      return prepareDocker(reference, opts);
    case "local":
      return prepareLocal(reference, opts);
    case "remote":
      if (opts.signal?.aborted) throw new ActionError("aborted", "action preparation was cancelled");
      try {
        return await prepareRemote(reference, opts);
      } catch (err) {
        // A git run shared with another job that was cancelled: do it again for this one.
        if (err instanceof ActionError && err.code === "aborted" && !opts.signal?.aborted) return prepareRemote(reference, opts);
        throw err;
      }
    default: {
      const never: never = reference;
      throw new ActionError("bad-reference", `unknown action reference ${JSON.stringify(never)}`);
    }
  }
}

function prepareDocker(reference: DockerActionReference, opts: PrepareActionOptions): PreparedAction {
  return {
    dir: opts.workspace,
    metadata: { name: reference.uses, inputs: {}, outputs: {}, runs: { using: "docker", image: reference.uses } },
    reference,
    isLocal: false,
    path: "",
    release: noRelease,
  };
}

async function prepareLocal(reference: LocalActionReference, opts: PrepareActionOptions): Promise<PreparedAction> {
  const dir = path.resolve(opts.workspace, reference.path);
  const metadata = await readActionMetadata(dir, reference.path === "" ? "./" : `./${reference.path}`, opts.workspace);
  return { dir, metadata, reference, isLocal: true, path: reference.path, release: noRelease };
}

// Fetches of the same entry by concurrent jobs of this process share one git run.
const inFlight = new Map<string, Promise<CacheLease>>();
// Likewise ref resolutions still in progress (a finished one is never reused: branches move).
const resolving = new Map<string, Promise<RemoteRef[]>>();

function sharedLsRemote(remote: GitRemote, ref: string, signal?: AbortSignal): Promise<RemoteRef[]> {
  const key = `${remote.url}\0${ref}\0${remote.authorization ?? ""}\0${remote.insecure ? 1 : 0}`;
  let pending = resolving.get(key);
  if (!pending) {
    pending = lsRemote(remote, ref, signal);
    resolving.set(key, pending);
    const forget = () => resolving.delete(key);
    pending.then(forget, forget);
  }
  return untilAborted(pending, signal);
}

/** `promise`, or an "aborted" rejection as soon as `signal` aborts (for waits on work shared with other jobs). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new ActionError("aborted", "action preparation was cancelled"));
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(e);
      },
    );
  });
}

async function prepareRemote(reference: RemoteActionReference, opts: PrepareActionOptions): Promise<PreparedAction> {
  const log = opts.log ?? (() => undefined);
  const base = reference.baseUrl ?? opts.defaultActionsUrl;
  if (base === undefined || base.trim() === "") {
    throw new ActionError(
      "no-default-url",
      `cannot resolve '${reference.uses}': the task has no default actions URL (forgejo_default_actions_url)`,
    );
  }
  const split = splitCredentials(base.trim().replace(/\/+$/, ""));
  const url = `${split.url}/${reference.owner}/${reference.repo}`;
  const remote: GitRemote = { url, insecure: opts.insecure ?? false };
  if (split.authorization) remote.authorization = split.authorization;
  else if (opts.token && tokenAllowed(url, opts.serverUrl)) remote.authorization = basicAuthorization("x-access-token", opts.token);
  const secrets = opts.token ? [opts.token] : [];
  const described = describeReference(reference);

  const cache = new ActionCache(opts.cacheDir);
  await cache.init();

  const ref = reference.ref;
  let commit: string;
  let refName: string | undefined; // what to fetch if the server refuses a bare commit
  let accessChecked: boolean | "unreachable" = false; // true: the remote answered this job's credentials
  if (isFullSha(ref)) {
    commit = ref.toLowerCase();
  } else if (opts.offline) {
    const cached = await cache.lookupRef(url, ref);
    if (cached === undefined) {
      throw new ActionError(
        "not-cached",
        `action ${described} is not in the action cache and the cache is offline (ref '${ref}' of ${url} was never fetched)`,
      );
    }
    commit = cached;
  } else {
    log(`Resolving ${described} from ${url}`);
    try {
      const picked = pickRef(ref, await sharedLsRemote(remote, ref, opts.signal));
      if (!picked) {
        const hint = /^[0-9a-f]{7,39}$/i.test(ref) ? " (a short commit SHA cannot be resolved; use the full 40-character SHA)" : "";
        throw new ActionError("resolve-failed", `cannot find ref '${ref}' (tag or branch) in ${url}${hint}`);
      }
      commit = picked.commit;
      refName = picked.name;
      accessChecked = true;
    } catch (err) {
      if (!(err instanceof ActionError) || err.code !== "fetch-failed") throw err;
      // The remote is unreachable: fall back to what this ref last resolved to, if cached.
      const cached = await cache.lookupRef(url, ref);
      if (cached === undefined || !(await fs.stat(path.join(cache.entriesDir, cache.entryName(url, cached))).catch(() => undefined))) {
        throw err;
      }
      log(`Warning: cannot reach ${url} (${err.message}); using the cached commit ${cached} of ${described}`);
      commit = cached;
      accessChecked = "unreachable";
    }
  }

  let lease = await cache.acquire(url, commit);
  let fetchedHere = false;
  if (lease) {
    log(`Using cached ${described} (commit ${commit})`);
  } else if (opts.offline) {
    throw new ActionError("not-cached", `action ${described} (commit ${commit}) is not in the action cache and the cache is offline`);
  } else {
    const key = cache.entryName(url, commit) + "\0" + cache.root;
    let pending = inFlight.get(key);
    if (!pending) {
      pending = fetchIntoCache(cache, remote, commit, refName, { log, described, secrets, signal: opts.signal });
      inFlight.set(key, pending);
      const forget = () => inFlight.delete(key);
      pending.then(forget, forget);
      lease = await pending;
      fetchedHere = true;
    } else {
      // Share the other job's fetch, then take a lease of our own.
      await untilAborted(pending, opts.signal);
      lease = await cache.acquire(url, commit);
      if (!lease) throw new ActionError("fetch-failed", `action ${described} vanished from the cache right after it was fetched`);
    }
  }
  if (lease.authenticated && !opts.offline && !fetchedHere && accessChecked !== true) {
    // Fetched earlier with someone's credentials: this job must be allowed to read the repository too.
    const denied =
      accessChecked === "unreachable"
        ? new ActionError("fetch-failed", `cannot reach ${url} to check this job's access to ${described}`)
        : await checkAccess(remote, opts.signal, secrets).catch(async (err: unknown) => {
            await lease!.release();
            throw err;
          });
    if (denied) {
      await lease.release();
      throw denied;
    }
  }
  // The entry may hold a different commit than first resolved if a branch moved mid-fetch.
  commit = path.basename(lease.dir).replace(/^[0-9a-f]+-/, "");

  try {
    if (!isFullSha(ref)) await cache.recordRef(url, ref, commit);
    if (opts.maxCacheBytes !== undefined) {
      const evicted = await cache.evict(opts.maxCacheBytes);
      if (evicted.length > 0) log(`Evicted ${evicted.length} action cache entr${evicted.length === 1 ? "y" : "ies"} (limit ${opts.maxCacheBytes} bytes)`);
    }
    const dir = path.join(lease.dir, reference.path);
    const metadata = await readActionMetadata(dir, `${reference.owner}/${reference.repo}${reference.path ? `/${reference.path}` : ""}`, lease.dir);
    const prepared: PreparedAction = {
      dir,
      metadata,
      reference,
      isLocal: false,
      repository: `${reference.owner}/${reference.repo}`,
      ref,
      commit,
      path: reference.path,
      url,
      release: lease.release,
    };
    return prepared;
  } catch (err) {
    await lease.release();
    throw err;
  }
}

function tokenAllowed(url: string, serverUrl: string | undefined): boolean {
  if (serverUrl === undefined || serverUrl === "") return true;
  try {
    return new URL(url).origin === new URL(serverUrl).origin;
  } catch {
    return false;
  }
}

/**
 * Evicts least recently used cache entries not in use until the cache holds
 * at most `maxBytes` (e.g. at daemon start). Returns how many were removed.
 */
export async function pruneActionCache(cacheDir: string, maxBytes: number): Promise<number> {
  const cache = new ActionCache(cacheDir);
  await cache.init();
  return (await cache.evict(maxBytes)).length;
}
