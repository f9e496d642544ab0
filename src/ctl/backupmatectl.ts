#!/usr/bin/env node
/**
 * `backupmatectl`: the thin client of the resident daemon (`backupmate run`). The daemon and its
 * control socket arrive in a later version; until then this says so plainly and exits 69.
 */
// Node 20 is supported by this release; the SDK's notice about future releases is noise at 3 a.m.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
import { Command } from 'commander';
import { BackupmateError } from '../domain/errors.js';
import { runMain } from '../cli/main.js';
import { VERSION } from '../version.js';

await runMain('backupmatectl', async (argv) => {
  const program = new Command('backupmatectl')
    .description('control the backupmate daemon over its Unix socket (status, list, backup, restore, verify, cancel)')
    .version(VERSION, '-V, --version', 'print the version')
    .argument('[command...]', 'the daemon command')
    .exitOverride()
    .action(() => {
      throw new BackupmateError(
        'TOOL_MISSING',
        'the backupmate daemon is not part of this version yet; use the one-shot commands instead: backupmate backup | list | restore',
      );
    });
  await program.parseAsync(argv);
});
