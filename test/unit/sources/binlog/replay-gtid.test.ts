import { formatPosition, parseGtid, parsePosition, positionCovers, replayWindow } from '../../../../src/sources/binlog/replay-gtid.js';
import { BackupmateError } from '../../../../src/domain/errors.js';

describe('GTID positions', () => {
  it('parses and formats a multi-domain position, domains in order', () => {
    const p = parsePosition('2-1-3, 0-1-5');
    expect(formatPosition(p)).toBe('0-1-5,2-1-3');
    expect(parsePosition('').size).toBe(0);
  });
  it('refuses malformed GTIDs and two GTIDs of one domain with USAGE naming the input', () => {
    expect(() => parseGtid('0-1')).toThrow(/--gtid: expected a GTID like "0-1-42".*got "0-1"/);
    try {
      parsePosition('0-1-5,0-2-7');
      throw new Error('no throw');
    } catch (e) {
      expect(e).toBeInstanceOf(BackupmateError);
      expect((e as BackupmateError).code).toBe('USAGE');
      expect((e as BackupmateError).message).toMatch(/one GTID per domain, got two for domain 0/);
    }
  });
  it('compares by sequence within each domain (server ids may change after a failover)', () => {
    expect(positionCovers(parsePosition('0-2-9,1-1-1'), parsePosition('0-1-8'))).toBe(true);
    expect(positionCovers(parsePosition('0-1-9'), parsePosition('0-1-8,1-1-1'))).toBe(false);
  });
  it('replay window: only domains with something to replay; a new domain starts at 0', () => {
    expect(replayWindow(parsePosition('0-1-5,2-1-3'), parsePosition('0-1-9,2-1-3,3-1-2'))).toEqual({ start: '0-1-5,3-1-0', stop: '0-1-9,3-1-2', domains: [0, 3] });
    expect(replayWindow(parsePosition('0-1-5'), parsePosition('0-1-5'))).toBeNull();
  });
});
