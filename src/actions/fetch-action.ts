// Shallow fetch of one commit into the action cache, and the access check
// for reusing an entry that was fetched with credentials.

import { promises as fs } from "node:fs";
import path from "node:path";
import type { ActionCache, CacheLease } from "./action-cache.js";
import { runGit, type GitRemote } from "./git.js";
import { ActionError } from "./types.js";

/**
 * Fetches `commit` (depth 1) from `remote` into a temp dir and publishes it
 * as a cache entry. `refName` is the ref it was resolved from, fetched instead
 * when the server refuses a bare commit; without one (a SHA reference) the
 * fallback is a full fetch.
 */
export async function fetchIntoCache(
  cache: ActionCache,
  remote: GitRemote,
  commit: string,
  refName: string | undefined,
  ctx: { log: (line: string) => void; described: string; secrets: string[]; signal?: AbortSignal },
): Promise<CacheLease> {
  ctx.log(`Fetching ${ctx.described} (commit ${commit}) from ${remote.url}`);
  const tmp = await cache.makeTempDir();
  const git = (args: string[]) => runGit(args, { cwd: tmp, remote, signal: ctx.signal, secrets: ctx.secrets });
  try {
    await git(["init", "-q"]);
    try {
      await git(["fetch", "-q", "--depth", "1", "--no-tags", "--", remote.url, commit]);
    } catch (err) {
      if (!(err instanceof ActionError) || err.code !== "fetch-failed") throw err;
      // Servers that refuse a commit in `want`: fetch the ref name, or everything for a bare SHA.
      if (refName !== undefined) await git(["fetch", "-q", "--depth", "1", "--no-tags", "--", remote.url, refName]);
      else {
        await git(["fetch", "-q", "--no-tags", "--", remote.url, "+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"]);
        const found = await git(["cat-file", "-e", `${commit}^{commit}`]).then(() => true, () => false);
        if (!found) throw new ActionError("resolve-failed", `commit ${commit} of ${ctx.described} does not exist in ${remote.url}`);
      }
    }
    const target = refName !== undefined ? "FETCH_HEAD" : commit;
    await git(["checkout", "-q", "--detach", target]);
    const head = (await git(["rev-parse", "HEAD"])).stdout.trim().toLowerCase();
    if (refName === undefined && head !== commit) {
      throw new ActionError("fetch-failed", `fetched ${head} from ${remote.url} but expected commit ${commit}`);
    }
    await fs.rm(path.join(tmp, ".git"), { recursive: true, force: true });
    // mkdtemp made it 0700 and the umask may be strict: jobs under other UIDs must read the action.
    await makeWorldReadable(tmp);
    return await cache.install(remote.url, head, tmp, remote.authorization !== undefined);
  } catch (err) {
    await fs.rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

/** Undefined when `remote` answers with the current credentials, else the error to fail with. */
export async function checkAccess(remote: GitRemote, signal: AbortSignal | undefined, secrets: string[]): Promise<ActionError | undefined> {
  try {
    await runGit(["ls-remote", "--", remote.url, "HEAD"], { remote, signal, secrets });
    return undefined;
  } catch (err) {
    if (err instanceof ActionError && err.code === "fetch-failed") {
      return new ActionError("fetch-failed", `no access to ${remote.url} with this job's credentials: ${err.message}`);
    }
    throw err;
  }
}

async function makeWorldReadable(dir: string): Promise<void> {
  const stack = [dir];
  while (stack.length > 0) {
    const d = stack.pop()!;
    await fs.chmod(d, ((await fs.stat(d)).mode & 0o7777) | 0o555);
    for (const ent of await fs.readdir(d, { withFileTypes: true })) {
      const p = path.join(d, ent.name);
      if (ent.isDirectory()) stack.push(p);
      else if (ent.isFile()) {
        const mode = (await fs.stat(p)).mode & 0o7777;
        await fs.chmod(p, mode | 0o444 | (mode & 0o100 ? 0o011 : 0));
      }
    }
  }
}
