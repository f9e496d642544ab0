/**
 * sd_notify for systemd's Type=notify: READY=1, STATUS=..., STOPPING=1.
 *
 * READY and STATUS go through the `systemd-notify` npm package, which spawns the systemd-notify
 * binary with --pid=<ours> (hence NotifyAccess=all in the unit). That package supports nothing
 * else, so STOPPING=1 is sent with the binary directly. Without NOTIFY_SOCKET (not under
 * systemd) every call is a no-op. A failed notification is logged, never fatal: the daemon's job
 * is backups, not talking to PID 1. STATUS updates are rate-limited (one child process each).
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import type { Logger } from '../log/logger.js';

type NotifyFn = (opts: { ready?: boolean; status?: string }) => Promise<unknown>;
const require = createRequire(import.meta.url);
const sdNotify = require('systemd-notify') as NotifyFn;

const STATUS_MIN_INTERVAL_MS = 1000;

export class SystemdNotifier {
  private lastStatus = '';
  private lastSent = 0;
  private pending: ReturnType<typeof setTimeout> | null = null;

  constructor(private readonly log: Logger) {}

  get enabled(): boolean {
    return !!process.env.NOTIFY_SOCKET;
  }

  async ready(status: string): Promise<void> {
    if (!this.enabled) return;
    this.lastStatus = status;
    this.lastSent = Date.now();
    await sdNotify({ ready: true, status }).catch((e: unknown) => this.warn('READY=1', e));
  }

  /** Keeps STATUS= current; bursts are folded into one update per second. */
  status(text: string): void {
    if (!this.enabled || text === this.lastStatus) return;
    this.lastStatus = text;
    const wait = this.lastSent + STATUS_MIN_INTERVAL_MS - Date.now();
    if (wait <= 0) return this.sendStatus();
    this.pending ??= setTimeout(() => {
      this.pending = null;
      this.sendStatus();
    }, wait);
    this.pending.unref();
  }

  private sendStatus(): void {
    this.lastSent = Date.now();
    void sdNotify({ status: this.lastStatus }).catch((e: unknown) => this.warn('STATUS', e));
  }

  async stopping(): Promise<void> {
    if (!this.enabled) return;
    if (this.pending) clearTimeout(this.pending);
    await new Promise<void>((resolve) => {
      const c = spawn('systemd-notify', [`--pid=${process.pid}`, 'STOPPING=1', 'STATUS=stopping'], { stdio: 'ignore' });
      c.on('error', (e) => {
        this.warn('STOPPING=1', e);
        resolve();
      });
      c.on('close', () => resolve());
    });
  }

  private warn(what: string, e: unknown): void {
    // The package rejects with a string, not an Error.
    this.log.warn(`sd_notify ${what} failed: ${e instanceof Error ? e.message : String(e)}`, { event: 'notify.failed' });
  }
}
