// Which Forgejo instances the daemon talks to: the `.runner` file written by
// `register` / `create-runner-file`, or the v13 `server.connections` map of
// config.yaml. Never both, as forgejo-runner v13 refuses that too.

import { ConfigError } from "./errors.js";
import { parseLabel } from "./labels.js";
import { isHttpUrl, minFetchIntervalFor, normalizeUuid } from "./checks.js";
import type { ConnectionConfig, RegistrationFile, RunnerConfig } from "./types.js";

export function resolveConnections(cfg: RunnerConfig, registration?: RegistrationFile): ConnectionConfig[] {
  if (registration && cfg.server.connections.length > 0) {
    throw new ConfigError([
      `server connection conflict between ${cfg.runner.file} and config: only one of them can provide server connections ` +
        `(remove the .runner file, or remove server.connections)`,
    ], cfg.config_file);
  }
  if (!registration) return cfg.server.connections.map((c) => ({ ...c, labels: [...c.labels] }));

  const problems: string[] = [];
  const where = cfg.runner.file;
  if (!isHttpUrl(registration.address)) {
    problems.push(`address: ${JSON.stringify(registration.address)} is not an http(s) URL (expected the Forgejo URL the runner registered with)`);
  }
  const uuid = normalizeUuid(registration.uuid);
  if (!uuid) problems.push(`uuid: ${JSON.stringify(registration.uuid)} is not a uuid (expected the uuid given by Register)`);
  if (registration.token === "") problems.push(`token: "" is empty (expected the runner token given by Register)`);
  // Labels in config.yaml override those stored at registration, as in forgejo-runner.
  const labels = cfg.runner.labels.length > 0 ? cfg.runner.labels : registration.labels;
  if (cfg.runner.labels.length === 0) {
    registration.labels.forEach((l, i) => {
      try {
        parseLabel(l);
      } catch (err) {
        problems.push(`labels[${i}]: ${JSON.stringify(l)} is not a valid label: ${(err as Error).message}`);
      }
    });
  }
  if (problems.length > 0) {
    throw new ConfigError(problems.map((p) => `${where}: ${p}`), cfg.config_file);
  }
  return [{
    name: registration.name,
    url: registration.address,
    uuid: uuid!,
    token: registration.token,
    labels: [...labels],
    fetch_interval: minFetchIntervalFor(registration.address, cfg.runner.fetch_interval),
    trusted_repos: [...cfg.runner.trusted_repos],
    trusted_events: [...cfg.runner.trusted_events],
    cache_mode: "readwrite",
  }];
}
