// Removal of what the runner created on the container daemon, found by label:
// at job end (one task) and at start-up (everything of this runner, after a crash).

import { LABEL_RUNNER, LABEL_TASK, messageOf, statusOf, type Engine } from "./engine-api.js";

export interface Removed {
  containers: number;
  networks: number;
  volumes: number;
}

/** Removes containers (with their anonymous volumes), then networks and volumes carrying all `labels`. */
export async function removeLabelled(engine: Engine, labels: Record<string, string>): Promise<Removed> {
  const filters = JSON.stringify({ label: Object.entries(labels).map(([k, v]) => `${k}=${v}`) });
  const removed: Removed = { containers: 0, networks: 0, volumes: 0 };
  const errors: string[] = [];
  const containers = await engine.listContainers({ all: true, filters });
  await Promise.all(
    containers.map(async (c) => {
      try {
        // A kill first: an entrypoint that ignores SIGTERM would hold a plain remove for its stop timeout.
        if (c.State === "running") await engine.getContainer(c.Id).kill({ signal: "SIGKILL" }).catch(() => {});
        await engine.getContainer(c.Id).remove({ force: true, v: true });
        removed.containers++;
      } catch (err) {
        if (statusOf(err) !== 404) errors.push(`container ${c.Id.slice(0, 12)}: ${messageOf(err)}`);
      }
    }),
  );
  for (const n of await engine.listNetworks({ filters })) {
    try {
      await engine.getNetwork(n.Id).remove();
      removed.networks++;
    } catch (err) {
      if (statusOf(err) !== 404) errors.push(`network ${n.Name}: ${messageOf(err)}`);
    }
  }
  const vols = (await engine.listVolumes({ filters })).Volumes ?? [];
  for (const v of vols) {
    try {
      await engine.getVolume(v.Name).remove({ force: true });
      removed.volumes++;
    } catch (err) {
      if (statusOf(err) !== 404) errors.push(`volume ${v.Name}: ${messageOf(err)}`);
    }
  }
  if (errors.length > 0) throw new Error(`could not remove: ${errors.join("; ")}`);
  return removed;
}

/** Everything a task left (its containers, network, volumes). */
export function removeTask(engine: Engine, runnerId: string, task: string): Promise<Removed> {
  return removeLabelled(engine, { [LABEL_RUNNER]: runnerId, [LABEL_TASK]: task });
}

/** Start-up sweep: everything this runner left behind (a killed daemon's jobs). */
export function sweepRunner(engine: Engine, runnerId: string): Promise<Removed> {
  return removeLabelled(engine, { [LABEL_RUNNER]: runnerId });
}
