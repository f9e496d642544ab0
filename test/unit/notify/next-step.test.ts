import { ERROR_CODES, type ErrorCode } from '../../../src/domain/errors.js';
import { nextStep, STALE_NEXT_STEP } from '../../../src/notify/next-step.js';

describe('nextStep', () => {
  test.each([
    [
      'STORAGE',
      undefined,
      'the store could not be reached or refused the request: check S3_ENDPOINT and the network first, then the credentials, ' +
        'bucket name and region (backupmate config check); a failed backup left nothing valid-looking, and the next run tries again',
    ],
    ['CONFIG', undefined, 'fix the configuration (backupmate config check)'],
    ['INTERNAL', undefined, 'a bug: report it with the log (journalctl -u backupmate)'],
    [
      'TOOL_FAILED',
      'mariabackup',
      "check mariabackup's output above; the backup user's privileges (RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR) and that mariabackup matches the server version",
    ],
  ])('%s (stage %s) has the agreed wording', (code, stage, expected) => {
    expect(nextStep(code, stage)).toBe(expected);
  });

  test('BACKUP_NOT_FOUND from the planner (a refused --incremental) says to take a full, not to pick another backup', () => {
    expect(nextStep('BACKUP_NOT_FOUND', 'plan')).toMatch(/take a full backup .*backupmatectl backup --full/);
    expect(nextStep('BACKUP_NOT_FOUND')).toMatch(/pick a backup that exists/);
  });

  test('CANCELLED says there is nothing to fix when intended, and how to start again', () => {
    expect(nextStep('CANCELLED')).toMatch(/nothing to fix if the cancel was intended/);
    expect(nextStep('CANCELLED')).toMatch(/backupmatectl backup/);
  });

  test('INTEGRITY says not to rely on the backup, to verify and to take a new full', () => {
    const s = nextStep('INTEGRITY');
    expect(s).toMatch(/do not rely on this backup/);
    expect(s).toMatch(/backupmatectl verify/);
    expect(s).toMatch(/backupmatectl backup --full/);
  });

  test('LOCAL_IO points at free space and LOCAL_TEMP_DIR', () => {
    expect(nextStep('LOCAL_IO')).toMatch(/free space/);
    expect(nextStep('LOCAL_IO')).toMatch(/LOCAL_TEMP_DIR/);
  });

  test('TOOL_MISSING names the key to set for the missing program', () => {
    expect(nextStep('TOOL_MISSING', 'mariabackup')).toMatch(/MARIADB_BACKUP_PATH/);
    expect(nextStep('TOOL_MISSING', 'prepare')).toMatch(/MARIADB_BACKUP_PATH/);
    expect(nextStep('TOOL_MISSING', 'mbstream')).toMatch(/MBSTREAM_PATH/);
    expect(nextStep('TOOL_MISSING', 'compressor')).toMatch(/zstd/);
    expect(nextStep('TOOL_MISSING')).toMatch(/MARIADB_BACKUP_PATH, MBSTREAM_PATH/);
  });

  test('TOOL_FAILED depends on the stage', () => {
    expect(nextStep('TOOL_FAILED', 'prepare')).toMatch(/--prepare/);
    expect(nextStep('TOOL_FAILED', 'compressor')).toMatch(/compressor's output.*COMPRESSION/);
    expect(nextStep('TOOL_FAILED', 'mbstream')).toMatch(/MBSTREAM_PATH/);
    expect(nextStep('TOOL_FAILED', 'copy-back')).toMatch(/MARIADB_DATADIR/);
    expect(nextStep('TOOL_FAILED', 'container')).toBe('check the container output above (last lines of stderr) and the log (journalctl -u backupmate)');
    expect(nextStep('TOOL_FAILED')).toBe('check the output above (last lines of stderr) and the log (journalctl -u backupmate)');
    expect(nextStep('TOOL_FAILED', '')).toBe(nextStep('TOOL_FAILED'));
  });

  test('a job that died with the daemon (stage daemon) is not called a bug', () => {
    const s = nextStep('INTERNAL', 'daemon');
    expect(s).toMatch(/^the daemon died while this job ran/);
    expect(s).not.toMatch(/bug/);
    expect(nextStep('INTERNAL', 'upload')).toMatch(/^a bug/);
  });

  test('a store outage reads as the store being unreachable, not as a bug', () => {
    expect(nextStep('STORAGE', 'upload')).toMatch(/^the store could not be reached.*S3_ENDPOINT and the network.*nothing valid-looking/);
    expect(nextStep('STORAGE', 'upload')).not.toMatch(/bug/);
  });

  test('"the output above" only when stderr is quoted above; otherwise the log is where to look', () => {
    for (const stage of [undefined, 'container', 'mariabackup', 'prepare', 'copy-back', 'compressor', 'mbstream']) {
      const s = nextStep('TOOL_FAILED', stage, { stderrShown: false });
      expect(s).not.toMatch(/above/);
      expect(s).toMatch(/journalctl -u backupmate/);
    }
    expect(nextStep('TOOL_FAILED', 'mariabackup', { stderrShown: true })).toMatch(/^check mariabackup's output above;/);
  });

  test('the mariadb client failing (a query to the server): what to check, nothing "above"', () => {
    for (const stderrShown of [true, false]) {
      const s = nextStep('TOOL_FAILED', 'mariadb-client', { stderrShown });
      expect(s).not.toMatch(/output above/);
      expect(s).toMatch(/DB_SOCKET.*DB_USER and DB_PASSWORD/);
    }
  });

  test('every registered code has its own sentence: non-empty, one line, no trailing period', () => {
    const fallback = nextStep('NO_SUCH_CODE');
    for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) {
      for (const stage of [undefined, 'mariabackup', 'compressor', 'mbstream', 'prepare', 'download']) {
        const s = nextStep(code, stage);
        expect(s.trim()).not.toBe('');
        expect(s).not.toMatch(/\n/);
        expect(s).not.toMatch(/\.$/);
        expect(s).not.toBe(fallback);
      }
    }
  });

  test('an unknown code still gets a sentence naming it', () => {
    expect(nextStep('E_WEIRD')).toBe('see the log (journalctl -u backupmate) for error E_WEIRD');
    expect(nextStep('')).toBe('see the log (journalctl -u backupmate) for error (no code)');
    // Inherited object keys are not codes.
    expect(nextStep('toString')).toMatch(/for error toString/);
  });

  test('the stale alert has its own next step', () => {
    expect(STALE_NEXT_STEP).toMatch(/backupmatectl status/);
    expect(STALE_NEXT_STEP).toMatch(/journalctl -u backupmate/);
  });
});
