/**
 * backupmate's command line (buildProgram with recording handlers): every placement of --config a
 * user would write reaches the command with the file, and help shown for a usage error exits 64.
 */
import { CommanderError, type Command } from 'commander';
import { buildProgram, type Handlers } from '../../../src/cli/backupmate.js';
import { commanderExit } from '../../../src/cli/main.js';
import { loadOptions } from '../../../src/cli/commands.js';

interface Call {
  handler: string;
  args: unknown[];
}

function recording(): { handlers: Handlers; calls: Call[] } {
  const calls: Call[] = [];
  const rec =
    (handler: string) =>
    async (...args: unknown[]) => {
      calls.push({ handler, args });
    };
  const handlers = {
    backupCommand: rec('backup'),
    checkCommand: rec('check'),
    configCommand: rec('config'),
    listCommand: rec('list'),
    pruneCommand: rec('prune'),
    restoreCommand: rec('restore'),
    runCommand: rec('run'),
    verifyCommand: rec('verify'),
  } as unknown as Handlers;
  return { handlers, calls };
}

function quiet(p: Command): Command {
  p.configureOutput({ writeOut: () => {}, writeErr: () => {} });
  for (const c of p.commands) quiet(c);
  return p;
}

/** Parses `args` as the user typed them; returns the calls and the exit status runMain would set. */
async function parse(args: string[]): Promise<{ calls: Call[]; exit: number }> {
  const { handlers, calls } = recording();
  try {
    await quiet(buildProgram(handlers)).parseAsync(args, { from: 'user' });
    return { calls, exit: 0 };
  } catch (e) {
    if (e instanceof CommanderError) return { calls, exit: commanderExit(e) };
    throw e;
  }
}

/** The options object the handler got (the last argument but for restore/verify's id). */
function optsOf(call: Call): Record<string, unknown> {
  return call.args[call.args.length - 1] as Record<string, unknown>;
}

describe('--config placements (issue 11 item 2)', () => {
  test.each([
    [['--config', 'F.env', 'backup']],
    [['backup', '--config', 'F.env']],
    [['-c', 'F.env', 'backup']],
    [['backup', '-c', 'F.env']],
    [['--config=F.env', 'backup']],
    [['backup', '--config=F.env']],
    [['-cF.env', 'backup']],
  ])('backupmate %j runs the backup with config [F.env]', async (args) => {
    const { calls, exit } = await parse(args);
    expect(exit).toBe(0);
    expect(calls.map((c) => c.handler)).toEqual(['backup']);
    expect(optsOf(calls[0]).config).toEqual(['F.env']);
  });

  test('--config is repeatable, in the order given, before and after the command', async () => {
    const { calls } = await parse(['--config', 'A.env', 'backup', '--full', '--config', 'B.env']);
    expect(calls).toHaveLength(1);
    expect(optsOf(calls[0])).toMatchObject({ config: ['A.env', 'B.env'], full: true });
  });

  test.each([
    [['--config', 'F.env', 'config', 'check']],
    [['config', 'check', '--config', 'F.env']],
    [['config', '--config', 'F.env', 'check']],
  ])('backupmate %j reaches config check', async (args) => {
    const { calls, exit } = await parse(args);
    expect(exit).toBe(0);
    expect(calls.map((c) => [c.handler, c.args[0]])).toEqual([['config', 'check']]);
    expect(optsOf(calls[0]).config).toEqual(['F.env']);
  });

  test.each([
    [['--config', 'F.env', 'run'], 'run'],
    [['--config', 'F.env', 'verify', 'all'], 'verify'],
    [['--config', 'F.env', 'list', '--json'], 'list'],
    [['--config', 'F.env', 'prune', '--dry-run'], 'prune'],
    [['--config', 'F.env', 'check'], 'check'],
  ])('backupmate %j reaches %s', async (args, handler) => {
    const { calls, exit } = await parse(args);
    expect(exit).toBe(0);
    expect(calls.map((c) => c.handler)).toEqual([handler]);
    expect(optsOf(calls[0]).config).toEqual(['F.env']);
  });
});

describe('usage errors exit 64, asked-for help and version 0', () => {
  test.each([
    [[], 64],
    [['--config', 'F.env'], 64],
    [['bogus'], 64],
    [['config'], 64],
    [['backup', '--config'], 64],
    [['backup', '--bogus'], 64],
    [['--help'], 0],
    [['help'], 0],
    [['help', 'backup'], 0],
    [['backup', '--help'], 0],
    [['--version'], 0],
  ])('backupmate %j exits %i and runs nothing', async (args, status) => {
    const { calls, exit } = await parse(args);
    expect(exit).toBe(status);
    expect(calls).toEqual([]);
  });
});

describe('loadOptions: --config means only the given files, for every command', () => {
  test('with --config: only those files', () => {
    expect(loadOptions({ config: ['a.env', 'b.env'] })).toEqual({ files: ['a.env', 'b.env'], onlyFiles: true });
  });
  test('without: /etc/backupmate/*.env and ./.backupmate.env', () => {
    expect(loadOptions({})).toEqual({ files: undefined, onlyFiles: false });
  });
});

describe('backupmatectl: help printed for a usage error is not a success', () => {
  const io = () => {
    const out: string[] = [];
    return {
      out,
      io: {
        stdin: process.stdin,
        stdout: { write: (s: string) => out.push(s) },
        stderr: { write: (s: string) => out.push(s) },
        isTTY: { stdin: false, stderr: false },
        env: {},
        cwd: '/',
      },
    };
  };
  test.each([
    [[], 64],
    [['bogus'], 64],
    [['--help'], 0],
    [['help'], 0],
    [['--version'], 0],
  ])('backupmatectl %j exits %i', async (args, status) => {
    const { main } = await import('../../../src/ctl/main.js');
    expect(await main(args, io().io)).toBe(status);
  });
});
