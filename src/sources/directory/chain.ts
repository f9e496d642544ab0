/**
 * Directory backups: chain rules and the backup planner (pure; unit-tested on plain manifests).
 *
 * A chain is a full and the incrementals taken after it, each against the newest backup of the
 * chain before it (no differential mode: an incremental is "what changed since the last backup").
 * A link holds when the child lists the same paths as its parent and every entry the child does
 * not store is, in the parent's list, the same version (diff.ts continuityProblems).
 */
import { BackupmateError } from '../../domain/errors.js';
import type { ChainRules, SourceManifest } from '../source.js';
import { continuityProblems } from './diff.js';
import type { DirectoryPayload } from './entries.js';

export type DirectoryManifest = SourceManifest<DirectoryPayload>;

/** Same configured paths (order-insensitive). */
export function samePaths(a: readonly string[], b: readonly string[]): boolean {
  const x = [...a].sort();
  const y = [...b].sort();
  return x.length === y.length && x.every((p, i) => p === y[i]);
}

function linkProblems(parent: DirectoryManifest, child: DirectoryManifest): string[] {
  const problems: string[] = [];
  if (child.parentId !== parent.id) problems.push(`backup ${child.id} names parent ${child.parentId}, not ${parent.id}`);
  if (child.fullId !== parent.fullId) problems.push(`backup ${child.id} belongs to the chain of full ${child.fullId} but its parent ${parent.id} to the chain of ${parent.fullId}`);
  if (!samePaths(parent.source.paths, child.source.paths)) {
    problems.push(`backup ${child.id} keeps ${child.source.paths.join(',')} but its parent ${parent.id} kept ${parent.source.paths.join(',')}`);
  }
  const missing = continuityProblems(parent.source.files, child.source.files);
  if (missing.length) problems.push(`backup ${child.id} relies on files its parent ${parent.id} does not hold: ${missing.join('; ')}`);
  return problems;
}

/**
 * [full, ..., target] for a restore of `target`; throws INTEGRITY naming the broken link (a
 * missing or incomplete parent, a loop, a link whose lists do not continue).
 */
export function directoryRestoreChain(target: DirectoryManifest, valid: readonly DirectoryManifest[], incompleteIds: readonly string[]): DirectoryManifest[] {
  const known = new Map(valid.map((m) => [m.id, m]));
  const incomplete = new Set(incompleteIds);
  const fail = (message: string, details: Record<string, unknown> = {}): never => {
    throw new BackupmateError('INTEGRITY', `cannot restore ${target.id}: ${message}`, { target: target.id, ...details });
  };
  const path = [target];
  const seen = new Set([target.id]);
  let cur = target;
  while (cur.kind === 'incremental') {
    const parentId = cur.parentId;
    if (!parentId) fail(`incremental ${cur.id} has no parent id in its manifest`);
    const parent = known.get(parentId!);
    if (!parent) {
      if (incomplete.has(parentId!)) fail(`backup ${cur.id} needs its parent ${parentId}, which is incomplete (it has no manifest: the job that wrote it did not finish)`, { parent: parentId, parentState: 'incomplete' });
      fail(`backup ${cur.id} needs its parent ${parentId}, which is missing from the store`, { parent: parentId, parentState: 'missing' });
    }
    if (seen.has(parent!.id)) fail(`the parent links loop back to ${parent!.id}`);
    const problems = linkProblems(parent!, cur);
    if (problems.length) fail(problems.join('; '), { backup: cur.id, parent: parent!.id });
    seen.add(parent!.id);
    path.push(parent!);
    cur = parent!;
  }
  if (cur.kind !== 'full') fail(`its chain starts at ${cur.id} of kind ${cur.kind}, not at a full`);
  if (cur.id !== target.fullId) fail(`its parent links lead to full ${cur.id} but its manifest names full ${target.fullId}`);
  return path.reverse();
}

export const directoryChainRules: ChainRules<DirectoryPayload> = {
  hasParent: (kind) => kind === 'incremental',
  continuity: (parent, child) => linkProblems(parent, child),
  restoreChain: directoryRestoreChain,
};

export interface DirectoryPlanInput {
  requested: 'auto' | 'full' | 'incremental';
  /** The configured paths now (DIRECTORY_BACKUP_PATHS). */
  paths: readonly string[];
  /** Valid directory backups in the store. */
  valid: readonly DirectoryManifest[];
  incompleteIds?: readonly string[];
  /** MAX_CHAIN_LENGTH: most incrementals after one full. */
  maxChainLength: number;
}

export type DirectoryPlan =
  | { kind: 'full'; reason: string }
  | { kind: 'incremental'; parent: DirectoryManifest; full: DirectoryManifest; chainLength: number; reason: string };

/**
 * Full or incremental, and on which parent. 'auto', first match wins: no directory backup yet ->
 * full; the configured paths differ from the newest backup's -> full (an incremental of other
 * paths could not be applied to that tree); the newest chain holds MAX_CHAIN_LENGTH incrementals
 * -> full; the newest backup is not restorable -> full; else an incremental on the newest backup.
 * A requested 'incremental' skips the length rule and refuses (BACKUP_NOT_FOUND / INTEGRITY)
 * where 'auto' would take a full.
 */
export function planDirectoryBackup(input: DirectoryPlanInput): DirectoryPlan {
  if (input.requested === 'full') return { kind: 'full', reason: 'requested' };
  const newest = [...input.valid].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).at(-1);
  const refuse = (code: 'BACKUP_NOT_FOUND' | 'INTEGRITY', why: string): never => {
    throw new BackupmateError(code, `cannot take an incremental directory backup: ${why}; take a full one (backup --directories --full)`, { stage: 'plan' });
  };
  if (!newest) {
    if (input.requested === 'incremental') refuse('BACKUP_NOT_FOUND', 'there is no valid directory backup in the store to base it on');
    return { kind: 'full', reason: 'no valid directory backup in the store' };
  }
  if (!samePaths(newest.source.paths, input.paths)) {
    const why = `DIRECTORY_BACKUP_PATHS is ${input.paths.join(',')} but the newest directory backup ${newest.id} kept ${newest.source.paths.join(',')}`;
    if (input.requested === 'incremental') refuse('BACKUP_NOT_FOUND', why);
    return { kind: 'full', reason: why };
  }
  let chain: DirectoryManifest[];
  try {
    chain = directoryRestoreChain(newest, input.valid, input.incompleteIds ?? []);
  } catch (e) {
    if (!(e instanceof BackupmateError)) throw e;
    const why = `the newest directory backup ${newest.id} is not restorable (${e.message.replace(/^cannot restore \S+: /, '')})`;
    if (input.requested === 'incremental') refuse('INTEGRITY', why);
    return { kind: 'full', reason: why };
  }
  const incrementals = chain.length - 1;
  if (input.requested === 'auto' && incrementals >= input.maxChainLength) {
    return { kind: 'full', reason: `chain of ${chain[0].id} has ${incrementals} incremental${incrementals === 1 ? '' : 's'} (MAX_CHAIN_LENGTH=${input.maxChainLength})` };
  }
  return {
    kind: 'incremental',
    parent: newest,
    full: chain[0],
    chainLength: incrementals + 1,
    reason: `what changed since ${newest.id} (chain of ${chain[0].id}, ${incrementals + 1} incremental${incrementals === 0 ? '' : 's'} with this one)`,
  };
}
