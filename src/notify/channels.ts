/**
 * The two ways a notification leaves the host: a Slack incoming webhook (@slack/webhook's
 * IncomingWebhook) and e-mail over SMTP (nodemailer).
 *
 * Contract of a channel: `send` resolves when the service accepted the message and rejects
 * otherwise; it bounds its own network waits by `timeoutMs` (the notifier adds a hard deadline
 * on top). `secretFragments` lists the parts of the channel's configuration that must never be
 * logged on their own: the webhook's path and token, the SMTP user name and password in both
 * URL-encoded and decoded form. The logger redacts whole configured values only, and an error
 * message may quote just a part (a path, a decoded password).
 */
// The libraries are loaded on first send (import()): most runs send nothing, and loading them at
// start cost every CLI call ~0.2 s and the backup process ~15 MiB of resident memory.
import type { FetchFunction, IncomingWebhook } from '@slack/webhook';
import type { Notification } from './message.js';

export type ChannelName = 'slack' | 'email';

export interface Channel {
  readonly name: ChannelName;
  readonly secretFragments: readonly string[];
  send(n: Notification): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Slack

export function slackChannel(webhookUrl: string, timeoutMs: number, fetchFn?: FetchFunction): Channel {
  const base: FetchFunction = fetchFn ?? ((url, init) => globalThis.fetch(url, init));
  // IncomingWebhook keeps a network error's cause chain only when it is an Error of its own realm
  // (and a test runner's sandbox is another realm): the reason ("connect ECONNREFUSED ...",
  // the timeout) is put into the message here, where every realm can read it.
  const describedFetch: FetchFunction = async (url, init) => {
    try {
      return await base(url, init);
    } catch (e) {
      throw new Error(describeSendError(e, timeoutMs));
    }
  };
  // No retries (IncomingWebhook's default): a retry would push the send past its deadline, and a
  // lost notification is logged rather than retried later.
  let hook: IncomingWebhook | null = null;
  return {
    name: 'slack',
    secretFragments: urlFragments(webhookUrl),
    async send(n) {
      hook ??= new (await import('@slack/webhook')).IncomingWebhook(webhookUrl, { timeout: timeoutMs, fetch: describedFetch });
      await hook.send({ text: n.slack.text, blocks: n.slack.blocks, unfurl_links: false, unfurl_media: false });
    },
  };
}

/** The URL, its path and query, and every path segment long enough to be a token. */
function urlFragments(raw: string): string[] {
  const out = [raw];
  try {
    const u = new URL(raw);
    if (u.pathname.length > 1) out.push(u.pathname);
    if (u.search) out.push(u.search.slice(1));
    // Tokens are long (Slack: 24 characters); short segments like "services" are not secret.
    for (const seg of u.pathname.split('/')) if (seg.length >= 10) out.push(seg);
  } catch {
    // Not a URL: the configuration validated it, so this does not happen; the raw value is enough.
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// E-mail

/** What a mail transport gets; nodemailer's sendMail accepts it. */
export interface MailMessage {
  from: string;
  to: string[];
  subject: string;
  text: string;
}

/** The part of a nodemailer transporter the notifier uses; tests may supply their own. */
export interface MailTransport {
  sendMail(message: MailMessage): Promise<unknown>;
  close?(): void;
}

/** SMTP connection settings derived from SMTP_URL; nodemailer's SMTP transport options. */
export interface SmtpOptions {
  host: string;
  port: number;
  /** TLS from the first byte (smtps://). smtp:// still upgrades with STARTTLS when the server offers it. */
  secure: boolean;
  auth?: { user: string; pass: string };
  connectionTimeout: number;
  greetingTimeout: number;
  socketTimeout: number;
  dnsTimeout: number;
}

export type TransportFactory = (options: SmtpOptions) => MailTransport;

export const nodemailerTransport: TransportFactory = (options) => {
  let transport: Promise<MailTransport> | null = null;
  const get = () => (transport ??= import('nodemailer').then((m) => m.default.createTransport(options)));
  return {
    sendMail: async (message) => (await get()).sendMail(message),
    close() {
      void transport?.then((t) => t.close?.(), () => {});
    },
  };
};

/**
 * SMTP_URL → transport options. smtps:// is TLS on connect (default port 465); smtp:// is plain
 * with opportunistic STARTTLS (default port 587, the submission port). User and password come
 * from the URL's user info, percent-decoded ("p%40ss" is "p@ss"). Every network wait of the
 * transport (DNS, connect, greeting, each later reply) is bounded by `timeoutMs`.
 */
export function smtpOptions(smtpUrl: string, timeoutMs: number): SmtpOptions {
  const u = new URL(smtpUrl);
  const secure = u.protocol === 'smtps:';
  const user = decode(u.username);
  const pass = decode(u.password);
  return {
    host: u.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: u.port ? Number(u.port) : secure ? 465 : 587,
    secure,
    ...(user || pass ? { auth: { user, pass } } : {}),
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs,
    dnsTimeout: timeoutMs,
  };
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

export function emailChannel(opts: { smtpUrl: string; from: string; to: string[]; timeoutMs: number; factory: TransportFactory }): Channel {
  const options = smtpOptions(opts.smtpUrl, opts.timeoutMs);
  const u = new URL(opts.smtpUrl);
  const fragments = [opts.smtpUrl, u.password, decode(u.password)];
  // A user name is not a secret by itself, but "user:pass" pairs leak together; very short names
  // would turn ordinary words of an error message into "<redacted>", so they are left alone.
  for (const name of [u.username, decode(u.username)]) if (name.length >= 3) fragments.push(name);
  return {
    name: 'email',
    secretFragments: fragments.filter((f) => f !== ''),
    async send(n) {
      // One transport per message: notifications are rare, and nothing stays connected between them.
      const transport = opts.factory(options);
      try {
        await transport.sendMail({ from: opts.from, to: opts.to, subject: n.subject, text: n.text });
      } finally {
        transport.close?.();
      }
    },
  };
}

/** NOTIFY_EMAIL_TO → addresses. */
export function recipients(list: string): string[] {
  return list
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

// ---------------------------------------------------------------------------------------------
// Why a send failed

/** Thrown by the notifier's deadline. */
export class NotifyTimeoutError extends Error {
  constructor(readonly timeoutMs: number) {
    super(`no answer within ${formatSeconds(timeoutMs)}`);
    this.name = 'NotifyTimeoutError';
  }
}

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${(ms / 1000).toFixed(1)}s`;
}

interface ErrorFacts {
  name?: unknown;
  message?: unknown;
  code?: unknown;
  cause?: unknown;
  originalError?: unknown;
  statusCode?: unknown;
  statusMessage?: unknown;
  body?: unknown;
}

/**
 * One line saying why a send failed, from the errors @slack/webhook, fetch (undici) and
 * nodemailer throw: the HTTP status and Slack's answer ("HTTP 404 Not Found: no_service"), the
 * network cause ("fetch failed: connect ECONNREFUSED 127.0.0.1:9"), the SMTP reply ("Invalid
 * login: 535 Authentication failed (EAUTH)"), or the timeout. The caller scrubs secrets from it.
 */
export function describeSendError(e: unknown, timeoutMs: number): string {
  const seen = new Set<unknown>();
  const parts: string[] = [];
  let cur: unknown = e;
  while (cur && typeof cur === 'object' && !seen.has(cur) && parts.length < 5) {
    seen.add(cur);
    const f = cur as ErrorFacts;
    // AbortSignal.timeout's reason (IncomingWebhook's own timeout) or our deadline.
    if (f.name === 'TimeoutError' || cur instanceof NotifyTimeoutError) {
      return `no answer within ${formatSeconds(timeoutMs)}`;
    }
    if (typeof f.statusCode === 'number') {
      const body = typeof f.body === 'string' ? f.body.replace(/\s+/g, ' ').trim().slice(0, 200) : '';
      const status = typeof f.statusMessage === 'string' && f.statusMessage ? ` ${f.statusMessage}` : '';
      return `HTTP ${f.statusCode}${status}${body ? `: ${body}` : ''}`;
    }
    let message = typeof f.message === 'string' ? f.message : String(cur);
    // @slack/webhook wraps the fetch error; its own prefix adds nothing.
    message = message.replace(/^A request error occurred: /, '');
    const code = typeof f.code === 'string' && !message.includes(f.code) && !f.code.startsWith('slack_') ? ` (${f.code})` : '';
    if (message && !parts.some((p) => p.includes(message))) parts.push(`${message}${code}`);
    // p-retry's AbortError carries the real error as originalError; others chain with cause.
    cur = f.originalError ?? f.cause;
  }
  if (!parts.length) parts.push(typeof e === 'string' ? e : 'unknown error');
  return parts.join(': ').replace(/\s+/g, ' ').trim();
}
