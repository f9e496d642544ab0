/** The S3 driver's own knowledge: which of its errors are transient, permanent or not-found, and its limits. */
import { describe, expect, test } from '@jest/globals';
import { S3_LIMITS as SCHEMA_S3_LIMITS } from '../../../../src/config/schema.js';
import { BackupmateError } from '../../../../src/domain/errors.js';
import { DRIVERS } from '../../../../src/storage/drivers/index.js';
import { S3_LIMITS } from '../../../../src/storage/drivers/limits.js';
import { classifyS3 as classify, S3Storage } from '../../../../src/storage/drivers/s3.js';
import { notFound, type Storage } from '../../../../src/storage/storage.js';

/** An AWS SDK service error: name = S3 error code, $metadata.httpStatusCode. */
function sdkError(name: string, status: number, message = name): Error {
  return Object.assign(new Error(message), { name, $metadata: { httpStatusCode: status }, $fault: status >= 500 ? 'server' : 'client' });
}
function errnoError(code: string, message = `${code}: something`): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code });
}
/** What s3.ts `wrap` makes of an SDK error. */
function wrapped(cause: Error & { $metadata?: { httpStatusCode?: number } }): BackupmateError {
  return new BackupmateError('STORAGE', `doing x on s3://b failed: ${cause.message}`, { httpStatus: cause.$metadata?.httpStatusCode }, { cause });
}
/** What file.ts `wrapIo` makes of an errno error. */
function wrappedIo(code: string): BackupmateError {
  const cause = errnoError(code);
  return new BackupmateError('STORAGE', `writing k failed: ${cause.message}`, { errno: code }, { cause });
}

describe('classifyS3', () => {
  test.each<[string, unknown]>([
    ['HTTP 500 InternalError', sdkError('InternalError', 500)],
    ['HTTP 502', sdkError('BadGateway', 502)],
    ['HTTP 503 SlowDown', sdkError('SlowDown', 503)],
    ['HTTP 503 ServiceUnavailable', sdkError('ServiceUnavailable', 503)],
    ['HTTP 504', sdkError('GatewayTimeout', 504)],
    ['HTTP 429', sdkError('TooManyRequests', 429)],
    ['throttling by name, any status', sdkError('ThrottlingException', 400)],
    ['S3 RequestTimeout (a 400)', sdkError('RequestTimeout', 400)],
    ['a 5xx with an unknown name', sdkError('Unknown', 500)],
    ['ECONNRESET', errnoError('ECONNRESET', 'read ECONNRESET')],
    ['socket hang up', errnoError('ECONNRESET', 'socket hang up')],
    ['socket hang up, no code', new Error('socket hang up')],
    ['EPIPE', errnoError('EPIPE', 'write EPIPE')],
    ['ECONNREFUSED', errnoError('ECONNREFUSED')],
    ['ETIMEDOUT', errnoError('ETIMEDOUT')],
    ['SDK socket timeout (TimeoutError)', Object.assign(new Error('the request socket timed out after 3000 ms of inactivity'), { name: 'TimeoutError' })],
    ['SDK marked $retryable', Object.assign(new Error('x'), { $retryable: {} })],
    ['file EIO', errnoError('EIO')],
    ['file EAGAIN', errnoError('EAGAIN')],
    ['wrapped 500', wrapped(sdkError('InternalError', 500))],
    ['wrapped 503 SlowDown', wrapped(sdkError('SlowDown', 503))],
    ['wrapped RequestTimeout 400: the cause decides', wrapped(sdkError('RequestTimeout', 400))],
    ['wrapped reset (no status)', wrapped(errnoError('ECONNRESET', 'socket hang up'))],
    ['wrapped file EIO', wrappedIo('EIO')],
    ['wrapped file EAGAIN', wrappedIo('EAGAIN')],
    ['STORAGE error with httpStatus only', new BackupmateError('STORAGE', 'x', { httpStatus: 503 })],
    ['STORAGE error with errno only', new BackupmateError('STORAGE', 'x', { errno: 'EIO' })],
    ['two levels of wrapping', new BackupmateError('STORAGE', 'outer', {}, { cause: wrapped(sdkError('SlowDown', 503)) })],
  ])('transient: %s', (_name, e) => {
    expect(classify(e)).toBe('transient');
  });

  test.each<[string, unknown]>([
    ['403 AccessDenied', sdkError('AccessDenied', 403)],
    ['403 InvalidAccessKeyId', sdkError('InvalidAccessKeyId', 403)],
    ['403 SignatureDoesNotMatch', sdkError('SignatureDoesNotMatch', 403)],
    ['InvalidAccessKeyId without status', Object.assign(new Error('x'), { name: 'InvalidAccessKeyId' })],
    ['404 NoSuchBucket', sdkError('NoSuchBucket', 404)],
    ['400 bad request', sdkError('BadRequest', 400)],
    ['400 InvalidArgument', sdkError('InvalidArgument', 400)],
    ['301 PermanentRedirect', sdkError('PermanentRedirect', 301)],
    ['AbortError (cancelled)', Object.assign(new Error('aborted'), { name: 'AbortError' })],
    ['ENOSPC', errnoError('ENOSPC')],
    ['EACCES', errnoError('EACCES')],
    ['EROFS', errnoError('EROFS')],
    ['ENOTFOUND (unknown host)', errnoError('ENOTFOUND')],
    ['wrapped 403', wrapped(sdkError('AccessDenied', 403))],
    ['wrapped NoSuchBucket', wrapped(sdkError('NoSuchBucket', 404))],
    ['wrapped file ENOSPC', wrappedIo('ENOSPC')],
    ['wrapped file EACCES', wrappedIo('EACCES')],
    ['STORAGE error with a 403 status only', new BackupmateError('STORAGE', 'x', { httpStatus: 403 })],
    ['INTEGRITY', new BackupmateError('INTEGRITY', 'volume corrupt', {}, { cause: errnoError('EIO') })],
    ['CANCELLED', new BackupmateError('CANCELLED', 'cancelled')],
    ['INTERNAL (a bad key)', new BackupmateError('INTERNAL', 'invalid storage key')],
    ['an unknown error (a bug)', new TypeError('x is not a function')],
    ['STORAGE error saying nothing', new BackupmateError('STORAGE', 'unexpected body type')],
    ['a string', 'boom'],
    ['null', null],
    ['undefined', undefined],
  ])('permanent: %s', (_name, e) => {
    expect(classify(e)).toBe('permanent');
  });

  test.each<[string, unknown]>([
    ['404 NoSuchKey', sdkError('NoSuchKey', 404)],
    ['HEAD 404 NotFound', sdkError('NotFound', 404)],
    ['a 404 with another name (an object, not the bucket)', sdkError('Unknown', 404)],
    ['wrapped NoSuchKey', wrapped(sdkError('NoSuchKey', 404))],
    ['our notFound()', notFound({ description: 'store' } as Storage, 'a/b')],
    ['not found even if its text says 503', new BackupmateError('BACKUP_NOT_FOUND', 'HTTP 503', { notFound: true, httpStatus: 503 })],
  ])('not-found: %s', (_name, e) => {
    expect(classify(e)).toBe('not-found');
  });

  test('a cause cycle does not loop forever', () => {
    const a = new Error('a') as Error & { cause?: unknown };
    const b = new Error('b', { cause: a });
    a.cause = b;
    expect(classify(a)).toBe('permanent');
  });
});


describe('501 Not Implemented', () => {
  test('is permanent: a server without an operation will not grow it on retry', () => {
    expect(classify(Object.assign(new Error('not implemented'), { name: 'NotImplemented', $metadata: { httpStatusCode: 501 } }))).toBe('permanent');
    expect(classify({ $metadata: { httpStatusCode: 501 } })).toBe('permanent');
    expect(classify({ $metadata: { httpStatusCode: 503 } })).toBe('transient');
  });
});

describe('S3 limits', () => {
  test('the AWS multipart limits, the same object for the driver, the registry and the config checks', () => {
    expect(S3_LIMITS).toEqual({ minPartSize: 5 * 1024 ** 2, maxPartSize: 5 * 1024 ** 3, maxParts: 10_000, maxObjectSize: 5 * 1024 ** 4 });
    expect(DRIVERS.s3.limits).toBe(S3_LIMITS);
    expect(SCHEMA_S3_LIMITS).toBe(S3_LIMITS);
    const st = new S3Storage({ bucket: 'b', region: 'us-east-1', partSize: S3_LIMITS.minPartSize, queueSize: 1 });
    expect(st.limits).toBe(S3_LIMITS);
    expect(st.name).toBe('s3');
    // 10,000 parts of the smallest part hold ~48.8 GiB: why VOLUME_SIZE is checked against S3_PART_SIZE.
    expect(S3_LIMITS.minPartSize * S3_LIMITS.maxParts).toBeLessThan(S3_LIMITS.maxObjectSize);
  });

  test('the driver classifies with classifyS3', () => {
    const st = new S3Storage({ bucket: 'b', region: 'us-east-1', partSize: S3_LIMITS.minPartSize, queueSize: 1 });
    expect(st.classify(sdkError('SlowDown', 503))).toBe('transient');
    expect(st.classify(sdkError('NoSuchKey', 404))).toBe('not-found');
    expect(st.classify(sdkError('NoSuchBucket', 404))).toBe('permanent');
  });
});
