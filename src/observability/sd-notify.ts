import { execFile } from "node:child_process";
import { writeSync } from "node:fs";

/**
 * sd_notify(3) for the daemon. Node cannot open AF_UNIX datagram sockets, so
 * nix/sd-notify-exec.pl connects one to $NOTIFY_SOCKET and execs the daemon
 * with it open as $NOTIFY_FD: each write is one datagram sent by the daemon's
 * own pid, which NotifyAccess=main accepts. Without that descriptor the
 * message goes through `systemd-notify`, a child process that only
 * NotifyAccess=all accepts.
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
    const fd = Number(this.env.NOTIFY_FD);
    if (this.env.NOTIFY_FD && Number.isInteger(fd) && fd > 2) {
      try {
        writeSync(fd, assignments.join("\n"));
        return Promise.resolve(true);
      } catch {
        return Promise.resolve(false);
      }
    }
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
