/**
 * What a notification says: one subject line (e-mail subject, Slack fallback text), a plain-text
 * body for e-mail and Slack blocks. Pure: no I/O, no clock (times come in the outcome).
 *
 * Contract for a job that failed: the text names the host, the job id, the kind, the trigger,
 * the failing stage, the error code and message, the exit code, the last lines of the program's
 * stderr (at most STDERR_TAIL_LINES, in a code block) and the next step (nextStep). Secrets are
 * not this module's business: the notifier redacts configured secret values from the finished
 * Notification before it leaves the process.
 *
 * Subjects are ASCII-only and one line (no mail header encoding needed, readable in any client);
 * long parts are clipped so Slack's block limits (150 characters in a header, 3000 in a section,
 * 2000 in a field) are never exceeded.
 */
import type { IncomingWebhookSendArguments } from '@slack/webhook';
import type { NotifyOn } from '../config/schema.js';
import { formatInZone } from '../domain/schedule.js';
import { fmtBytes, fmtDuration } from '../domain/units.js';
import { nextStep, STALE_NEXT_STEP } from './next-step.js';

/** How a finished job is reported to the notifier. */
export interface JobOutcome {
  /** The machine the daemon runs on, as people call it (hostname). */
  host: string;
  /** The daemon's job id; null when the job ran outside the daemon (CLI). */
  jobId: string | null;
  /** 'auto' when the job ended before the planner chose full or incremental. */
  kind: 'full' | 'incremental' | 'auto' | 'restore' | 'verify' | 'copy' | 'drill';
  /** What started it: 'schedule', 'manual', 'catch-up', 'cli', ... */
  trigger: string;
  status: 'succeeded' | 'failed' | 'cancelled';
  backupId?: string;
  error?: { code: string; message: string; stage?: string; exitCode?: number; stderrTail?: string[] };
  /** ISO 8601 instants. */
  startedAt?: string;
  finishedAt?: string;
  bytes?: number;
  durationMs?: number;
}

/** The stale-backup alert's facts. */
export interface StaleInfo {
  host: string;
  /** ISO 8601 instant of the newest successful backup, null if none is known. */
  lastSuccessAt: string | null;
  staleAfterMs: number;
  now: Date;
}

export type SlackBlocks = NonNullable<IncomingWebhookSendArguments['blocks']>;

export interface Notification {
  /** failure and stale are alerts; success and cancelled are reports (sent with NOTIFY_ON=always). */
  kind: 'failure' | 'success' | 'cancelled' | 'stale';
  /** One ASCII line: the e-mail subject and Slack's notification text. */
  subject: string;
  /** The e-mail body (plain text). */
  text: string;
  slack: { text: string; blocks: SlackBlocks };
}

export interface FormatOptions {
  /** Zone times are shown in (SCHEDULE_TIMEZONE); '' or undefined = the system's. */
  timeZone?: string;
}

/** Most stderr lines a notification quotes (the end of the tail the job kept). */
export const STDERR_TAIL_LINES = 10;
/** Longest stderr line quoted; longer lines are clipped (a progress bar can be one huge line). */
const STDERR_LINE_MAX = 250;
const ERROR_MESSAGE_MAX = 1500;
const FIELD_MAX = 200;
const SUBJECT_REASON_MAX = 90;
/** Slack allows 3000 characters in a section's text; the stderr block shares one with its title. */
const CODE_BLOCK_MAX = 2900;

const SUBJECT_PREFIX = '[backupmate]';

// ---------------------------------------------------------------------------------------------
// What gets sent

/**
 * How an outcome counts: a failure with code CANCELLED is a cancellation (the job queue reports
 * cancelled jobs that way in some paths), not an alert.
 */
export function classify(o: JobOutcome): 'failure' | 'success' | 'cancelled' {
  if (o.status === 'succeeded') return 'success';
  if (o.status === 'cancelled' || o.error?.code === 'CANCELLED') return 'cancelled';
  return 'failure';
}

/**
 * Whether a finished job is notified. Failures always are. Successes only with NOTIFY_ON=always.
 * Cancellations are not alerts: whoever cancelled (a user with backupmatectl cancel, or a daemon
 * stop) already knows, so they are reported only with NOTIFY_ON=always, alongside successes. A
 * cancellation nobody asked for still shows up: the next scheduled run, or the stale alert.
 */
export function shouldNotify(o: JobOutcome, notifyOn: NotifyOn): boolean {
  return classify(o) === 'failure' || notifyOn === 'always';
}

// ---------------------------------------------------------------------------------------------
// Job messages

export function formatJobMessage(o: JobOutcome, opts: FormatOptions = {}): Notification {
  const kind = classify(o);
  const what = kindPhrase(o.kind);
  const status = { failure: 'FAILED', success: 'OK', cancelled: 'CANCELLED' }[kind];
  const reason = subjectReason(o, kind);
  const subject = oneLine(`${SUBJECT_PREFIX} ${status} ${what} on ${o.host}${reason ? ` (${reason})` : ''}`);

  const facts = jobFacts(o, opts);
  const tail = stderrTail(o.error?.stderrTail);
  const step = kind === 'success' ? null : nextStep(o.error?.code ?? (kind === 'cancelled' ? 'CANCELLED' : 'INTERNAL'), o.error?.stage, { stderrShown: tail.length > 0 });

  // E-mail: facts as aligned "Name: value" lines, stderr indented (a plain-text code block).
  const lines = [`${what} ${kind === 'success' ? 'succeeded' : kind === 'cancelled' ? 'was cancelled' : 'FAILED'} on ${o.host}`, ''];
  const width = Math.max(...facts.map(([k]) => k.length)) + 1;
  for (const [k, v] of facts) lines.push(`${`${k}:`.padEnd(width)} ${v}`);
  if (o.error) {
    lines.push('', `Error (${o.error.code}):`, ...indent(clip(o.error.message, ERROR_MESSAGE_MAX).split('\n')));
  }
  if (tail.length) lines.push('', `Last ${tail.length} line${tail.length === 1 ? '' : 's'} of ${o.error?.stage ?? 'the program'}'s stderr:`, ...indent(tail));
  if (step) lines.push('', `Next step: ${step}.`);
  lines.push('', '-- ', `backupmate on ${o.host}`);

  // Slack: header, facts as fields, error, stderr in a code block, next step.
  const icon = { failure: ':rotating_light:', success: ':white_check_mark:', cancelled: ':no_entry_sign:' }[kind];
  const blocks: SlackBlocks = [
    { type: 'header', text: { type: 'plain_text', text: clip(`${status} ${what} on ${o.host}`, 150), emoji: true } },
    {
      type: 'section',
      // Slack shows at most 10 fields per section.
      fields: facts.slice(0, 10).map(([k, v]) => ({ type: 'mrkdwn' as const, text: `*${k}*\n${clip(mrkdwn(v), FIELD_MAX)}` })),
    },
  ];
  if (o.error) {
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: `*Error* \`${clip(mrkdwn(o.error.code), 100)}\`\n${clip(mrkdwn(o.error.message), ERROR_MESSAGE_MAX)}` } });
  }
  if (tail.length) {
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: `*Last lines of stderr*\n${codeBlock(tail)}` } });
  }
  if (step) blocks.push({ type: 'section', text: { type: 'mrkdwn', text: `*Next step:* ${mrkdwn(step)}` } });

  return { kind, subject, text: lines.join('\n') + '\n', slack: { text: `${icon} ${mrkdwn(subject)}`, blocks } };
}

function kindPhrase(kind: JobOutcome['kind']): string {
  switch (kind) {
    case 'full':
      return 'full backup';
    case 'incremental':
      return 'incremental backup';
    case 'restore':
      return 'restore';
    case 'verify':
      return 'verify';
    case 'copy':
      return 'copy to the second store';
    case 'drill':
      return 'restore drill';
    default:
      return 'backup';
  }
}

/** The parenthesis of the subject: why it failed, or what was made. */
function subjectReason(o: JobOutcome, kind: 'failure' | 'success' | 'cancelled'): string {
  if (kind === 'success') {
    const parts = [o.backupId, o.bytes !== undefined ? fmtBytes(o.bytes) : undefined].filter((p): p is string => !!p);
    const made = parts.join(', ');
    return o.durationMs !== undefined ? `${made}${made ? ' in ' : ''}${fmtDuration(o.durationMs)}` : made;
  }
  const e = o.error;
  if (!e) return '';
  if (e.stage && e.exitCode != null) return `${e.stage} exited with code ${e.exitCode}`;
  const first = e.message.split('\n').find((l) => l.trim() !== '')?.trim() ?? '';
  return clip(first || e.code, SUBJECT_REASON_MAX);
}

/** The facts of a job, in reading order, as [name, value]; absent facts are left out. */
function jobFacts(o: JobOutcome, opts: FormatOptions): [string, string][] {
  const facts: [string, string][] = [
    ['Host', o.host],
    ['Job', o.jobId ?? '(not run by the daemon)'],
    ['Kind', o.kind === 'auto' ? 'auto (full or incremental not decided yet)' : o.kind],
    ['Trigger', o.trigger],
  ];
  if (o.error?.stage) facts.push(['Stage', o.error.stage]);
  if (o.error?.exitCode != null) facts.push(['Exit code', String(o.error.exitCode)]);
  if (o.backupId) facts.push(['Backup', o.backupId]);
  if (o.startedAt) facts.push(['Started', when(o.startedAt, opts.timeZone)]);
  if (o.finishedAt) facts.push(['Finished', when(o.finishedAt, opts.timeZone)]);
  if (o.durationMs !== undefined) facts.push(['Duration', fmtDuration(o.durationMs)]);
  if (o.bytes !== undefined && o.bytes > 0) facts.push(['Size', fmtBytes(o.bytes)]);
  return facts;
}

/** The last STDERR_TAIL_LINES non-blank-trailing lines, each clipped, without ANSI colours. */
export function stderrTail(tail: readonly string[] | undefined): string[] {
  if (!tail) return [];
  // eslint-disable-next-line no-control-regex
  const cleaned = tail.map((l) => clip(l.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '').replace(/\r/g, '').trimEnd(), STDERR_LINE_MAX));
  while (cleaned.length && cleaned[cleaned.length - 1] === '') cleaned.pop();
  return cleaned.slice(-STDERR_TAIL_LINES);
}

// ---------------------------------------------------------------------------------------------
// Stale alert

export function formatStaleMessage(info: StaleInfo, opts: FormatOptions = {}): Notification {
  const last = info.lastSuccessAt ? new Date(info.lastSuccessAt) : null;
  const age = last && !Number.isNaN(last.getTime()) ? info.now.getTime() - last.getTime() : null;
  const since = age !== null ? `no successful backup for ${humanDuration(age)}` : 'no successful backup recorded';
  const subject = oneLine(`${SUBJECT_PREFIX} STALE backups on ${info.host}: ${since}`);
  const facts: [string, string][] = [
    ['Host', info.host],
    ['Last success', info.lastSuccessAt ? `${when(info.lastSuccessAt, opts.timeZone)}${age !== null ? ` (${humanDuration(age)} ago)` : ''}` : 'none recorded'],
    ['Alert after', humanDuration(info.staleAfterMs)],
    ['Checked', when(info.now.toISOString(), opts.timeZone)],
  ];
  const width = Math.max(...facts.map(([k]) => k.length)) + 1;
  const text = [
    `Backups on ${info.host} are stale: ${since}.`,
    '',
    ...facts.map(([k, v]) => `${`${k}:`.padEnd(width)} ${v}`),
    '',
    `Next step: ${STALE_NEXT_STEP}.`,
    '',
    '-- ',
    `backupmate on ${info.host}`,
  ].join('\n');
  const blocks: SlackBlocks = [
    { type: 'header', text: { type: 'plain_text', text: clip(`STALE backups on ${info.host}`, 150), emoji: true } },
    { type: 'section', text: { type: 'mrkdwn', text: mrkdwn(`${since}.`) } },
    { type: 'section', fields: facts.map(([k, v]) => ({ type: 'mrkdwn' as const, text: `*${k}*\n${clip(mrkdwn(v), FIELD_MAX)}` })) },
    { type: 'section', text: { type: 'mrkdwn', text: `*Next step:* ${mrkdwn(STALE_NEXT_STEP)}` } },
  ];
  return { kind: 'stale', subject, text: text + '\n', slack: { text: `:warning: ${mrkdwn(subject)}`, blocks } };
}

/** "2d 3h", "5h 12m", "45m", "30s": the two largest units, a zero second unit left out. */
export function humanDuration(ms: number): string {
  let rest = Math.max(0, Math.round(ms / 1000));
  const counts: [string, number][] = [];
  for (const [name, size] of [['d', 86_400], ['h', 3_600], ['m', 60], ['s', 1]] as const) {
    counts.push([name, Math.floor(rest / size)]);
    rest %= size;
  }
  const first = counts.findIndex(([, n]) => n > 0);
  if (first < 0) return '0s';
  return counts
    .slice(first, first + 2)
    .filter(([, n], i) => i === 0 || n > 0)
    .map(([name, n]) => `${n}${name}`)
    .join(' ');
}

// ---------------------------------------------------------------------------------------------
// Text helpers

/** An instant as wall clock in the zone plus the ISO text ("2026-11-21T04:00 UTC"); raw text if unparsable. */
function when(iso: string, timeZone: string | undefined): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  try {
    return formatInZone(d, timeZone || undefined);
  } catch {
    return iso;
  }
}

/** Cuts `s` to at most `max` characters, marking the cut with "...". */
export function clip(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, Math.max(0, max - 3))}...` : s;
}

/** One printable ASCII line: control characters become spaces, other non-ASCII becomes "?". */
function oneLine(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\x00-\x1f\x7f]+/g, ' ').replace(/[^\x20-\x7e]/g, '?').replace(/\s+/g, ' ').trim();
}

function indent(lines: readonly string[]): string[] {
  return lines.map((l) => `    ${l}`);
}

/** Slack mrkdwn: &, < and > must be escaped, or "<x|y>" would become a link. */
function mrkdwn(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * A Slack code block of at most CODE_BLOCK_MAX characters inside its fences: lines are escaped
 * first (escaping can make a line five times longer), then the oldest lines are dropped until the
 * rest fits, since the last lines say most. A "```" inside would end the block early, so it is
 * broken up.
 */
function codeBlock(lines: readonly string[]): string {
  const escaped = lines.map((l) => clip(mrkdwn(l).replace(/```/g, "'''"), CODE_BLOCK_MAX));
  while (escaped.length > 1 && escaped.join('\n').length > CODE_BLOCK_MAX) escaped.shift();
  return '```\n' + escaped.join('\n') + '\n```';
}
