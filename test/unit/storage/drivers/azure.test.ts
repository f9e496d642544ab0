/** Azure: credential selection, connection strings, error classification and messages (no store). */
import { describe, expect, test } from '@jest/globals';
import { BackupmateError } from '../../../../src/domain/errors.js';
import { connectionStringProblem, resolveAzureAuth } from '../../../../src/storage/drivers/azure-auth.js';
import { azureCode, classifyAzure, describeAzure, errorLine, isAzureNotFound } from '../../../../src/storage/drivers/azure.js';

const none = { connectionString: '', account: '', key: '', sas: '', endpoint: '' };

describe('resolveAzureAuth', () => {
  test('connection string first, then shared key, then SAS, else the default chain', () => {
    const cs = 'DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=a2V5;EndpointSuffix=core.windows.net';
    expect(resolveAzureAuth({ ...none, connectionString: cs })).toMatchObject({ method: 'connection-string', account: 'acct', endpoint: 'https://acct.blob.core.windows.net' });
    expect(resolveAzureAuth({ ...none, account: 'acct', key: 'a2V5' })).toMatchObject({ method: 'shared-key', endpoint: 'https://acct.blob.core.windows.net' });
    expect(resolveAzureAuth({ ...none, account: 'acct', sas: '?sv=1&sig=x' })).toMatchObject({ method: 'sas', sas: 'sv=1&sig=x' });
    expect(resolveAzureAuth({ ...none, endpoint: 'http://127.0.0.1:1/devstoreaccount1/' })).toMatchObject({ method: 'default-chain', endpoint: 'http://127.0.0.1:1/devstoreaccount1' });
  });

  test('a connection string with a BlobEndpoint uses it', () => {
    const a = resolveAzureAuth({ ...none, connectionString: 'AccountName=devstoreaccount1;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:9/devstoreaccount1;' });
    expect(a.endpoint).toBe('http://127.0.0.1:9/devstoreaccount1');
  });

  test('descriptions never carry the secret, and name the credential way', () => {
    const a = resolveAzureAuth({ ...none, account: 'acct', key: 'c2VjcmV0' });
    expect(describeAzure(a, 'bk')).toBe('azure://acct/bk (shared key)');
    expect(describeAzure(resolveAzureAuth({ ...none, account: 'acct', sas: 'sig=SECRET' }), 'bk')).not.toContain('SECRET');
  });
});

describe('connectionStringProblem', () => {
  test.each([
    ['AccountName=a;AccountKey=k', undefined],
    ['BlobEndpoint=https://a.blob.core.windows.net;SharedAccessSignature=sv=1&sig=x', undefined],
    ['UseDevelopmentStorage=true', undefined],
    ['AccountName=a', /AccountKey=\.\.\. or SharedAccessSignature/],
    ['AccountKey=k', /AccountName/],
    ['SharedAccessSignature=sig', /BlobEndpoint/],
  ])('%s', (cs, expected) => {
    const p = connectionStringProblem(cs);
    if (expected === undefined) expect(p).toBeUndefined();
    else expect(p).toMatch(expected);
  });
});

const rest = (statusCode: number | undefined, code: string | undefined, extra: object = {}) =>
  Object.assign(new Error(`msg ${code}\nRequestId:1`), { name: 'RestError', statusCode, code, ...extra });

describe('classifyAzure', () => {
  test.each([
    [rest(503, 'ServerBusy'), 'transient'],
    [rest(500, 'InternalError'), 'transient'],
    [rest(500, 'OperationTimedOut'), 'transient'],
    [rest(429, undefined), 'transient'],
    [rest(undefined, 'ECONNREFUSED'), 'transient'],
    [rest(undefined, 'REQUEST_SEND_ERROR'), 'transient'],
    [Object.assign(new Error('no answer'), { name: 'TimeoutError', code: 'ETIMEDOUT' }), 'transient'],
    [rest(403, 'AuthenticationFailed'), 'permanent'],
    [rest(403, 'AuthorizationPermissionMismatch'), 'permanent'],
    [rest(404, 'ContainerNotFound'), 'permanent'],
    [rest(404, 'BlobNotFound'), 'not-found'],
    [rest(404, undefined), 'not-found'],
    [rest(400, 'InvalidBlockList'), 'permanent'],
    [Object.assign(new Error('x'), { name: 'CredentialUnavailableError' }), 'permanent'],
    [Object.assign(new Error('x'), { name: 'AbortError' }), 'permanent'],
    [new BackupmateError('STORAGE', 'wrapped', {}, { cause: rest(503, 'ServerBusy') }), 'transient'],
    [new Error('unknown'), 'permanent'],
  ])('%#: %s', (e, expected) => {
    expect(classifyAzure(e)).toBe(expected);
  });

  test('a HEAD answer carries its code in x-ms-error-code only: a missing container is not a missing blob', () => {
    const head = rest(404, undefined, { response: { headers: { get: (n: string) => (n === 'x-ms-error-code' ? 'ContainerNotFound' : undefined) } } });
    expect(azureCode(head)).toBe('ContainerNotFound');
    expect(isAzureNotFound(head)).toBe(false);
    expect(classifyAzure(head)).toBe('permanent');
  });

  test('errorLine keeps the first line only (Azure appends RequestId and Time)', () => {
    expect(errorLine(rest(403, 'AuthenticationFailed'))).toBe('AuthenticationFailed (HTTP 403): msg AuthenticationFailed');
  });
});
