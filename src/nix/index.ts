export { GcRootManager, isDefaultBranchRef, segment } from "./gcroots.js";
export type { RetentionPolicy, HarvestInput, HarvestResult, GcRootManagerOptions } from "./gcroots.js";
export { withJobNix, DECLARED_ROOTS_ENV } from "./job-nix.js";
export type { JobNixInfo, JobNixOptions } from "./job-nix.js";
export { isTrustedUser, closureBytes, addRoot } from "./nix-cli.js";
export { toStorePath } from "./store-paths.js";
export { createNixIntegration, defaultBranchOf, SWEEP_INTERVAL_MS } from "./runner-integration.js";
export type { NixIntegration, NixIntegrationOptions, NixJobInfo, NixUsageListener } from "./runner-integration.js";
