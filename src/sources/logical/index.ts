/**
 * The logical source: a consistent parallel dump of the server (mydumper, see dump.ts for why),
 * users and grants as SQL (users.ts), stored as a tar of the dump directory
 * through the same pipeline, store and manifest as every source. Always a full: a dump has no
 * parent.
 *
 *   backup:   mydumper into the job dir → row counts from its data files, the snapshot's binlog
 *             position and GTID from its metadata → tar of the directory = the raw stream
 *   restore:  the decoded tar is extracted (tar -x) into staging; every file the payload names
 *             must be there; then
 *               target-dir:  the plain SQL files are moved into DIR (mydumper's layout: myloader
 *                            or `mariadb` can load them without backupmate)
 *               into-server: load.ts loads them, staged and checked, into the server at
 *                            DB_HOST/DB_SOCKET as RESTORE_DB_USER
 *   verify:   the same extraction into scratch, then every data file's rows recounted against
 *             the manifest's counts
 */
import { createReadStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { ChildStage } from '../../archive/child.js';
import { BackupmateError, errorText } from '../../domain/errors.js';
import type { ConnectionSettings } from '../../mariadb/mariabackup.js';
import type { BackupRun, ChainRules, ExtractedMember, RestoreMode, Sink, Source, SourceBackupTarget, SourceContext, SourceManifest } from '../source.js';
import { SqlClient } from './client.js';
import { describeDump, mydumperArgv, parseMetadata, RowCounter, type DumpSelection } from './dump.js';
import { checkRoom, loadIntoServer, type IntoServerRequest, type LoadReport } from './load.js';
import { LOGICAL, parseLogicalPayload, type LogicalPayload } from './payload.js';
import { dumpUsers } from './users.js';

export const LOGICAL_SOURCE_TYPE = LOGICAL;

export interface LogicalSourceSettings {
  /** DB_*: the server the dump is taken from. */
  connection: ConnectionSettings;
  selection: DumpSelection;
  /** LOGICAL_PARALLEL: mydumper threads, and files loaded at once. */
  parallel: number;
  /** Rows per chunk of a big table. */
  chunkRows?: number;
  mydumperPath?: string;
  /** RESTORE_DB_USER/RESTORE_DB_PASSWORD over DB_HOST/DB_SOCKET: the server an into-server restore loads into. */
  restoreConnection?: ConnectionSettings;
  /** The into-server request of this process's restore (one-shot commands build the source per request). */
  into?: Omit<IntoServerRequest, 'parallel'>;
  /** Called with the load's report (the CLI prints it). */
  onLoaded?: (r: LoadReport) => void;
}

export const logicalChainRules: ChainRules<LogicalPayload> = {
  hasParent: () => false,
  continuity: () => [],
  restoreChain: (target) => [target],
};

/** Every file the payload names (pure). */
export function payloadFiles(p: LogicalPayload): string[] {
  return [
    ...(p.usersFile ? [p.usersFile] : []),
    ...p.schemas.flatMap((s) => [s.createFile, ...(s.postFile ? [s.postFile] : [])]),
    ...p.tables.flatMap((t) => [...(t.schemaFile ? [t.schemaFile] : []), ...t.dataFiles, ...(t.triggersFile ? [t.triggersFile] : [])]),
  ];
}

async function countRows(file: string): Promise<number> {
  const c = new RowCounter();
  const rl = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  for await (const line of rl) c.line(line);
  return c.rows;
}

export class LogicalSource implements Source<LogicalPayload> {
  readonly type = LOGICAL_SOURCE_TYPE;
  readonly kinds = ['full'] as const;
  readonly modes: readonly RestoreMode[] = ['target-dir', 'into-server'];
  readonly chain = logicalChainRules;
  private readonly applied = new Map<string, SourceManifest<LogicalPayload>>();

  constructor(private readonly settings: LogicalSourceSettings) {}

  parsePayload(raw: unknown): LogicalPayload {
    return parseLogicalPayload(raw);
  }

  /** A logical backup is always a full dump (the sequence's self-planning hook). */
  plan(): { target: SourceBackupTarget<LogicalPayload>; reason: string } {
    return { target: { kind: 'full' }, reason: 'a logical backup is always a full dump of the selected databases' };
  }

  async startBackup(ctx: SourceContext, target: SourceBackupTarget<LogicalPayload>): Promise<BackupRun<LogicalPayload>> {
    if (target.kind !== 'full') throw new BackupmateError('USAGE', `logical backups are always full dumps, not ${target.kind}`);
    const s = this.settings;
    const out = path.join(ctx.jobDir, 'dump');
    await fs.mkdir(out, { mode: 0o700 });
    const client = await SqlClient.open(s.connection, ctx.jobDir, 'dump.cnf');
    const version = (await client.query('SELECT VERSION()'))[0]?.[0] ?? '';
    const all = (await client.query('SELECT SCHEMA_NAME FROM information_schema.SCHEMATA ORDER BY SCHEMA_NAME')).map((r) => r[0]);
    const missing = s.selection.databases.filter((d) => !all.includes(d));
    if (missing.length) throw new BackupmateError('CONFIG', `LOGICAL_DATABASES names ${missing.join(', ')}, which the server at ${client.where} does not have (it has ${all.join(', ')})`);

    const mydumper = s.mydumperPath ?? 'mydumper';
    const versionLine = await new Promise<string>((resolve) => {
      const c = new ChildStage({ stage: 'mydumper', file: mydumper, args: ['--version'] });
      let text = '';
      c.stdout!.on('data', (d: Buffer) => (text += d.toString()));
      c.done.then(
        () => resolve(text.trim()),
        () => resolve(''),
      );
    });
    const t0 = Date.now();
    const dumper = new ChildStage({
      stage: 'mydumper',
      file: mydumper,
      args: mydumperArgv({ optionFile: client.optionFile, outputDir: out, threads: s.parallel, selection: s.selection, chunkRows: s.chunkRows ?? 500_000 }),
      stdout: 'ignore',
      // mydumper logs failures as "** (mydumper:PID): CRITICAL **" and may still exit 0.
      stderrIsFatal: (l) => /CRITICAL/.test(l),
      onStderr: (l) => ctx.log.warn(l, { event: 'mydumper.stderr' }),
    });
    const onAbort = () => dumper.kill();
    ctx.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await dumper.done;
    } finally {
      ctx.signal?.removeEventListener('abort', onAbort);
    }
    if (ctx.signal?.aborted) throw new BackupmateError('CANCELLED', 'logical backup cancelled');
    const metadata = await fs.readFile(path.join(out, 'metadata'), 'utf8').catch((e: unknown) => {
      throw new BackupmateError('TOOL_FAILED', `mydumper exited 0 but wrote no metadata file: ${errorText(e)}`, { stage: 'mydumper' });
    });
    const binlog = parseMetadata(metadata);

    let usersFile: string | null = null;
    if (s.selection.objects.includes('users')) {
      usersFile = 'backupmate-users.sql';
      const users = await dumpUsers(client, ctx.log);
      await fs.writeFile(path.join(out, usersFile), users.sql, { mode: 0o600, flag: 'wx' });
      ctx.log.info(`logical backup: ${users.accounts} account(s) and their grants kept as SQL`, { event: 'logical.users', accounts: users.accounts, skipped: users.skipped });
    }

    const names = (await fs.readdir(out)).filter((n) => n !== usersFile);
    const sequences = new Set<string>();
    for (const n of names.filter((x) => x.endsWith('-schema.sql'))) {
      if (/\bSEQUENCE=1\b/.test(await fs.readFile(path.join(out, n), 'utf8'))) sequences.add(n);
    }
    const rowsOf = new Map<string, number>();
    for (const n of names) if (/\.sql$/.test(n) && !/-schema(-create|-post|-view|-triggers)?\.sql$/.test(n)) rowsOf.set(n, await countRows(path.join(out, n)));
    const described = describeDump(names, s.selection, (f) => sequences.has(f), (f) => rowsOf.get(f) ?? 0, s.selection.objects.includes('data'));
    // Files of databases outside the selection (mydumper writes some schema files regardless) are not kept.
    for (const n of described.skipped) await fs.rm(path.join(out, n), { force: true });
    const payload: LogicalPayload = {
      type: 'logical',
      binlog,
      databases: described.schemas.map((x) => x.db),
      objects: [...s.selection.objects],
      usersFile,
      schemas: described.schemas,
      tables: described.tables,
      versions: { server: version, dumper: versionLine || 'mydumper' },
    };
    parseLogicalPayload(payload, 'logical backup: the dump description');
    const rows = payload.tables.reduce((n, t) => n + (t.rows ?? 0), 0);
    ctx.log.info(
      `logical dump of ${payload.databases.length} database(s), ${payload.tables.length} table(s)/view(s), ${rows} row(s) in ${Date.now() - t0} ms` +
        (binlog ? ` at ${binlog.file}:${binlog.position}${binlog.gtid ? ` (GTID ${binlog.gtid})` : ''}` : ' (the server writes no binlog)'),
      { event: 'logical.dumped', databases: payload.databases, tables: payload.tables.length, rows, binlog },
    );

    // The raw stream: a tar of the dump directory (GNU tar, names sorted, no owners).
    const tar = new ChildStage({
      stage: 'tar',
      file: 'tar',
      args: ['--create', '--file=-', '--sort=name', '--owner=0', '--group=0', '--numeric-owner', `--directory=${out}`, '.'],
      onStderr: (l) => ctx.log.warn(l, { event: 'tar.stderr' }),
    });
    return {
      output: tar,
      stages: [],
      finish: async () => ({ payload, extras: [] }),
      kill: () => tar.kill(),
    };
  }

  async openSink(_ctx: SourceContext, _m: SourceManifest<LogicalPayload>, dir: string, feed: ChildStage | null): Promise<Sink> {
    const tar = new ChildStage({
      stage: 'tar -x',
      file: 'tar',
      args: ['--extract', '--file=-', '--no-same-owner', '--no-same-permissions', `--directory=${dir}`],
      stdin: feed ?? 'pipe',
      stdout: 'ignore',
    });
    return { input: feed ? null : tar.stdin, stages: [{ stage: 'tar -x', promise: tar.done }], kill: () => tar.kill() };
  }

  /** Every named file is there, and the data files hold the rows the manifest recorded. */
  async check(_ctx: SourceContext, m: SourceManifest<LogicalPayload>, dir: string): Promise<Record<string, unknown>> {
    await this.checkFiles(m, dir);
    const problems: string[] = [];
    let rows = 0;
    for (const t of m.source.tables) {
      if (t.rows === null) continue;
      let n = 0;
      for (const f of t.dataFiles) n += await countRows(path.join(dir, f));
      rows += n;
      if (n !== t.rows) problems.push(`${t.db}.${t.name}: ${t.rows} row(s) recorded, ${n} in its data files`);
    }
    if (problems.length) throw new BackupmateError('INTEGRITY', `backup ${m.id}: ${problems.join('; ')}`);
    return { databases: m.source.databases.length, tables: m.source.tables.length, rows };
  }

  private async checkFiles(m: SourceManifest<LogicalPayload>, dir: string): Promise<void> {
    const have = new Set(await fs.readdir(dir));
    const missing = payloadFiles(m.source).filter((f) => !have.has(f));
    if (missing.length) throw new BackupmateError('INTEGRITY', `backup ${m.id} lacks ${missing.length} file(s) its manifest names: ${missing.slice(0, 5).join(', ')}`);
  }

  async apply(_ctx: SourceContext, chain: readonly ExtractedMember<LogicalPayload>[]): Promise<string> {
    if (chain.length !== 1) throw new BackupmateError('INTERNAL', `a logical restore takes one backup, got ${chain.length}`);
    await this.checkFiles(chain[0].manifest, chain[0].dir);
    this.applied.set(chain[0].dir, chain[0].manifest);
    return chain[0].dir;
  }

  /**
   * into-server, before the download: the selection exists in the backup and the server has room
   * for it (or --replace); refusals are thrown here. `dir` is private to the caller (option file).
   */
  async preflightInto(ctx: SourceContext, m: SourceManifest<LogicalPayload>, dir: string): Promise<void> {
    const s = this.settings;
    if (!s.into || !s.restoreConnection) throw new BackupmateError('INTERNAL', 'logical restore: no into-server request or connection');
    const client = await SqlClient.open(s.restoreConnection, dir, 'preflight.cnf');
    try {
      await checkRoom(client, m.source, m.id, s.into, ctx.log);
    } finally {
      await fs.rm(client.optionFile, { force: true });
    }
  }

  async putBack(ctx: SourceContext, mode: RestoreMode, resultDir: string, destination: string): Promise<void> {
    const m = this.applied.get(resultDir);
    if (!m) throw new BackupmateError('INTERNAL', `logical restore: ${resultDir} was not produced by apply`);
    this.applied.delete(resultDir);
    if (mode === 'target-dir') {
      await fs.rmdir(destination).catch(() => {});
      await fs.rename(resultDir, destination);
      ctx.log.info(`logical restore: the dump's SQL files are in ${destination}`, { event: 'logical.restored', destination });
      return;
    }
    if (mode !== 'into-server') throw new BackupmateError('USAGE', `logical backups are restored with --into-server or --target-dir DIR, not --${mode}`);
    const s = this.settings;
    if (!s.into || !s.restoreConnection) throw new BackupmateError('INTERNAL', 'logical restore: no into-server request or connection');
    const client = await SqlClient.open(s.restoreConnection, ctx.jobDir, 'restore.cnf');
    const report = await loadIntoServer(client, resultDir, m.source, m.id, { ...s.into, parallel: s.parallel }, ctx.log, ctx.signal);
    ctx.log.info(`logical restore into ${client.where}: ${report.tables} table(s), ${report.rows} row(s) loaded and checked`, { event: 'logical.restored', ...report });
    s.onLoaded?.(report);
  }
}
