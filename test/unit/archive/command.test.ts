import { runCommand } from '../../../src/archive/command.js';

describe('runCommand (one-shot commands)', () => {
  test('collects stdout, stderr and both interleaved; success is not failed', async () => {
    const r = await runCommand('/bin/sh', ['-c', 'echo out; echo err >&2; echo more']);
    expect(r).toMatchObject({ exitCode: 0, failed: false, timedOut: false, stdout: 'out\nmore', stderr: 'err' });
    expect(r.all.split('\n').sort()).toEqual(['err', 'more', 'out']);
  });

  test('a non-zero exit is failed, with the code and a one-line message', async () => {
    const r = await runCommand('/bin/sh', ['-c', 'echo nope >&2; exit 3']);
    expect(r).toMatchObject({ exitCode: 3, failed: true, stderr: 'nope', shortMessage: "Command failed with exit code 3: /bin/sh -c echo nope >&2; exit 3" });
  });

  test('a missing program is failed with its errno code, never a rejection', async () => {
    const r = await runCommand('/nonexistent/program', ['--version']);
    expect(r).toMatchObject({ exitCode: null, failed: true, code: 'ENOENT' });
    expect(r.shortMessage).toContain('/nonexistent/program');
  });

  test('a command past its timeout is killed and reported as timed out', async () => {
    const t = Date.now();
    const r = await runCommand('/bin/sh', ['-c', 'sleep 10'], { timeoutMs: 200 });
    expect(r).toMatchObject({ failed: true, timedOut: true, signal: 'SIGTERM' });
    expect(Date.now() - t).toBeLessThan(5000);
  });
});
