#!/usr/bin/env node
/**
 * `backupmatectl`: the thin client of the resident daemon (`backupmate run`), speaking the control
 * protocol (src/daemon/protocol.ts) on its Unix socket. The commands live in main.ts; this entry
 * point only wires the real process in and sets the exit status.
 *
 * Exit statuses come from the error registry (src/domain/errors.ts, documented in the README).
 * Errors print one line, never a stack trace.
 */
// Node 20 is supported by this release; the SDK's notice about future releases is noise at 3 a.m.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
import { main, processIo } from './main.js';

// Ctrl-C only stops watching: the daemon goes on with a job it has started, and counts an
// unanswered confirmation as "no". Say so instead of dying mid progress bar. 130 = 128 + SIGINT.
process.once('SIGINT', () => {
  process.stderr.write(
    '\nbackupmatectl: interrupted: stopped watching; a job the daemon already started goes on ' +
      '(see backupmatectl status, stop it with backupmatectl cancel); an unanswered confirmation counts as no\n',
  );
  process.exit(130);
});

process.exitCode = await main(process.argv.slice(2), processIo());
