import { putParams } from '../../../../src/storage/drivers/s3.js';

describe('putParams: the fixed parameters of every S3 put', () => {
  test('nothing configured: bucket and key only (no headers the bucket did not ask for)', () => {
    expect(putParams({ bucket: 'b' }, 'k/data.00000')).toEqual({ Bucket: 'b', Key: 'k/data.00000' });
    expect(putParams({ bucket: 'b', sse: '', sseKmsKeyId: '', storageClass: '' }, 'k')).toEqual({ Bucket: 'b', Key: 'k' });
  });

  test('S3_SSE=AES256 on data and metadata alike', () => {
    for (const role of ['data', 'metadata'] as const) {
      expect(putParams({ bucket: 'b', sse: 'AES256' }, 'k', role)).toEqual({ Bucket: 'b', Key: 'k', ServerSideEncryption: 'AES256' });
    }
  });

  test('S3_SSE=aws:kms with and without a key id', () => {
    expect(putParams({ bucket: 'b', sse: 'aws:kms' }, 'k')).toEqual({ Bucket: 'b', Key: 'k', ServerSideEncryption: 'aws:kms' });
    const arn = 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    expect(putParams({ bucket: 'b', sse: 'aws:kms', sseKmsKeyId: arn }, 'k', 'metadata')).toEqual({
      Bucket: 'b',
      Key: 'k',
      ServerSideEncryption: 'aws:kms',
      SSEKMSKeyId: arn,
    });
  });

  test('a KMS key id without aws:kms is never sent (the config refuses it anyway)', () => {
    expect(putParams({ bucket: 'b', sse: 'AES256', sseKmsKeyId: 'alias/x' }, 'k')).toEqual({ Bucket: 'b', Key: 'k', ServerSideEncryption: 'AES256' });
    expect(putParams({ bucket: 'b', sseKmsKeyId: 'alias/x' }, 'k')).toEqual({ Bucket: 'b', Key: 'k' });
  });

  test('S3_STORAGE_CLASS applies to volumes (data, the default role), not to manifest.json and SHA256SUMS', () => {
    const opts = { bucket: 'b', sse: 'AES256' as const, storageClass: 'GLACIER' };
    expect(putParams(opts, 'full/X/data.00000')).toEqual({ Bucket: 'b', Key: 'full/X/data.00000', ServerSideEncryption: 'AES256', StorageClass: 'GLACIER' });
    expect(putParams(opts, 'full/X/manifest.json', 'metadata')).toEqual({ Bucket: 'b', Key: 'full/X/manifest.json', ServerSideEncryption: 'AES256' });
  });
});
