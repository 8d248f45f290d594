// Front door of action resolution: parse `uses:`, fetch and cache remote
// actions, read action.yml. The engine runs what prepareAction returns.
export * from "./types.js";
export { parseUses, describeReference } from "./parse-uses.js";
export { readActionMetadata, parseActionMetadata } from "./action-metadata.js";
export { prepareAction, pruneActionCache } from "./prepare-action.js";
export { basicAuthorization, runGit, type GitRemote } from "./git.js";
