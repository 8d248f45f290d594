import { execFile } from "node:child_process";

/**
 * sd_notify(3) for the daemon. Node cannot send AF_UNIX datagrams, so the
 * message goes through `systemd-notify`, which only writes one datagram to
 * $NOTIFY_SOCKET (the NixOS unit sets NotifyAccess=all for that reason).
 */
export class SdNotifier {
  private watchdog?: NodeJS.Timeout;

  constructor(
    private readonly env: NodeJS.ProcessEnv = process.env,
    private readonly program = "systemd-notify",
  ) {}

  get enabled(): boolean {
    return !!this.env.NOTIFY_SOCKET;
  }

  /** Sends `KEY=VALUE` assignments; resolves false when disabled or failing (never throws). */
  send(...assignments: string[]): Promise<boolean> {
    if (!this.enabled || assignments.length === 0) return Promise.resolve(false);
    return new Promise((resolve) => {
      execFile(this.program, assignments, { env: this.env, timeout: 5000 }, (err) =>
        resolve(!err),
      );
    });
  }

  ready(status?: string): Promise<boolean> {
    return this.send("READY=1", ...(status ? [`STATUS=${status}`] : []));
  }

  stopping(status?: string): Promise<boolean> {
    this.stopWatchdog();
    return this.send("STOPPING=1", ...(status ? [`STATUS=${status}`] : []));
  }

  status(text: string): Promise<boolean> {
    return this.send(`STATUS=${text}`);
  }

  /** Pings WATCHDOG=1 at half of WATCHDOG_USEC while `healthy()` says so. */
  startWatchdog(healthy: () => boolean): void {
    const usec = Number(this.env.WATCHDOG_USEC);
    if (!this.enabled || !Number.isFinite(usec) || usec <= 0) return;
    const pid = this.env.WATCHDOG_PID;
    if (pid && Number(pid) !== process.pid) return;
    this.watchdog = setInterval(() => {
      if (healthy()) void this.send("WATCHDOG=1");
    }, Math.max(100, usec / 2000));
    this.watchdog.unref();
  }

  stopWatchdog(): void {
    if (this.watchdog) clearInterval(this.watchdog);
    this.watchdog = undefined;
  }
}
