/** backupmatectl finds the control socket as the daemon's loader would (issue 11 item 7). */
import { chooseSocket, controlSocketIn, describeOrigin, resolveSocket, sourceFiles, type SocketFiles } from '../../../src/ctl/socket.js';
import { connectError } from '../../../src/ctl/client.js';

const DEFAULT = '/run/backupmate/backupmate.sock';

function files(tree: Record<string, string | NodeJS.ErrnoException>, dirs: Record<string, string[] | NodeJS.ErrnoException> = {}): SocketFiles & { reads: string[] } {
  const reads: string[] = [];
  const enoent = (p: string) => Object.assign(new Error(`ENOENT ${p}`), { code: 'ENOENT' });
  return {
    reads,
    list(dir) {
      const d = dirs[dir];
      if (d === undefined) throw enoent(dir);
      if (d instanceof Error) throw d;
      return d;
    },
    read(file) {
      reads.push(file);
      const f = tree[file];
      if (f === undefined) throw enoent(file);
      if (f instanceof Error) throw f;
      return f;
    },
  };
}
const eacces = () => Object.assign(new Error('EACCES'), { code: 'EACCES' });

describe('controlSocketIn: only the CONTROL_SOCKET key, as dotenv reads it', () => {
  test.each([
    ['CONTROL_SOCKET=/run/a.sock', '/run/a.sock'],
    ["CONTROL_SOCKET='/run/a b.sock'", '/run/a b.sock'],
    ['export CONTROL_SOCKET="/run/a.sock" # comment', '/run/a.sock'],
    ['CONTROL_SOCKET = /run/a.sock # comment', '/run/a.sock'],
    ['CONTROL_SOCKET=/run/a.sock\nCONTROL_SOCKET=/run/b.sock', '/run/b.sock'],
    ['# CONTROL_SOCKET=/run/a.sock', undefined],
    ['MY_CONTROL_SOCKET=/run/a.sock', undefined],
    ['CONTROL_SOCKET=', undefined],
    ['DB_PASSWORD=secret\n', undefined],
  ])('%j -> %s', (text, want) => expect(controlSocketIn(text)).toBe(want));
});

describe('chooseSocket: --socket, $CONTROL_SOCKET, the files (later wins), the default', () => {
  const f = [
    { path: '/etc/backupmate/a.env', text: 'CONTROL_SOCKET=/run/a.sock' },
    { path: '/etc/backupmate/b.env', text: 'DB_USER=x' },
    { path: '/home/dba/.backupmate.env', text: 'CONTROL_SOCKET=/run/cwd.sock' },
  ];
  test('--socket first', () => expect(chooseSocket('/x.sock', { CONTROL_SOCKET: '/e.sock' }, f, DEFAULT)).toEqual({ path: '/x.sock', from: '--socket', skipped: [] }));
  test('then the environment', () => expect(chooseSocket(undefined, { CONTROL_SOCKET: '/e.sock' }, f, DEFAULT)).toMatchObject({ path: '/e.sock', from: '$CONTROL_SOCKET' }));
  test('then the files, later wins', () =>
    expect(chooseSocket(undefined, {}, f, DEFAULT)).toMatchObject({ path: '/run/cwd.sock', from: 'CONTROL_SOCKET in /home/dba/.backupmate.env' }));
  test('a file without the key does not override an earlier one', () =>
    expect(chooseSocket(undefined, {}, f.slice(0, 2), DEFAULT)).toMatchObject({ path: '/run/a.sock', from: 'CONTROL_SOCKET in /etc/backupmate/a.env' }));
  test('else the default, with the unreadable files named', () => {
    const c = chooseSocket(undefined, {}, [{ path: '/etc/backupmate/backupmate.env', error: 'permission denied' }], DEFAULT);
    expect(c).toEqual({ path: DEFAULT, from: expect.stringMatching(/^the default/), skipped: ['/etc/backupmate/backupmate.env: permission denied'] });
  });
});

describe('sourceFiles: the loader\'s files in its order', () => {
  test('etc *.env by name (dotfiles and other names left out), then the cwd file; missing ones skipped silently', () => {
    const io = files({ '/etc/backupmate/a.env': 'A', '/etc/backupmate/b.env': 'B', '/w/.backupmate.env': 'W' }, { '/etc/backupmate': ['b.env', '.x.env', 'a.env', 'notes.txt'] });
    expect(sourceFiles('/w', '/etc/backupmate', io)).toEqual([
      { path: '/etc/backupmate/a.env', text: 'A' },
      { path: '/etc/backupmate/b.env', text: 'B' },
      { path: '/w/.backupmate.env', text: 'W' },
    ]);
    expect(sourceFiles('/elsewhere', '/nonexistent', io)).toEqual([]);
  });
  test('an unreadable file or directory is returned with its error', () => {
    const io = files({ '/etc/backupmate/backupmate.env': eacces() }, { '/etc/backupmate': ['backupmate.env'], '/locked': eacces() });
    expect(sourceFiles('/w', '/etc/backupmate', io)).toEqual([{ path: '/etc/backupmate/backupmate.env', error: 'permission denied' }]);
    expect(sourceFiles('/w', '/locked', io)).toEqual([{ path: '/locked/*.env', error: 'permission denied' }]);
  });
  test('with --socket or $CONTROL_SOCKET no file is read at all', () => {
    const io = files({ '/w/.backupmate.env': 'CONTROL_SOCKET=/f.sock' }, { '/etc/backupmate': [] });
    expect(resolveSocket('/x.sock', {}, '/w', DEFAULT, '/etc/backupmate', io).path).toBe('/x.sock');
    expect(resolveSocket(undefined, { CONTROL_SOCKET: '/e.sock' }, '/w', DEFAULT, '/etc/backupmate', io).path).toBe('/e.sock');
    expect(io.reads).toEqual([]);
    expect(resolveSocket(undefined, {}, '/w', DEFAULT, '/etc/backupmate', io)).toMatchObject({ path: '/f.sock', from: 'CONTROL_SOCKET in /w/.backupmate.env' });
  });
});

describe('the "not running" message says which path and where it came from', () => {
  test('from a file, with a skipped file', () => {
    const origin = describeOrigin({ from: 'CONTROL_SOCKET in /w/.backupmate.env', skipped: ['/etc/backupmate/backupmate.env: permission denied'] });
    expect(connectError({ code: 'ENOENT' }, '/f.sock', null, origin).message).toBe(
      'the backupmate daemon is not running (no socket at /f.sock, CONTROL_SOCKET in /w/.backupmate.env; could not read /etc/backupmate/backupmate.env: permission denied ' +
        '(it may set another CONTROL_SOCKET: run as a member of the backupmate group or root, or pass --socket)): start it with systemctl start backupmate',
    );
  });
  test('from the environment, and nothing added for --socket', () => {
    expect(connectError({ code: 'ECONNREFUSED' }, '/e.sock', null, describeOrigin({ from: '$CONTROL_SOCKET', skipped: [] })).message).toBe(
      'the backupmate daemon is not running (nobody listens on /e.sock, $CONTROL_SOCKET): start it with systemctl start backupmate',
    );
    expect(describeOrigin({ from: '--socket', skipped: [] })).toBe('');
  });
});
