/**
 * Failure notifications: Slack (SLACK_WEBHOOK_URL) and e-mail (SMTP_URL, NOTIFY_EMAIL_TO,
 * NOTIFY_EMAIL_FROM), for finished jobs and for the stale-backup alert.
 *
 * Contract:
 * - What is sent: failed jobs always; successes, and cancellations, only with NOTIFY_ON=always
 *   (shouldNotify); the stale alert always (it is a failure: no backup is being made).
 * - A notification never fails the job nor holds it up: jobFinished and stale never throw and
 *   resolve within the send timeout (NOTIFY_TIMEOUT_MS, 10 s) plus a few milliseconds, whatever
 *   the network does. A send that fails or times out is logged at warn with event
 *   'notify.failed', the channel and the reason, and is not retried.
 * - Channels are independent: they are sent to in parallel, and one failing does not stop or
 *   delay another beyond the common deadline.
 * - No channel configured: both methods do nothing.
 * - Secrets: the webhook URL and the SMTP credentials never appear in a log line this module
 *   writes (the reason is scrubbed of them and of every configured secret, whole or in part),
 *   and configured secret values are replaced with <redacted> in what is sent, because an error
 *   message or a stderr line could quote one.
 * - Stale alerts: the caller decides when (isStale) and how often; this module does not remember
 *   what it sent. Calling stale() once per stale episode (e.g. once per lastSuccessAt) avoids a
 *   message per check.
 */
import os from 'node:os';
import type { FetchFunction } from '@slack/webhook';
import type { Config } from '../config/load.js';
import { secretValues } from '../config/redact.js';
import { errorText } from '../domain/errors.js';
import { redactValue, type Logger } from '../log/logger.js';
import {
  describeSendError,
  emailChannel,
  nodemailerTransport,
  NotifyTimeoutError,
  recipients,
  slackChannel,
  type Channel,
  type TransportFactory,
} from './channels.js';
import { formatJobMessage, formatStaleMessage, shouldNotify, type JobOutcome, type Notification, type StaleInfo } from './message.js';

export type { JobOutcome, Notification, StaleInfo } from './message.js';
export { classify, formatJobMessage, formatStaleMessage, shouldNotify } from './message.js';
export { nextStep } from './next-step.js';
export { isStale, staleAfterMs } from './stale.js';
export type { MailMessage, MailTransport, SmtpOptions, TransportFactory } from './channels.js';

/** How long one send may take before it is given up (and logged). */
export const NOTIFY_TIMEOUT_MS = 10_000;

export interface Notifier {
  /** Reports a finished job if NOTIFY_ON says so. Never throws; resolves within the send timeout. */
  jobFinished(o: JobOutcome): Promise<void>;
  /** Sends the stale-backup alert. Never throws; resolves within the send timeout. */
  stale(info: StaleInfo): Promise<void>;
}

/** The channels a configuration enables, for a startup log line ("notifications: slack, email"). */
export function notifyChannels(config: Pick<Config, 'SLACK_WEBHOOK_URL' | 'SMTP_URL' | 'NOTIFY_EMAIL_TO'>): ('slack' | 'email')[] {
  return [...(config.SLACK_WEBHOOK_URL ? (['slack'] as const) : []), ...(config.SMTP_URL && config.NOTIFY_EMAIL_TO ? (['email'] as const) : [])];
}

export interface NotifierDeps {
  /** fetch for the Slack webhook (default: globalThis.fetch). */
  fetch?: FetchFunction;
  /** Builds the SMTP transport for one message (default: nodemailer.createTransport). */
  transportFactory?: TransportFactory;
  /** Per-send deadline in milliseconds (default NOTIFY_TIMEOUT_MS); tests shorten it. */
  timeoutMs?: number;
  /** The host name for the default sender backupmate@<host> (default: os.hostname()). */
  hostname?: string;
}

export function createNotifier(config: Config, logger: Logger, deps: NotifierDeps = {}): Notifier {
  const timeoutMs = deps.timeoutMs ?? NOTIFY_TIMEOUT_MS;
  const enabled = notifyChannels(config);
  const channels: Channel[] = [];
  if (enabled.includes('slack')) channels.push(slackChannel(config.SLACK_WEBHOOK_URL, timeoutMs, deps.fetch));
  if (enabled.includes('email')) {
    channels.push(
      emailChannel({
        smtpUrl: config.SMTP_URL,
        from: config.NOTIFY_EMAIL_FROM || `backupmate@${deps.hostname ?? os.hostname()}`,
        to: recipients(config.NOTIFY_EMAIL_TO),
        timeoutMs,
        factory: deps.transportFactory ?? nodemailerTransport,
      }),
    );
  }

  const configSecrets = secretValues(config);
  // Longest first, so a whole URL is replaced before a part of it could split it.
  const logSecrets = [...new Set([...configSecrets, ...channels.flatMap((c) => c.secretFragments)])]
    .filter((s) => s !== '')
    .sort((a, b) => b.length - a.length);
  const scrub = (text: string) => redactValue(text, logSecrets) as string;
  const formatOpts = { timeZone: config.SCHEDULE_TIMEZONE };

  async function sendOne(channel: Channel, n: Notification): Promise<void> {
    try {
      await withDeadline(channel.send(n), timeoutMs);
      logger.info(`notification sent by ${channel.name}: ${scrub(n.subject)}`, { event: 'notify.sent', channel: channel.name, kind: n.kind });
    } catch (e) {
      const reason = scrub(describeSendError(e, timeoutMs));
      logger.warn(`notification by ${channel.name} could not be sent: ${reason}`, {
        event: 'notify.failed',
        channel: channel.name,
        kind: n.kind,
        reason,
      });
    }
  }

  const redact = <T>(value: T): T => redactValue(value, configSecrets) as T;

  /**
   * Formats and sends to every channel; catches everything, including its own bugs. `build`
   * redacts the facts before formatting (so Slack's escaping applies to the "<redacted>" marker
   * too); the finished text is redacted again in case formatting joined a secret together.
   */
  async function deliver(what: string, build: () => Notification): Promise<void> {
    if (!channels.length) return;
    let n: Notification;
    try {
      n = redact(build());
    } catch (e) {
      const reason = scrub(errorText(e));
      logger.warn(`${what} notification could not be built: ${reason}`, { event: 'notify.failed', channel: 'all', reason });
      return;
    }
    await Promise.all(channels.map((c) => sendOne(c, n)));
  }

  /** Runs `fn` and swallows what escapes it (only a broken logger can): a notification never throws. */
  async function guarded(fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch {
      // Nothing left to report it with.
    }
  }

  return {
    jobFinished: (o) =>
      guarded(async () => {
        if (shouldNotify(o, config.NOTIFY_ON)) await deliver('job', () => formatJobMessage(redact(o), formatOpts));
      }),
    // Field by field: redactValue would turn the Date into a plain object.
    stale: (info) => guarded(() => deliver('stale-backup', () => formatStaleMessage({ ...info, host: redact(info.host) }, formatOpts))),
  };
}

/**
 * `p`, or a NotifyTimeoutError after `ms`. The send goes on in the background until its own
 * timeouts end it; its late result is ignored (and its rejection handled, so it is not reported
 * as unhandled).
 */
async function withDeadline<T>(p: Promise<T>, ms: number): Promise<T> {
  p.catch(() => {});
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new NotifyTimeoutError(ms)), ms);
  });
  try {
    return await Promise.race([p, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
