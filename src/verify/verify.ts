/**
 * `verify`: is a backup restorable? Everything a restore checks, short of prepare and put-back,
 * without a target: per backup
 *   1. the manifest: parsed, authenticated (MANIFEST_HMAC_KEY), consistent with itself and with
 *      SHA256SUMS;
 *   2. chain continuity: every parent present with a manifest, LSNs joined, versions compatible
 *      (resolveRestoreChain, the restore's own check);
 *   3. every volume present with its recorded size;
 *   4. the whole stream, through the restore's own downloadInto: sha256 and size of every volume
 *      while streaming → [age -d] → decompressor → container framing (header names the backup,
 *      chunks without gaps, byte count equal to the manifest's) → `mbstream -x` into a scratch
 *      directory under LOCAL_TEMP_DIR (xbstream framing and per-chunk checksums; removed after),
 *      and the checkpoints found in the stream against the manifest's kind and LSNs.
 *
 * Result per backup: ok; corrupt (what is wrong, naming the object); unchecked (why it could not be
 * checked: no identity for an encrypted backup, the store failing, no scratch space...); or, for
 * `all`, incomplete (objects without a manifest: a failed or running job, not corruption).
 * The report's `code` is what the exit status is made of: INTEGRITY when anything is corrupt, else
 * the cause of the first backup that could not be checked, else null.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { checkIdentityFor } from '../archive/encryption.js';
import type { BackupDir } from '../domain/catalog.js';
import { physicalSummary, resolveRestoreChain, type PhysicalSummary } from '../sources/physical/chain.js';
import { isPhysical, physicalOf } from '../sources/physical/payload.js';
import { layoutOf, type LayoutEntry, type SourceRegistry } from '../sources/registry.js';
import type { SourceManifest } from '../sources/source.js';
import type { SinkOpener } from '../restore/download.js';
import { BackupmateError, errorText, type ErrorCode } from '../domain/errors.js';
import { resolveId } from '../domain/ids.js';
import { authenticateManifest } from '../domain/mac.js';
import { sha256sums, SUMS_NAME, type Manifest } from '../domain/manifest.js';
import { fmtBytes } from '../domain/units.js';
import type { Logger } from '../log/logger.js';
import { freeBytes } from '../mariadb/datadir.js';
import { CHECKPOINT_FILES, parseCheckpoints, readFirst } from '../mariadb/mariabackup.js';
import { downloadInto, verifyVolumes } from '../restore/download.js';
import type { RestoreSettings } from '../restore/job.js';
import { readCatalog, type CatalogEntry } from '../storage/catalog.js';
import { isNotFound, readAll, type Storage } from '../storage/storage.js';
import type { BackupVerdict, VerifyReport, VerifyStatus } from './report.js';

export type { BackupVerdict, VerifyReport, VerifyStatus } from './report.js';
export { verifyError } from './report.js';

export type VerifySettings = Pick<RestoreSettings, 'fullPrefix' | 'incrementalPrefix' | 'tempDir' | 'mbstreamPath' | 'ageIdentityFile' | 'manifestHmacKey'> & {
  directoryPrefix?: string;
  /** The whole store layout (sources/registry.ts); absent: the standard one of the prefixes. */
  layout?: readonly LayoutEntry[];
};

export interface VerifyRequest {
  /** `all`, `latest`, or an id, timestamp or unambiguous prefix. */
  request: string;
  signal?: AbortSignal;
  onProgress?: (p: { stage: string; bytes: number; total: number }) => void;
}

type Selected =
  | { type: 'valid'; entry: CatalogEntry }
  | { type: 'incomplete'; dir: BackupDir }
  | { type: 'unreadable'; dir: BackupDir; error: string; code?: ErrorCode };

/**
 * How one backup is checked beyond the envelope: its chain (as a restore checks it), the sink its
 * decoded stream goes into, and what is checked in the scratch directory afterwards. Physical
 * backups: resolveRestoreChain, mbstream, the checkpoints against the manifest's LSNs. Any other
 * source: its chain rules, its sink, its optional check (sources/source.ts).
 */
interface VerifyRules {
  chain(m: Manifest): void;
  sink?(scratch: string): SinkOpener;
  after(scratch: string): Promise<string[]>;
}

/**
 * Verifies backups of every source in the store layout. `sources`: the registry whose sources
 * (beyond the built-in physical one) verify their own backups; a backup of a source it lacks is
 * reported as could-not-check.
 */
export async function runVerify(storage: Storage, logger: Logger, s: VerifySettings, req: VerifyRequest, sources?: SourceRegistry): Promise<VerifyReport> {
  const t0 = Date.now();
  const request = req.request.trim() || 'latest';
  // A store that cannot be listed fails the whole command with its own code (STORAGE: could not check).
  const catalog = await readCatalog(storage, sources?.layout ?? layoutOf(s), sources);
  const valid = catalog.backups.filter((b) => isPhysical(b.manifest)).map((b) => physicalSummary(b.manifest));
  const incompleteIds = catalog.incomplete.filter((d) => d.source === 'physical').map((d) => d.id);
  const rulesFor = (m: Manifest, log: Logger): VerifyRules => {
    // Physical backups keep their own rules here (the checkpoints against the manifest's LSNs are
    // findings of the report, not a thrown check).
    if (isPhysical(m)) return physicalRules(m, valid, incompleteIds);
    if (!sources?.has(m.source.type)) {
      throw new BackupmateError('CONFIG', `backup ${m.id} is a ${m.source.type} backup, and no ${m.source.type} source is set up in this process to check it`);
    }
    const src = sources.get(m.source.type);
    const same = catalog.backups.filter((b) => b.manifest.source.type === m.source.type).map((b) => b.manifest as SourceManifest<typeof m.source>);
    const inc = catalog.incomplete.filter((d) => d.source === m.source.type).map((d) => d.id);
    const ctx = (scratch: string) => ({ log, signal: req.signal, jobDir: scratch });
    return {
      chain: (x) => void src.chain.restoreChain(x, same, inc),
      sink: (scratch) => (feed) => src.openSink(ctx(scratch), m, scratch, feed),
      after: async (scratch) => {
        if (src.check) await src.check(ctx(scratch), m, scratch);
        return [];
      },
    };
  };
  const byId = new Map(catalog.backups.map((b) => [b.manifest.id, b]));
  const selected = select(request, catalog.backups, catalog.incomplete, catalog.broken, byId);
  logger.info(`verify ${request}: ${selected.length} backup(s)`, { event: 'verify.start', store: storage.description, request, backups: selected.map(idOf) });

  const total = selected.reduce((a, x) => a + (x.type === 'valid' ? x.entry.manifest.storedBytes : 0), 0);
  let done = 0;
  const verdicts: BackupVerdict[] = [];
  for (const x of selected) {
    if (req.signal?.aborted) throw new BackupmateError('CANCELLED', 'verify was cancelled');
    if (x.type === 'incomplete') {
      verdicts.push({
        id: x.dir.id,
        kind: x.dir.kind,
        status: 'incomplete',
        problems: [`no manifest: the job that wrote it did not finish, or is still running (${x.dir.objects.length} object(s), ${fmtBytes(x.dir.objects.reduce((a, o) => a + o.size, 0))})`],
        warnings: [],
        checkedBytes: 0,
        durationMs: 0,
      });
      continue;
    }
    if (x.type === 'unreadable') {
      const corrupt = x.code === undefined || x.code === 'INTEGRITY';
      verdicts.push({
        id: x.dir.id,
        kind: x.dir.kind,
        status: corrupt ? 'corrupt' : 'unchecked',
        problems: [corrupt ? `manifest unreadable: ${x.error}` : `could not check: ${x.error}`],
        warnings: [],
        code: x.code ?? 'INTEGRITY',
        checkedBytes: 0,
        durationMs: 0,
      });
      continue;
    }
    const base = done;
    const v = await checkBackup(storage, logger, s, x.entry, rulesFor, {
      signal: req.signal,
      onProgress: (p) => req.onProgress?.({ stage: 'verify', bytes: base + p.bytes, total }),
    });
    done += x.entry.manifest.storedBytes;
    verdicts.push(v);
  }

  // A backup is only as restorable as its chain: name the corrupt backups each one depends on.
  const corruptOnTheirOwn = new Set(verdicts.filter((v) => v.status === 'corrupt').map((v) => v.id));
  for (const v of verdicts) {
    const m = byId.get(v.id)?.manifest;
    if (!m || v.status === 'incomplete') continue;
    for (const parentId of ancestors(m, byId)) {
      if (corruptOnTheirOwn.has(parentId)) {
        v.problems.push(`depends on ${parentId}, which is corrupt: restoring ${v.id} would fail`);
        if (v.status !== 'corrupt') {
          v.status = 'corrupt';
          v.code = 'INTEGRITY';
        }
      }
    }
  }

  const count = (st: VerifyStatus) => verdicts.filter((v) => v.status === st).length;
  const parts = [`${count('ok')} ok`];
  if (count('corrupt')) parts.push(`${count('corrupt')} corrupt`);
  if (count('unchecked')) parts.push(`${count('unchecked')} could not be checked`);
  if (count('incomplete')) parts.push(`${count('incomplete')} incomplete`);
  const summary = `${verdicts.length} backup${verdicts.length === 1 ? '' : 's'}: ${parts.join(', ')}`;
  const code: ErrorCode | null = count('corrupt') ? 'INTEGRITY' : (verdicts.find((v) => v.status === 'unchecked')?.code ?? null);
  const report: VerifyReport = { request, backups: verdicts, summary, code, durationMs: Date.now() - t0 };
  const log = code ? logger.error.bind(logger) : logger.info.bind(logger);
  log(`verify ${request}: ${summary}`, {
    event: 'verify.end',
    status: code === null ? 'ok' : code === 'INTEGRITY' ? 'corrupt' : 'unchecked',
    code,
    request,
    results: verdicts.map((v) => ({ id: v.id, status: v.status })),
    durationMs: report.durationMs,
  });
  return report;
}

function idOf(x: Selected): string {
  return x.type === 'valid' ? x.entry.manifest.id : x.dir.id;
}

/** The ids of `m`'s parents, nearest first, as far as the links reach. */
function ancestors(m: Manifest, byId: ReadonlyMap<string, CatalogEntry>): string[] {
  const out: string[] = [];
  const seen = new Set([m.id]);
  let cur: Manifest | undefined = m;
  while (cur && cur.kind === 'incremental' && cur.parentId && !seen.has(cur.parentId)) {
    out.push(cur.parentId);
    seen.add(cur.parentId);
    cur = byId.get(cur.parentId)?.manifest;
  }
  return out;
}

/**
 * What to check: `all` = every backup in the store (incomplete and unreadable ones too); otherwise
 * the designated backup and every backup its restore needs (its chain, full first).
 */
function select(
  request: string,
  backups: readonly CatalogEntry[],
  incomplete: readonly BackupDir[],
  broken: readonly { dir: BackupDir; error: string; code?: ErrorCode }[],
  byId: ReadonlyMap<string, CatalogEntry>,
): Selected[] {
  const all: Selected[] = [
    ...backups.map((entry) => ({ type: 'valid' as const, entry })),
    ...incomplete.map((dir) => ({ type: 'incomplete' as const, dir })),
    ...broken.map((b) => ({ type: 'unreadable' as const, dir: b.dir, error: b.error, code: b.code })),
  ].sort((a, b) => idOf(a).localeCompare(idOf(b)));
  if (request === 'all') return all;
  // 'latest' is the newest backup a restore could use; an explicit id may name any backup.
  const id = resolveId(request, request === 'latest' ? backups.map((b) => b.manifest.id) : all.map(idOf));
  const target = byId.get(id);
  if (!target) return all.filter((x) => idOf(x) === id);
  const chain = [target, ...ancestors(target.manifest, byId).flatMap((p) => byId.get(p) ?? [])];
  return chain.reverse().map((entry) => ({ type: 'valid' as const, entry }));
}

/** Physical backups: the chain as resolveRestoreChain checks it; mbstream; the checkpoints against the manifest's LSNs. */
function physicalRules(m: Manifest, valid: PhysicalSummary[], incompleteIds: string[]): VerifyRules {
  return {
    chain: () => void resolveRestoreChain(physicalSummary(m), valid, incompleteIds),
    after: async (scratch) => {
      const cp = await readFirst(scratch, CHECKPOINT_FILES);
      if (!cp) return [`the stream holds no ${CHECKPOINT_FILES[0]}: it is not a complete mariabackup stream`];
      const c = parseCheckpoints(cp.text);
      const type = m.kind === 'full' ? 'full-backuped' : 'incremental';
      const diffs: string[] = [];
      if (c.backupType !== type) diffs.push(`backup_type ${c.backupType} (expected ${type})`);
      if (!lsnEqual(c.fromLsn, physicalOf(m).lsn.from)) diffs.push(`from_lsn ${c.fromLsn} (manifest: ${physicalOf(m).lsn.from})`);
      if (!lsnEqual(c.toLsn, physicalOf(m).lsn.to)) diffs.push(`to_lsn ${c.toLsn} (manifest: ${physicalOf(m).lsn.to})`);
      return diffs.length ? [`the stream's ${cp.name} does not match the manifest: ${diffs.join(', ')}`] : [];
    },
  };
}

/** Everything about one backup with a readable manifest; never throws but for cancellation. */
async function checkBackup(
  storage: Storage,
  logger: Logger,
  s: VerifySettings,
  entry: CatalogEntry,
  rulesFor: (m: Manifest, log: Logger) => VerifyRules,
  opts: { signal?: AbortSignal; onProgress?: (p: { stage: string; bytes: number; total: number }) => void },
): Promise<BackupVerdict> {
  const t0 = Date.now();
  const m = entry.manifest;
  const dir = entry.dir.dir;
  const log = logger.child({ backupId: m.id, kind: m.kind });
  const v: BackupVerdict = {
    id: m.id,
    kind: m.kind,
    status: 'ok',
    problems: [],
    warnings: [],
    volumes: m.volumes.length,
    storedBytes: m.storedBytes,
    rawBytes: m.rawBytes,
    checkedBytes: 0,
    durationMs: 0,
  };
  const corrupt = (problem: string) => {
    v.status = 'corrupt';
    v.code = 'INTEGRITY';
    v.problems.push(problem);
  };
  // Corrupt outranks unchecked: what is known to be wrong stays the verdict.
  const unchecked = (code: ErrorCode, problem: string) => {
    if (v.status === 'ok') {
      v.status = 'unchecked';
      v.code = code;
    }
    v.problems.push(problem);
  };
  const finish = (): BackupVerdict => {
    v.durationMs = Date.now() - t0;
    const fields = { event: 'verify.backup', status: v.status, code: v.code, problems: v.problems, checkedBytes: v.checkedBytes, durationMs: v.durationMs };
    if (v.status === 'ok') log.info(`backup ${m.id} verified: ok`, fields);
    else log.error(`backup ${m.id} ${v.status}: ${v.problems.join('; ')}`, fields);
    return v;
  };
  try {
    // 1. The manifest. One that is not authentic cannot vouch for anything else.
    try {
      const auth = authenticateManifest(m, s.manifestHmacKey ?? '');
      if (auth.state === 'unverifiable') v.warnings.push(auth.warning);
    } catch (e) {
      corrupt(errorText(e));
      return finish();
    }
    const sum = m.volumes.reduce((a, x) => a + x.size, 0);
    if (sum !== m.storedBytes) corrupt(`the manifest's volumes add up to ${sum} bytes, its storedBytes says ${m.storedBytes}`);

    // 2. Chain continuity, as a restore checks it.
    let rules: VerifyRules;
    try {
      rules = rulesFor(m, log);
    } catch (e) {
      if (!(e instanceof BackupmateError)) throw e;
      unchecked(e.code, `could not check: ${e.message}`);
      return finish();
    }
    try {
      rules.chain(m);
    } catch (e) {
      if (!(e instanceof BackupmateError) || e.code !== 'INTEGRITY') throw e;
      corrupt(`broken chain: ${e.message}`);
    }

    // 3. Every volume present with its recorded size; SHA256SUMS as the manifest says.
    let volumesPresent = true;
    for (const vol of m.volumes) {
      const key = dir + vol.name;
      const head = await storage.head(key);
      if (!head) {
        corrupt(`volume ${key} is missing`);
        volumesPresent = false;
      } else if (head.size !== vol.size) {
        corrupt(`volume ${key} has ${head.size} bytes, the manifest says ${vol.size} (truncated or replaced)`);
        volumesPresent = false;
      }
    }
    try {
      const sums = (await readAll(await storage.get(dir + SUMS_NAME, { signal: opts.signal }))).toString('utf8');
      if (sums !== sha256sums(m)) corrupt(`${dir + SUMS_NAME} does not match the manifest's volumes`);
    } catch (e) {
      if (!isNotFound(e)) throw e;
      v.warnings.push(`${dir + SUMS_NAME} is missing (only manual recovery with sha256sum -c needs it)`);
    }
    if (!volumesPresent) return finish();

    // 4. An encrypted backup needs the identity to check the stream; the volumes' sums do not.
    try {
      await checkIdentityFor([m], s.ageIdentityFile ?? '');
    } catch (e) {
      if (!(e instanceof BackupmateError) || e.code !== 'CONFIG') throw e;
      await verifyVolumes(storage, m, dir, opts.signal);
      v.checkedBytes = m.storedBytes;
      unchecked('CONFIG', `could not check the stream (every volume's sha256 is ok): ${e.message}`);
      return finish();
    }

    // 5. The whole stream, end to end, into a scratch directory removed afterwards.
    await fs.mkdir(s.tempDir, { recursive: true, mode: 0o700 }).catch((e: unknown) => {
      throw new BackupmateError('LOCAL_IO', `LOCAL_TEMP_DIR ${s.tempDir} cannot be created: ${errorText(e)}`);
    });
    const free = await freeBytes(s.tempDir);
    if (free < m.rawBytes) {
      throw new BackupmateError('LOCAL_IO', `not enough free space in LOCAL_TEMP_DIR ${s.tempDir} to unpack backup ${m.id}: it needs ${fmtBytes(m.rawBytes)}, ${fmtBytes(free)} is free`);
    }
    const scratch = await fs.mkdtemp(path.join(s.tempDir, `verify-${m.id}-`)).catch((e: unknown) => {
      throw new BackupmateError('LOCAL_IO', `LOCAL_TEMP_DIR ${s.tempDir} is not writable: ${errorText(e)}`);
    });
    try {
      v.checkedBytes = await downloadInto(storage, log, s, m, dir, scratch, opts, rules.sink?.(scratch));
      for (const problem of await rules.after(scratch)) corrupt(problem);
    } finally {
      await fs.rm(scratch, { recursive: true, force: true });
    }
    return finish();
  } catch (e) {
    if (opts.signal?.aborted || (e instanceof BackupmateError && e.code === 'CANCELLED')) {
      throw e instanceof BackupmateError && e.code === 'CANCELLED' ? e : new BackupmateError('CANCELLED', 'verify was cancelled');
    }
    const code: ErrorCode = e instanceof BackupmateError ? e.code : 'INTERNAL';
    if (code === 'INTEGRITY' || (code === 'BACKUP_NOT_FOUND' && isNotFound(e))) {
      corrupt(errorText(e));
    } else if (code === 'TOOL_FAILED') {
      // The volumes match the manifest (downloadInto re-checks them after a failing stage), yet
      // the stream does not decode or unpack: it was written broken.
      corrupt(`the stream does not unpack: ${errorText(e)}`);
    } else {
      unchecked(code, `could not check: ${errorText(e)}`);
    }
    return finish();
  }
}

function lsnEqual(a: string, b: string): boolean {
  try {
    return BigInt(a) === BigInt(b);
  } catch {
    return false;
  }
}

