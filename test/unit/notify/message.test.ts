import {
  classify,
  clip,
  formatJobMessage,
  formatStaleMessage,
  humanDuration,
  shouldNotify,
  stderrTail,
  STDERR_TAIL_LINES,
  type JobOutcome,
  type Notification,
} from '../../../src/notify/message.js';
import { nextStep } from '../../../src/notify/next-step.js';

const stderr = Array.from({ length: 15 }, (_, i) => `[00] 2026-11-21 04:00:${String(i).padStart(2, '0')} line ${i + 1}`);

const failed: JobOutcome = {
  host: 'db1',
  jobId: 'j-000042',
  kind: 'full',
  trigger: 'schedule',
  status: 'failed',
  error: {
    code: 'TOOL_FAILED',
    message: 'mariabackup exited with code 1: Error: failed to execute query FLUSH TABLES: Access denied; you need (at least one of) the RELOAD privilege(s)',
    stage: 'mariabackup',
    exitCode: 1,
    stderrTail: stderr,
  },
  startedAt: '2026-11-21T04:00:00.000Z',
  finishedAt: '2026-11-21T04:00:15.000Z',
  durationMs: 15_000,
  bytes: 0,
};

/** Every text a channel shows: subject, e-mail body, Slack fallback and all block texts. */
function slackTexts(n: Notification): string[] {
  const out: string[] = [];
  for (const b of n.slack.blocks as unknown as { text?: { text: string }; fields?: { text: string }[] }[]) {
    if (b.text) out.push(b.text.text);
    for (const f of b.fields ?? []) out.push(f.text);
  }
  return out;
}

describe('formatJobMessage: a failed backup', () => {
  const n = formatJobMessage(failed, { timeZone: 'UTC' });
  const slack = slackTexts(n).join('\n');

  test('subject: status, kind, host and why', () => {
    expect(n.kind).toBe('failure');
    expect(n.subject).toBe('[backupmate] FAILED full backup on db1 (mariabackup exited with code 1)');
  });

  test.each([
    ['host', 'db1'],
    ['job id', 'j-000042'],
    ['kind', 'full'],
    ['trigger', 'schedule'],
    ['stage', 'mariabackup'],
    ['error code', 'TOOL_FAILED'],
    ['error message', 'the RELOAD privilege(s)'],
    ['next step', nextStep('TOOL_FAILED', 'mariabackup')],
    ['start time in the zone', '2026-11-21T04:00 UTC'],
  ])('the e-mail body and the Slack blocks name the %s', (_what, text) => {
    expect(n.text).toContain(text);
    expect(slack).toContain(text);
  });

  test('the e-mail body lists the facts one per line', () => {
    expect(n.text).toMatch(/^Host: +db1$/m);
    expect(n.text).toMatch(/^Job: +j-000042$/m);
    expect(n.text).toMatch(/^Kind: +full$/m);
    expect(n.text).toMatch(/^Stage: +mariabackup$/m);
    expect(n.text).toMatch(/^Exit code: +1$/m);
    expect(n.text).toMatch(/^Duration: +15\.0s$/m);
    expect(n.text).toMatch(/^Next step: check mariabackup's output above; .*\.$/m);
    expect(n.text).not.toMatch(/^Size:/m); // 0 bytes is not worth a line
  });

  test('stderr: the last 10 lines, indented as a block in the e-mail, fenced in Slack', () => {
    expect(STDERR_TAIL_LINES).toBe(10);
    for (const line of stderr.slice(-10)) {
      expect(n.text).toContain(`    ${line}\n`);
    }
    for (const line of stderr.slice(0, 5)) {
      expect(n.text).not.toContain(line);
      expect(slack).not.toContain(line);
    }
    expect(n.text).toContain("Last 10 lines of mariabackup's stderr:");
    const block = slackTexts(n).find((t) => t.startsWith('*Last lines of stderr*'))!;
    expect(block).toBe(`*Last lines of stderr*\n\`\`\`\n${stderr.slice(-10).join('\n')}\n\`\`\``);
  });

  test('the Slack fallback text is the subject with an icon', () => {
    expect(n.slack.text).toBe(`:rotating_light: ${n.subject}`);
    expect(n.slack.blocks[0]).toEqual({ type: 'header', text: { type: 'plain_text', text: 'FAILED full backup on db1', emoji: true } });
  });
});

describe('formatJobMessage: other outcomes', () => {
  test('a failure without stderr never points at "the output above": it names where to look', () => {
    const base = { host: 'db1', jobId: 'j-8', kind: 'full' as const, trigger: 'schedule', status: 'failed' as const };
    const client = formatJobMessage({
      ...base,
      error: { code: 'TOOL_FAILED', stage: 'mariadb-client', message: 'cannot query the server at socket /run/mysqld/mysqld.sock as backup (DB_* settings): Access denied' },
    });
    expect(client.text).not.toMatch(/output above/);
    expect(client.text).toMatch(/Next step: the server could not be asked .*DB_SOCKET.*DB_PASSWORD/);
    const other = formatJobMessage({ ...base, error: { code: 'TOOL_FAILED', stage: 'container', message: 'tar writer failed' } });
    expect(other.text).not.toMatch(/above/);
    expect(other.text).toContain('journalctl -u backupmate');
    // With a stderr tail, "above" is where it is.
    const quoted = formatJobMessage({ ...base, error: { code: 'TOOL_FAILED', stage: 'container', message: 'x', stderrTail: ['boom'] } });
    expect(quoted.text).toMatch(/Last 1 line of container's stderr:[\s\S]*Next step: check the container output above/);
  });

  test('a failure without exit code: the subject quotes the first line of the error', () => {
    const n = formatJobMessage({
      host: 'db1',
      jobId: 'j-7',
      kind: 'incremental',
      trigger: 'manual',
      status: 'failed',
      error: { code: 'STORAGE', message: 'PutObject on bucket backups failed: AccessDenied\nsecond line' },
    });
    expect(n.subject).toBe('[backupmate] FAILED incremental backup on db1 (PutObject on bucket backups failed: AccessDenied)');
    expect(n.text).toContain(nextStep('STORAGE'));
    expect(n.text).not.toContain('Last '); // no stderr section
    expect(slackTexts(n).some((t) => t.includes('```'))).toBe(false);
  });

  test('a long error is clipped in the subject', () => {
    const n = formatJobMessage({ ...failed, error: { code: 'INTERNAL', message: 'x'.repeat(500) } });
    expect(n.subject.length).toBeLessThan(160);
    expect(n.subject).toMatch(/x\.\.\.\)$/);
  });

  test('a success: OK, the backup id, size and duration; no next step', () => {
    const n = formatJobMessage({
      host: 'db1',
      jobId: 'j-8',
      kind: 'incremental',
      trigger: 'schedule',
      status: 'succeeded',
      backupId: '20261121T040000Z',
      bytes: 1536 * 1024 * 1024,
      durationMs: 250_000,
    });
    expect(n.kind).toBe('success');
    expect(n.subject).toBe('[backupmate] OK incremental backup on db1 (20261121T040000Z, 1.5 GiB in 4m10s)');
    expect(n.text).not.toContain('Next step');
    expect(n.text).toMatch(/^Backup: +20261121T040000Z$/m);
    expect(n.slack.text.startsWith(':white_check_mark:')).toBe(true);
  });

  test('a cancellation: CANCELLED and the CANCELLED next step', () => {
    const n = formatJobMessage({
      host: 'db1',
      jobId: 'j-9',
      kind: 'full',
      trigger: 'manual',
      status: 'cancelled',
      error: { code: 'CANCELLED', message: 'job j-9 was cancelled' },
    });
    expect(n.kind).toBe('cancelled');
    expect(n.subject).toBe('[backupmate] CANCELLED full backup on db1 (job j-9 was cancelled)');
    expect(n.text).toContain(nextStep('CANCELLED'));
  });

  test('a restore and an undecided (auto) backup are named as such; a CLI job has no job id', () => {
    const r = formatJobMessage({ ...failed, kind: 'restore', jobId: null, error: { code: 'TARGET_STATE', message: 'datadir not empty' } });
    expect(r.subject).toBe('[backupmate] FAILED restore on db1 (datadir not empty)');
    expect(r.text).toMatch(/^Job: +\(not run by the daemon\)$/m);
    const a = formatJobMessage({ ...failed, kind: 'auto' });
    expect(a.subject).toMatch(/^\[backupmate\] FAILED backup on db1 /);
    expect(a.text).toMatch(/^Kind: +auto \(full or incremental not decided yet\)$/m);
  });

  test('subjects are one printable ASCII line whatever the host and error contain', () => {
    const n = formatJobMessage({ ...failed, host: 'db1\r\nBcc: x@example.com', error: { code: 'INTERNAL', message: 'kaputt – ü\tbad' } });
    expect(n.subject).toMatch(/^[\x20-\x7e]+$/);
    expect(n.subject).toBe('[backupmate] FAILED full backup on db1 Bcc: x@example.com (kaputt ? ? bad)');
  });

  test('Slack: <, > and & are escaped, "```" cannot end the code block, colours and CRs are stripped', () => {
    const n = formatJobMessage({
      ...failed,
      error: {
        code: 'TOOL_FAILED',
        stage: 'mariabackup',
        exitCode: 1,
        message: 'see <!channel> & <https://evil.example|here>',
        stderrTail: ['\x1b[31mred\x1b[0m', 'has ``` fence', 'a < b && c > d\r', '', ''],
      },
    });
    const texts = slackTexts(n).join('\n');
    expect(texts).toContain('see &lt;!channel&gt; &amp; &lt;https://evil.example|here&gt;');
    expect(texts).not.toMatch(/<!channel>/);
    expect(texts).toContain("```\nred\nhas ''' fence\na &lt; b &amp;&amp; c &gt; d\n```");
    // Trailing blank lines are dropped, so the tail ends with real output.
    expect(n.text).toContain('Last 3 lines');
  });

  test.each([
    ['plain text', 'm', 's'],
    ['text that escaping makes five times longer', '&', '&'],
  ])("Slack's limits hold for huge errors and stderr lines (%s)", (_what, m, s) => {
    const n = formatJobMessage({
      ...failed,
      host: m.repeat(400),
      trigger: m.repeat(3000),
      error: { code: 'TOOL_FAILED', stage: 'mariabackup', exitCode: 1, message: m.repeat(10_000), stderrTail: Array(50).fill(s.repeat(5000)) },
    });
    const blocks = n.slack.blocks as unknown as { type: string; text?: { text: string }; fields?: { text: string }[] }[];
    for (const b of blocks) {
      if (b.type === 'header') expect(b.text!.text.length).toBeLessThanOrEqual(150);
      else if (b.text) expect(b.text.text.length).toBeLessThanOrEqual(3000);
      expect((b.fields ?? []).length).toBeLessThanOrEqual(10);
      for (const f of b.fields ?? []) expect(f.text.length).toBeLessThanOrEqual(2000);
    }
    // The stderr block keeps its fences and at least the last line.
    expect(slackTexts(n).find((t) => t.startsWith('*Last lines of stderr*'))).toMatch(/^\*Last lines of stderr\*\n```\n[^`]+\n```$/);
  });

  test('when escaping makes the stderr block too long for Slack, the oldest lines go first', () => {
    // Each line escapes to 1 + 100 * 5 = 501 characters: five fit in 2900, six do not.
    const tail = Array.from({ length: 10 }, (_, i) => `${i}${'&'.repeat(100)}`);
    const n = formatJobMessage({ ...failed, error: { ...failed.error!, stderrTail: tail } });
    const block = slackTexts(n).find((t) => t.startsWith('*Last lines of stderr*'))!;
    const escaped = tail.map((l) => l.replace(/&/g, '&amp;'));
    expect(block).toBe(`*Last lines of stderr*\n\`\`\`\n${escaped.slice(-5).join('\n')}\n\`\`\``);
    // The e-mail has no such limit.
    for (const line of tail) expect(n.text).toContain(`    ${line}\n`);
  });
});

describe('which outcomes are sent', () => {
  const base = { host: 'db1', jobId: 'j-1', kind: 'full', trigger: 'schedule' } as const;
  const success: JobOutcome = { ...base, status: 'succeeded' };
  const failure: JobOutcome = { ...base, status: 'failed', error: { code: 'STORAGE', message: 'x' } };
  const cancelled: JobOutcome = { ...base, status: 'cancelled', error: { code: 'CANCELLED', message: 'the daemon is stopping' } };
  const failedAsCancel: JobOutcome = { ...base, status: 'failed', error: { code: 'CANCELLED', message: 'job j-1 was cancelled' } };

  test('classify', () => {
    expect([success, failure, cancelled, failedAsCancel].map(classify)).toEqual(['success', 'failure', 'cancelled', 'cancelled']);
  });

  test('NOTIFY_ON=failure: failures only; cancellations (user or shutdown) are not alerts', () => {
    expect(shouldNotify(failure, 'failure')).toBe(true);
    expect(shouldNotify(success, 'failure')).toBe(false);
    expect(shouldNotify(cancelled, 'failure')).toBe(false);
    expect(shouldNotify(failedAsCancel, 'failure')).toBe(false);
  });

  test('NOTIFY_ON=always: everything', () => {
    for (const o of [success, failure, cancelled, failedAsCancel]) expect(shouldNotify(o, 'always')).toBe(true);
  });
});

describe('formatStaleMessage', () => {
  test('names the host, the last success and its age, the threshold and the next step', () => {
    const n = formatStaleMessage(
      { host: 'db1', lastSuccessAt: '2026-11-16T03:00:00.000Z', staleAfterMs: 48 * 3_600_000, now: new Date('2026-11-18T06:30:00Z') },
      { timeZone: 'UTC' },
    );
    expect(n.kind).toBe('stale');
    expect(n.subject).toBe('[backupmate] STALE backups on db1: no successful backup for 2d 3h');
    expect(n.text).toMatch(/^Last success: +2026-11-16T03:00 UTC \(2d 3h ago\)$/m);
    expect(n.text).toMatch(/^Alert after: +2d$/m);
    expect(n.text).toContain('backupmatectl status');
    expect(slackTexts(n).join('\n')).toContain('backupmatectl status');
    expect(n.slack.text.startsWith(':warning:')).toBe(true);
  });

  test('without any success', () => {
    const n = formatStaleMessage({ host: 'db1', lastSuccessAt: null, staleAfterMs: 7_200_000, now: new Date('2026-11-18T06:30:00Z') });
    expect(n.subject).toBe('[backupmate] STALE backups on db1: no successful backup recorded');
    expect(n.text).toMatch(/^Last success: +none recorded$/m);
    expect(n.text).toMatch(/^Alert after: +2h$/m);
  });
});

describe('helpers', () => {
  test('humanDuration: two largest units, no zero second unit', () => {
    expect(humanDuration(0)).toBe('0s');
    expect(humanDuration(30_000)).toBe('30s');
    expect(humanDuration(45 * 60_000)).toBe('45m');
    expect(humanDuration(3_600_000)).toBe('1h');
    expect(humanDuration(5 * 3_600_000 + 12 * 60_000 + 9_000)).toBe('5h 12m');
    expect(humanDuration(2 * 86_400_000 + 3 * 3_600_000 + 59_000)).toBe('2d 3h');
    expect(humanDuration(2 * 86_400_000 + 5 * 60_000)).toBe('2d');
  });

  test('clip', () => {
    expect(clip('abcdef', 10)).toBe('abcdef');
    expect(clip('abcdefghijk', 10)).toBe('abcdefg...');
  });

  test('stderrTail: at most 10 lines, trailing blanks dropped, nothing for no tail', () => {
    expect(stderrTail(undefined)).toEqual([]);
    expect(stderrTail(['', ''])).toEqual([]);
    expect(stderrTail(['a', '', 'b', ' '])).toEqual(['a', '', 'b']);
    expect(stderrTail(stderr)).toEqual(stderr.slice(-10));
  });
});
