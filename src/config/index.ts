// Front door of the configuration layer.
export { loadConfig, parseConfig, tuneForAddress, minFetchIntervalFor, normalizeUuid, isHttpUrl } from "./load-config.js";
export type { LoadOptions } from "./load-config.js";
export { defaultConfig, homeDir } from "./defaults.js";
export { ConfigError } from "./errors.js";
export {
  readRegistration, writeRegistration, parseRegistration, serializeRegistration, sameRegistration,
  uuidFromSecret, checkRunnerSecret, RegistrationError, REGISTRATION_WARNING,
} from "./registration.js";
export {
  parseLabel, labelNames, validateLabels, formatLabel, pickPlatform, commaSplit, LabelError,
  DEFAULT_DOCKER_ARG, DEFAULT_LXC_ARG,
} from "./labels.js";
export type { Label, LabelSchema } from "./labels.js";
export { resolveConnections } from "./connections.js";
export { resolveSecretUrl } from "./secret-url.js";
export { parseGoDuration, parseSize, formatDuration, formatSize } from "./units.js";
export { parseDotenv } from "./dotenv.js";
export { CONFIG_EXAMPLE } from "./config-example.js";
export type * from "./types.js";
