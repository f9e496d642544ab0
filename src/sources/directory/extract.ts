/**
 * Directory backups: extracting one backup's tar into a fresh staging directory.
 *
 * The tar is checked against the backup's file list as it is read, so a restore or verify of a
 * damaged or foreign tar fails with INTEGRITY instead of producing a different tree:
 * - every entry name must be a safe relative path (no absolute names, no "..": path traversal is
 *   refused) and must be listed as stored, with the same type (and size, for files);
 * - no entry appears twice, and every stored entry appears;
 * - no entry is written through a symlink: each parent directory inside the staging directory is
 *   checked to be a real directory (a tar with "a -> /etc" then "a/passwd" cannot write /etc).
 * Files are created 0600 and directories 0700 (ancestors above the configured paths 0755); the
 * listed modes, owners and mtimes are applied once the whole chain is in place (apply.ts).
 */
import fs from 'node:fs/promises';
import { createWriteStream } from 'node:fs';
import { PassThrough, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar-stream';
import { BackupmateError } from '../../domain/errors.js';
import { waitDrain } from '../../archive/drain.js';
import { checkedEntryName, coveredBy, joinInside, relativeName, type DirectoryPayload } from './entries.js';

export interface ExtractOutcome {
  entries: number;
  contentBytes: number;
}

function integrity(context: string, detail: string): BackupmateError {
  return new BackupmateError('INTEGRITY', `${context}: ${detail}`);
}

/**
 * Makes sure `rel`'s parent chain exists under `root` as real directories (not symlinks),
 * creating missing ones. Ancestors above the configured paths get 0755, others 0700.
 */
export async function ensureParents(root: string, rel: string, roots: readonly string[], context: string): Promise<void> {
  const segments = rel.split('/').slice(0, -1);
  let cur = '';
  for (const s of segments) {
    cur = cur ? `${cur}/${s}` : s;
    const abs = joinInside(root, cur);
    try {
      const st = await fs.lstat(abs);
      if (!st.isDirectory()) throw integrity(context, `refused to write ${rel}: ${cur} is not a directory (a tar must not write through a symlink)`);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      await fs.mkdir(abs, { mode: coveredBy(cur, roots) ? 0o700 : 0o755 });
    }
  }
}

/**
 * Reads a directory backup's tar from `source` into `stagingDir` (which must exist and be empty),
 * checked against `payload` (see the header comment). `context` names the backup in errors.
 */
export async function extractTree(source: AsyncIterable<Buffer | Uint8Array>, stagingDir: string, payload: DirectoryPayload, context: string): Promise<ExtractOutcome> {
  const roots = payload.paths.map(relativeName);
  const expected = new Map(payload.files.filter((f) => f.stored).map((f) => [f.path, f]));
  const seen = new Set<string>();
  const extract = tar.extract();
  const feed = (async () => {
    for await (const chunk of source) {
      if (extract.destroyed) return;
      if (!extract.write(chunk as Buffer)) await waitDrain(extract);
    }
    (extract as unknown as { end(): void }).end();
  })();
  feed.catch((e) => extract.destroy(e));
  const out: ExtractOutcome = { entries: 0, contentBytes: 0 };
  try {
    for await (const entry of extract) {
      const h = entry.header;
      const name = checkedEntryName(h.name, context);
      const want = expected.get(name);
      if (!want) throw integrity(context, `the tar holds ${name}, which the manifest does not list as stored`);
      if (seen.has(name)) throw integrity(context, `the tar holds ${name} twice`);
      seen.add(name);
      const type = h.type === 'directory' ? 'dir' : h.type;
      if (type !== want.type) throw integrity(context, `${name} is a ${h.type} in the tar, the manifest lists a ${want.type}`);
      await ensureParents(stagingDir, name, roots, context);
      const abs = joinInside(stagingDir, name);
      if (want.type === 'dir') {
        // It exists already when a child came first (a foreign tar's order); ensureParents made it.
        await fs.mkdir(abs, { mode: 0o700 }).catch(async (e: NodeJS.ErrnoException) => {
          if (e.code !== 'EEXIST' || !(await fs.lstat(abs)).isDirectory()) throw e;
        });
        entry.resume();
      } else if (want.type === 'symlink') {
        if (h.linkname !== want.target) throw integrity(context, `symlink ${name} points to ${JSON.stringify(h.linkname)} in the tar, the manifest says ${JSON.stringify(want.target)}`);
        await fs.symlink(want.target!, abs);
        entry.resume();
      } else {
        if (h.size !== want.size) throw integrity(context, `${name} has ${h.size} bytes in the tar, the manifest says ${want.size}`);
        // 'wx': never write through something that is already there.
        await pipeline(entry, createWriteStream(abs, { flags: 'wx', mode: 0o600 }));
        out.contentBytes += want.size;
      }
      out.entries++;
    }
    await feed;
  } catch (e) {
    extract.destroy();
    await feed.catch(() => undefined);
    throw e;
  }
  const missing = [...expected.keys()].filter((k) => !seen.has(k));
  if (missing.length) throw integrity(context, `the tar ends without ${missing.length} stored entries (first: ${missing[0]})`);
  return out;
}

/**
 * A Writable for the restore/verify pipeline: the decoded tar goes in, `done` settles when it is
 * extracted (or fails). Destroying the input with an error fails `done` with it.
 */
export function openTreeSink(stagingDir: string, payload: DirectoryPayload, context: string): { input: Writable; done: Promise<ExtractOutcome> } {
  const input = new PassThrough();
  const done = extractTree(input, stagingDir, payload, context);
  // An early failure stops reading: the writer gets an error instead of waiting for drain forever.
  done.catch((e) => input.destroy(e));
  return { input, done };
}
