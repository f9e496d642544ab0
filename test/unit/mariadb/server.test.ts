import { BackupmateError } from '../../../src/domain/errors.js';
import { parseServerState } from '../../../src/mariadb/server.js';

describe('parseServerState', () => {
  test('identity and current LSN from the two result sets', () => {
    expect(parseServerState('db1\t/var/lib/mysql/\t7\nInnodb_lsn_current\t459380486')).toEqual({
      identity: { host: 'db1', datadir: '/var/lib/mysql', serverId: 7 },
      currentLsn: '459380486',
    });
  });

  test('a server without Innodb_lsn_current: the LSN is unknown, not 0', () => {
    expect(parseServerState('db1\t/d/\t1\n').currentLsn).toBeUndefined();
  });

  test('"/" stays "/"', () => {
    expect(parseServerState('db1\t/\t1').identity.datadir).toBe('/');
  });

  test('an unexpected answer is TOOL_FAILED quoting it', () => {
    let err: unknown;
    try {
      parseServerState('huh');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BackupmateError);
    expect((err as BackupmateError).message).toBe('unexpected answer to "SELECT @@hostname, @@datadir, @@server_id": expected host, datadir and server_id, got "huh"');
  });
});
