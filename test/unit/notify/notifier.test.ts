/**
 * The notifier against real servers on 127.0.0.1: an HTTP server standing in for Slack's webhook
 * endpoint and an smtp-server receiving the mail. Nothing leaves the loopback interface.
 */
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import { Writable } from 'node:stream';
import { jest } from '@jest/globals';
import type { FetchFunction } from '@slack/webhook';
import { SMTPServer } from 'smtp-server';
import winston from 'winston';
import { loadConfig, type Config } from '../../../src/config/load.js';
import { createLogger, type Logger } from '../../../src/log/logger.js';
import { smtpOptions } from '../../../src/notify/channels.js';
import {
  createNotifier,
  nextStep,
  notifyChannels,
  NOTIFY_TIMEOUT_MS,
  type JobOutcome,
  type MailTransport,
  type SmtpOptions,
  type TransportFactory,
} from '../../../src/notify/notifier.js';
import { getFreePort } from '../../helpers/ports.js';

// ---------------------------------------------------------------------------------------------
// Secrets that must never be logged

const SMTP_USER = 'backup-mailer';
const SMTP_PASS = 'p@ss:w0rd/S3cret!';
const SMTP_PASS_ENCODED = encodeURIComponent(SMTP_PASS);
const HOOK_TOKEN = 'xoxTOKENabcdef1234567890';
const HOOK_PATH = `/services/T0000TEST/B0000TEST/${HOOK_TOKEN}`;
const DB_PASSWORD = 'dbS3cretPW';

/** Timeout used by the tests that make a send hang (the default is 10 s). */
const SHORT_TIMEOUT = 400;
/** What "resolves within the timeout" is allowed on a busy CI machine on top of it. */
const SLACK_MS = 1500;

// ---------------------------------------------------------------------------------------------
// Local servers

interface SlackRequest {
  method: string;
  path: string;
  contentType: string;
  body: { text?: string; blocks?: { type: string; text?: { text: string }; fields?: { text: string }[] }[] };
}

interface SlackServer {
  url: string;
  requests: SlackRequest[];
  close(): Promise<void>;
}

/** 'ok' answers 200 "ok" like Slack; 'hang' reads the request and never answers; a number answers that status. */
async function startSlack(mode: 'ok' | 'hang' | number = 'ok'): Promise<SlackServer> {
  const requests: SlackRequest[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests.push({
        method: req.method ?? '',
        path: req.url ?? '',
        contentType: req.headers['content-type'] ?? '',
        body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as SlackRequest['body'],
      });
      if (mode === 'hang') return;
      const status = mode === 'ok' ? 200 : mode;
      res.writeHead(status, { 'content-type': 'text/plain' }).end(mode === 'ok' ? 'ok' : 'no_service');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}${HOOK_PATH}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

interface ReceivedMail {
  from: string;
  to: string[];
  user: unknown;
  headers: Record<string, string>;
  body: string;
}

interface SmtpTestServer {
  port: number;
  mails: ReceivedMail[];
  close(): Promise<void>;
}

/** An SMTP server that requires AUTH (PLAIN/LOGIN, allowed without TLS) and keeps what it receives. */
async function startSmtp(): Promise<SmtpTestServer> {
  const mails: ReceivedMail[] = [];
  const server = new SMTPServer({
    secure: false,
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true,
    authOptional: false,
    logger: false,
    onAuth(auth, _session, callback) {
      if (auth.username === SMTP_USER && auth.password === SMTP_PASS) callback(null, { user: auth.username });
      else callback(new Error('Invalid username or password'));
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const { headers, body } = parseMail(Buffer.concat(chunks).toString('utf8'));
        mails.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          user: session.user,
          headers,
          body,
        });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.server.address() as AddressInfo;
  return { port, mails, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** A TCP server that accepts connections and never says anything (an SMTP server that hangs). */
async function startSilent(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Headers (unfolded, lower-case names) and the decoded text body of a single-part message. */
function parseMail(raw: string): { headers: Record<string, string>; body: string } {
  const cut = raw.indexOf('\r\n\r\n');
  const head = raw.slice(0, cut).replace(/\r\n[ \t]+/g, ' ');
  const headers: Record<string, string> = {};
  for (const line of head.split('\r\n')) {
    const i = line.indexOf(':');
    headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
  }
  let body = raw.slice(cut + 4);
  const cte = (headers['content-transfer-encoding'] ?? '7bit').toLowerCase();
  if (cte === 'quoted-printable') {
    const bytes = body.replace(/=\r\n/g, '').replace(/=([0-9A-F]{2})/gi, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
    body = Buffer.from(bytes, 'latin1').toString('utf8');
  } else if (cte === 'base64') {
    body = Buffer.from(body, 'base64').toString('utf8');
  }
  return { headers, body: body.replace(/\r\n/g, '\n') };
}

// ---------------------------------------------------------------------------------------------
// Configuration, logger, outcomes

function config(env: Record<string, string>): Config {
  return loadConfig({
    env: { STORAGE: 'file', STORAGE_PATH: '/tmp/x', SCHEDULE_TIMEZONE: 'UTC', DB_PASSWORD, ...env },
    etcDir: '/nonexistent',
    cwd: os.tmpdir(),
  });
}

const smtpUrl = (port: number, pass = SMTP_PASS_ENCODED) => `smtp://${SMTP_USER}:${pass}@127.0.0.1:${port}`;

/** Every line logged in this file, for the secrets check after each test. */
const allLines: string[] = [];

interface Captured {
  logger: Logger;
  lines: string[];
  /** The parsed lines, after letting winston's streams deliver them. */
  entries(): Promise<Record<string, unknown>[]>;
}

/**
 * A plain winston logger writing JSON lines into an array. It does NOT redact anything: what it
 * captures is exactly what the notifier handed it, so the secrets checks test the notifier itself.
 */
function captureLogger(): Captured {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) {
        if (l.trim()) {
          lines.push(l);
          allLines.push(l);
        }
      }
      cb();
    },
  });
  const logger = winston.createLogger({ level: 'debug', format: winston.format.json(), transports: [new winston.transports.Stream({ stream })] });
  return {
    logger,
    lines,
    async entries() {
      await new Promise((r) => setImmediate(r));
      return lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    },
  };
}

const failure: JobOutcome = {
  host: 'db1',
  jobId: 'j-000042',
  kind: 'full',
  trigger: 'schedule',
  status: 'failed',
  error: {
    code: 'TOOL_FAILED',
    message: 'mariabackup exited with code 1: Error: failed to execute query FLUSH TABLES: Access denied; you need the RELOAD privilege',
    stage: 'mariabackup',
    exitCode: 1,
    stderrTail: Array.from({ length: 12 }, (_, i) => `[00] stderr line ${i + 1}`),
  },
  startedAt: '2026-11-21T04:00:00.000Z',
  finishedAt: '2026-11-21T04:00:15.000Z',
  durationMs: 15_000,
};

const success: JobOutcome = {
  host: 'db1',
  jobId: 'j-000043',
  kind: 'incremental',
  trigger: 'schedule',
  status: 'succeeded',
  backupId: '20261121T050000Z',
  bytes: 10 * 1024 * 1024,
  durationMs: 42_000,
};

const cancelled: JobOutcome = {
  host: 'db1',
  jobId: 'j-000044',
  kind: 'full',
  trigger: 'manual',
  status: 'cancelled',
  error: { code: 'CANCELLED', message: 'job j-000044 was cancelled' },
};

const timed = async (p: Promise<unknown>) => {
  const t0 = Date.now();
  await p;
  return Date.now() - t0;
};

// ---------------------------------------------------------------------------------------------

let slack: SlackServer;
let smtp: SmtpTestServer;

beforeEach(async () => {
  slack = await startSlack();
  smtp = await startSmtp();
});

afterEach(async () => {
  await slack.close();
  await smtp.close();
});

afterAll(() => {
  // Checked over every line this file logged, whatever the test.
  expect(allLines.length).toBeGreaterThan(0);
  for (const line of allLines) {
    for (const secret of [SMTP_PASS, SMTP_PASS_ENCODED, 'p@ss', HOOK_TOKEN, HOOK_PATH, '/services/', DB_PASSWORD, 'wrong-Pa55']) {
      expect(line).not.toContain(secret);
    }
  }
});

describe('a failed backup', () => {
  test('is posted to the webhook and mailed, with host, job, kind, stage, error, stderr tail and next step', async () => {
    const cap = captureLogger();
    const notifier = createNotifier(
      config({
        SLACK_WEBHOOK_URL: slack.url,
        SMTP_URL: smtpUrl(smtp.port),
        NOTIFY_EMAIL_TO: 'dba@example.com, oncall@example.com',
        NOTIFY_EMAIL_FROM: 'backupmate@db1.example.com',
      }),
      cap.logger,
    );
    await notifier.jobFinished(failure);

    // Slack: one JSON POST to the webhook's path.
    expect(slack.requests).toHaveLength(1);
    const req = slack.requests[0]!;
    expect(req.method).toBe('POST');
    expect(req.path).toBe(HOOK_PATH);
    expect(req.contentType).toMatch(/^application\/json/);
    expect(req.body.text).toBe(':rotating_light: [backupmate] FAILED full backup on db1 (mariabackup exited with code 1)');
    const slackText = (req.body.blocks ?? []).flatMap((b) => [b.text?.text ?? '', ...(b.fields ?? []).map((f) => f.text)]).join('\n');
    for (const s of ['db1', 'j-000042', 'full', 'mariabackup', 'the RELOAD privilege', nextStep('TOOL_FAILED', 'mariabackup')]) {
      expect(slackText).toContain(s);
    }
    expect(slackText).toContain('```\n[00] stderr line 3\n');
    expect(slackText).toContain('[00] stderr line 12\n```');
    expect(slackText).not.toContain('stderr line 2\n');

    // E-mail: authenticated, to both recipients, from the configured sender.
    expect(smtp.mails).toHaveLength(1);
    const mail = smtp.mails[0]!;
    expect(mail.user).toBe(SMTP_USER);
    expect(mail.from).toBe('backupmate@db1.example.com');
    expect(mail.to).toEqual(['dba@example.com', 'oncall@example.com']);
    expect(mail.headers.subject).toBe('[backupmate] FAILED full backup on db1 (mariabackup exited with code 1)');
    expect(mail.headers.to).toBe('dba@example.com, oncall@example.com');
    for (const s of ['Host:', 'db1', 'j-000042', 'mariabackup', 'the RELOAD privilege', `Next step: ${nextStep('TOOL_FAILED', 'mariabackup')}.`]) {
      expect(mail.body).toContain(s);
    }
    expect(mail.body).toContain('    [00] stderr line 3\n');
    expect(mail.body).toContain('    [00] stderr line 12\n');

    const sent = (await cap.entries()).filter((e) => e.event === 'notify.sent');
    expect(sent.map((e) => e.channel).sort()).toEqual(['email', 'slack']);
    expect(sent.every((e) => e.level === 'info' && e.kind === 'failure')).toBe(true);
  });

  test('configured secrets quoted by the error are redacted in what is sent', async () => {
    const cap = captureLogger();
    const notifier = createNotifier(config({ SLACK_WEBHOOK_URL: slack.url, SMTP_URL: smtpUrl(smtp.port), NOTIFY_EMAIL_TO: 'dba@example.com' }), cap.logger);
    await notifier.jobFinished({
      ...failure,
      // No exit code, so the subject quotes the message.
      error: { code: 'TOOL_FAILED', stage: 'mariabackup', message: `mysql -p${DB_PASSWORD} refused`, stderrTail: [`password=${DB_PASSWORD}`, `hook ${slack.url}`] },
    });
    const payload = JSON.stringify(slack.requests[0]!.body);
    const mail = smtp.mails[0]!;
    for (const text of [payload, mail.body, mail.headers.subject!]) {
      expect(text).not.toContain(DB_PASSWORD);
      expect(text).not.toContain(HOOK_TOKEN);
    }
    expect(payload).toContain('mysql -p&lt;redacted&gt; refused');
    expect(mail.body).toContain('password=<redacted>');
    expect(mail.headers.subject).toContain('mysql -p<redacted> refused');
  });

  test('the default sender is backupmate@<hostname>', async () => {
    const notifier = createNotifier(config({ SMTP_URL: smtpUrl(smtp.port), NOTIFY_EMAIL_TO: 'dba@example.com' }), captureLogger().logger, {
      hostname: 'db1.example.com',
    });
    await notifier.jobFinished(failure);
    expect(smtp.mails.map((m) => m.from)).toEqual(['backupmate@db1.example.com']);
    expect(slack.requests).toHaveLength(0);
  });
});

describe('NOTIFY_ON', () => {
  const both = (notifyOn: string) =>
    config({ NOTIFY_ON: notifyOn, SLACK_WEBHOOK_URL: slack.url, SMTP_URL: smtpUrl(smtp.port), NOTIFY_EMAIL_TO: 'dba@example.com' });

  test('failure: successes and cancellations are not sent', async () => {
    const cap = captureLogger();
    const notifier = createNotifier(both('failure'), cap.logger);
    await notifier.jobFinished(success);
    await notifier.jobFinished(cancelled);
    await notifier.jobFinished({ ...cancelled, status: 'failed' }); // a CANCELLED error is not an alert either
    expect(slack.requests).toHaveLength(0);
    expect(smtp.mails).toHaveLength(0);
    expect(await cap.entries()).toEqual([]);
  });

  test('always: successes and cancellations are sent too', async () => {
    const notifier = createNotifier(both('always'), captureLogger().logger);
    await notifier.jobFinished(success);
    await notifier.jobFinished(cancelled);
    expect(slack.requests.map((r) => r.body.text)).toEqual([
      ':white_check_mark: [backupmate] OK incremental backup on db1 (20261121T050000Z, 10.0 MiB in 42.0s)',
      ':no_entry_sign: [backupmate] CANCELLED full backup on db1 (job j-000044 was cancelled)',
    ]);
    expect(smtp.mails.map((m) => m.headers.subject)).toEqual([
      '[backupmate] OK incremental backup on db1 (20261121T050000Z, 10.0 MiB in 42.0s)',
      '[backupmate] CANCELLED full backup on db1 (job j-000044 was cancelled)',
    ]);
  });

  test('the stale alert is sent with NOTIFY_ON=failure', async () => {
    const notifier = createNotifier(both('failure'), captureLogger().logger);
    await notifier.stale({ host: 'db1', lastSuccessAt: '2026-11-16T03:00:00.000Z', staleAfterMs: 48 * 3_600_000, now: new Date('2026-11-18T06:30:00Z') });
    expect(slack.requests.map((r) => r.body.text)).toEqual([':warning: [backupmate] STALE backups on db1: no successful backup for 2d 3h']);
    expect(smtp.mails.map((m) => m.headers.subject)).toEqual(['[backupmate] STALE backups on db1: no successful backup for 2d 3h']);
    expect(smtp.mails[0]!.body).toContain('backupmatectl status');
  });
});

describe('a notification that cannot be sent is logged and never throws', () => {
  async function failedEntries(cap: Captured, channel: string) {
    return (await cap.entries()).filter((e) => e.event === 'notify.failed' && e.channel === channel);
  }

  test('unreachable webhook (closed port): logged at once, and the e-mail still goes out', async () => {
    const cap = captureLogger();
    const port = await getFreePort();
    const url = `http://127.0.0.1:${port}${HOOK_PATH}`;
    const notifier = createNotifier(config({ SLACK_WEBHOOK_URL: url, SMTP_URL: smtpUrl(smtp.port), NOTIFY_EMAIL_TO: 'dba@example.com' }), cap.logger);
    const ms = await timed(notifier.jobFinished(failure));
    expect(ms).toBeLessThan(SLACK_MS);
    expect(smtp.mails).toHaveLength(1);
    const [entry] = await failedEntries(cap, 'slack');
    expect(entry).toMatchObject({ level: 'warn', event: 'notify.failed', channel: 'slack', kind: 'failure' });
    expect(entry!.reason).toMatch(/ECONNREFUSED/);
    expect(entry!.message).toMatch(/^notification by slack could not be sent: .*ECONNREFUSED/);
    expect(cap.lines.join('\n')).not.toContain(String(port) + HOOK_PATH);
  });

  test('hanging webhook: given up after the timeout, and the e-mail is not held up', async () => {
    await slack.close();
    slack = await startSlack('hang');
    const cap = captureLogger();
    const notifier = createNotifier(
      config({ SLACK_WEBHOOK_URL: slack.url, SMTP_URL: smtpUrl(smtp.port), NOTIFY_EMAIL_TO: 'dba@example.com' }),
      cap.logger,
      { timeoutMs: SHORT_TIMEOUT },
    );
    const ms = await timed(notifier.jobFinished(failure));
    expect(slack.requests).toHaveLength(1); // the server did get it; it just never answered
    expect(ms).toBeGreaterThanOrEqual(SHORT_TIMEOUT - 50);
    expect(ms).toBeLessThan(SHORT_TIMEOUT + SLACK_MS);
    expect(smtp.mails).toHaveLength(1);
    const [entry] = await failedEntries(cap, 'slack');
    expect(entry!.reason).toBe('no answer within 0.4s');
    expect((await cap.entries()).filter((e) => e.event === 'notify.sent').map((e) => e.channel)).toEqual(['email']);
  });

  test('webhook answers an HTTP error: the status and Slack\'s answer are logged', async () => {
    await slack.close();
    slack = await startSlack(404);
    const cap = captureLogger();
    const notifier = createNotifier(config({ SLACK_WEBHOOK_URL: slack.url }), cap.logger);
    await notifier.jobFinished(failure);
    const [entry] = await failedEntries(cap, 'slack');
    expect(entry!.reason).toBe('HTTP 404 Not Found: no_service');
  });

  test('SMTP refuses the login: logged with the server\'s reply, without the password; Slack still posted', async () => {
    const cap = captureLogger();
    const notifier = createNotifier(
      config({ SLACK_WEBHOOK_URL: slack.url, SMTP_URL: smtpUrl(smtp.port, 'wrong-Pa55'), NOTIFY_EMAIL_TO: 'dba@example.com' }),
      cap.logger,
    );
    await notifier.jobFinished(failure);
    expect(smtp.mails).toHaveLength(0);
    expect(slack.requests).toHaveLength(1);
    const [entry] = await failedEntries(cap, 'email');
    expect(entry).toMatchObject({ level: 'warn', channel: 'email' });
    expect(entry!.reason).toMatch(/535/);
    expect(entry!.reason).toMatch(/EAUTH/);
  });

  test('SMTP server that never greets: given up after the timeout', async () => {
    const silent = await startSilent();
    try {
      const cap = captureLogger();
      const notifier = createNotifier(config({ SMTP_URL: smtpUrl(silent.port), NOTIFY_EMAIL_TO: 'dba@example.com' }), cap.logger, {
        timeoutMs: SHORT_TIMEOUT,
      });
      const ms = await timed(notifier.jobFinished(failure));
      expect(ms).toBeLessThan(SHORT_TIMEOUT + SLACK_MS);
      const [entry] = await failedEntries(cap, 'email');
      expect(entry!.reason).toMatch(/no answer within 0\.4s|Greeting never received/);
    } finally {
      await silent.close();
    }
  });

  test('SMTP port closed: logged, not thrown', async () => {
    const cap = captureLogger();
    const notifier = createNotifier(config({ SMTP_URL: smtpUrl(await getFreePort()), NOTIFY_EMAIL_TO: 'dba@example.com' }), cap.logger);
    await expect(notifier.jobFinished(failure)).resolves.toBeUndefined();
    const [entry] = await failedEntries(cap, 'email');
    expect(entry!.reason).toMatch(/ECONNREFUSED/);
  });

  test('a fetch or transport that throws synchronously is logged like any failure', async () => {
    const cap = captureLogger();
    const notifier = createNotifier(config({ SLACK_WEBHOOK_URL: slack.url, SMTP_URL: smtpUrl(smtp.port), NOTIFY_EMAIL_TO: 'dba@example.com' }), cap.logger, {
      fetch: () => {
        throw new Error(`cannot fetch ${slack.url}`);
      },
      transportFactory: () => {
        throw new Error(`cannot connect as ${SMTP_USER}:${SMTP_PASS}`);
      },
    });
    await expect(notifier.jobFinished(failure)).resolves.toBeUndefined();
    const failed = (await cap.entries()).filter((e) => e.event === 'notify.failed');
    expect(failed.map((e) => e.channel).sort()).toEqual(['email', 'slack']);
    expect(failed.find((e) => e.channel === 'slack')!.reason).toBe('cannot fetch <redacted>');
    expect(failed.find((e) => e.channel === 'email')!.reason).toBe('cannot connect as <redacted>:<redacted>');
  });

  test('an outcome the formatter chokes on is logged, not thrown', async () => {
    const cap = captureLogger();
    const notifier = createNotifier(config({ SLACK_WEBHOOK_URL: slack.url }), cap.logger);
    const broken = { ...failure, error: { code: 'INTERNAL' } } as unknown as JobOutcome;
    await expect(notifier.jobFinished(broken)).resolves.toBeUndefined();
    expect(slack.requests).toHaveLength(0);
    const [entry] = await failedEntries(cap, 'all');
    expect(entry).toMatchObject({ level: 'warn', event: 'notify.failed' });
  });

  test('even a logger that throws does not make jobFinished throw', async () => {
    const broken = {
      info: () => {
        throw new Error('logger closed');
      },
      warn: () => {
        throw new Error('logger closed');
      },
    } as unknown as Logger;
    const notifier = createNotifier(config({ SLACK_WEBHOOK_URL: `http://127.0.0.1:${await getFreePort()}${HOOK_PATH}` }), broken);
    await expect(notifier.jobFinished(failure)).resolves.toBeUndefined();
    await expect(notifier.stale({ host: 'db1', lastSuccessAt: null, staleAfterMs: 1, now: new Date() })).resolves.toBeUndefined();
  });

  test('with the project logger, lines are JSON and still free of secrets', async () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'info', console: 'none', secrets: [] });
    logger.add(
      new winston.transports.Stream({
        stream: new Writable({
          write(chunk: Buffer, _e, cb) {
            lines.push(chunk.toString('utf8'));
            allLines.push(chunk.toString('utf8'));
            cb();
          },
        }),
      }),
    );
    const port = await getFreePort();
    const notifier = createNotifier(
      config({ SLACK_WEBHOOK_URL: `http://127.0.0.1:${port}${HOOK_PATH}`, SMTP_URL: smtpUrl(port), NOTIFY_EMAIL_TO: 'dba@example.com' }),
      logger,
    );
    await notifier.jobFinished(failure);
    await new Promise((r) => setImmediate(r));
    expect(lines.map((l) => JSON.parse(l).event)).toEqual(['notify.failed', 'notify.failed']);
  });
});

describe('configuration', () => {
  test('no channel configured: nothing is sent, nothing is logged', async () => {
    const cap = captureLogger();
    const fetch = jest.fn<FetchFunction>();
    const transportFactory = jest.fn<TransportFactory>();
    const c = config({ NOTIFY_ON: 'always' });
    expect(notifyChannels(c)).toEqual([]);
    const notifier = createNotifier(c, cap.logger, { fetch, transportFactory });
    await notifier.jobFinished(failure);
    await notifier.jobFinished(success);
    await notifier.stale({ host: 'db1', lastSuccessAt: null, staleAfterMs: 1, now: new Date() });
    expect(fetch).not.toHaveBeenCalled();
    expect(transportFactory).not.toHaveBeenCalled();
    expect(await cap.entries()).toEqual([]);
  });

  test('notifyChannels names what is configured', () => {
    expect(notifyChannels(config({ SLACK_WEBHOOK_URL: slack.url }))).toEqual(['slack']);
    expect(notifyChannels(config({ SMTP_URL: smtpUrl(1), NOTIFY_EMAIL_TO: 'a@b.c' }))).toEqual(['email']);
    expect(notifyChannels(config({ SLACK_WEBHOOK_URL: slack.url, SMTP_URL: smtpUrl(1), NOTIFY_EMAIL_TO: 'a@b.c' }))).toEqual(['slack', 'email']);
  });

  test('the send timeout defaults to 10 s and bounds every SMTP wait', async () => {
    expect(NOTIFY_TIMEOUT_MS).toBe(10_000);
    const seen: SmtpOptions[] = [];
    const sent: unknown[] = [];
    const transport: MailTransport = {
      sendMail: async (m) => {
        sent.push(m);
      },
    };
    const notifier = createNotifier(config({ SMTP_URL: 'smtps://u%40x:p%3Aw@mail.example.com', NOTIFY_EMAIL_TO: 'a@b.c' }), captureLogger().logger, {
      transportFactory: (o) => {
        seen.push(o);
        return transport;
      },
    });
    await notifier.jobFinished(failure);
    expect(seen).toEqual([
      {
        host: 'mail.example.com',
        port: 465,
        secure: true,
        auth: { user: 'u@x', pass: 'p:w' },
        connectionTimeout: 10_000,
        greetingTimeout: 10_000,
        socketTimeout: 10_000,
        dnsTimeout: 10_000,
      },
    ]);
    expect(sent).toHaveLength(1);
  });

  test('smtpOptions: smtp:// is port 587 without TLS on connect; no user info means no AUTH; IPv6 hosts lose their brackets', () => {
    expect(smtpOptions('smtp://[::1]', 5000)).toEqual({
      host: '::1',
      port: 587,
      secure: false,
      connectionTimeout: 5000,
      greetingTimeout: 5000,
      socketTimeout: 5000,
      dnsTimeout: 5000,
    });
    expect(smtpOptions('smtp://relay:2525', 1).port).toBe(2525);
  });
});
