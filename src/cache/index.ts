// Front door of the actions cache: the v1 artifactcache API, the per-job
// proxy and the standalone server.
export { startCacheService } from "./cache-service.js";
export type { CacheService, CacheServiceOptions, CacheJob, CacheJobHandle } from "./cache-service.js";
export type { CacheActivity } from "./cache-proxy.js";
export { startCacheServer } from "./cache-server.js";
export type { CacheServer, CacheServerOptions } from "./cache-server.js";
export { jobCacheScope, isForkPullRequest } from "./scope.js";
export type { JobCacheScope, JobScopeInput } from "./scope.js";
export { computeMac, verifyMac } from "./mac.js";
export type { CacheLog, CacheLogLevel } from "./log.js";
export { CacheStore, DEFAULT_EXPIRY } from "./cache-store.js";
export type { ExpiryRules, CacheStoreOptions, Entry as CacheEntry } from "./cache-store.js";
