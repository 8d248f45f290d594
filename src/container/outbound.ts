// The host's outbound address: what containers on a bridge network use to
// reach the runner (the cache proxy), as forgejo-runner does when cache.host
// is empty. A UDP "connect" sends nothing; it only asks for the route.

import { createSocket } from "node:dgram";
import { networkInterfaces } from "node:os";

export async function outboundAddress(): Promise<string | undefined> {
  const viaRoute = await new Promise<string | undefined>((resolve) => {
    const s = createSocket("udp4");
    s.once("error", () => {
      s.close();
      resolve(undefined);
    });
    s.connect(53, "198.51.100.1", () => {
      const a = s.address().address;
      s.close();
      resolve(a && a !== "0.0.0.0" ? a : undefined);
    });
  });
  if (viaRoute) return viaRoute;
  for (const list of Object.values(networkInterfaces())) {
    for (const i of list ?? []) if (i.family === "IPv4" && !i.internal) return i.address;
  }
  return undefined;
}
