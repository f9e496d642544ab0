/**
 * A pass-through stage that counts bytes and computes sha256 as data flows, so integrity costs no
 * second read of the data (pgBackRest's filter-group idea: hashing is a stage, not a branch).
 */
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

export class HashCounter extends Transform {
  private readonly hash: Hash = createHash('sha256');
  bytes = 0;
  private digestValue: string | null = null;

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    cb(null, chunk);
  }

  /** The hex sha256 of everything that passed; call once the stream has ended. */
  digest(): string {
    if (this.digestValue === null) this.digestValue = this.hash.digest('hex');
    return this.digestValue;
  }
}
