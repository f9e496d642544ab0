/** The store layout: one table of where each source's backups live. */
import { BackupmateError } from '../../../src/domain/errors.js';
import { layoutPrefixes, prefixFor, SourceRegistry, standardLayout } from '../../../src/sources/registry.js';
import type { Source } from '../../../src/sources/source.js';

const layout = standardLayout({ fullPrefix: 'b/full/', incrementalPrefix: 'b/inc/', directoryPrefix: 'b/dirs/' });

test('physical backups by kind, directory backups of every kind under one prefix', () => {
  expect(layout).toEqual([
    { source: 'physical', kind: 'full', prefix: 'b/full/' },
    { source: 'physical', kind: 'incremental', prefix: 'b/inc/' },
    { source: 'directory', kind: '*', prefix: 'b/dirs/' },
  ]);
  expect(prefixFor(layout, 'physical', 'incremental')).toBe('b/inc/');
  expect(prefixFor(layout, 'directory', 'incremental')).toBe('b/dirs/');
  expect(layoutPrefixes(layout)).toEqual(['b/full/', 'b/inc/', 'b/dirs/']);
  expect(standardLayout({ fullPrefix: 'f/', incrementalPrefix: 'i/' }).map((l) => l.source)).toEqual(['physical', 'physical']);
});

test('a source or kind without a place is INTERNAL; an unknown source type is INTEGRITY naming it', () => {
  expect(() => prefixFor(layout, 'logical', 'full')).toThrow(BackupmateError);
  const toy = { type: 'toy', kinds: ['full'], modes: ['target-dir'] } as unknown as Source;
  const reg = new SourceRegistry([toy], [...layout, { source: 'toy', kind: '*', prefix: 'toy/' }]);
  expect(reg.get('toy')).toBe(toy);
  expect(reg.prefixFor('toy', 'full')).toBe('toy/');
  let err: unknown;
  try {
    reg.get('tape');
  } catch (e) {
    err = e;
  }
  expect((err as BackupmateError).code).toBe('INTEGRITY');
  expect((err as BackupmateError).message).toContain('"tape"');
  expect(() => new SourceRegistry([toy, toy], layout)).toThrow('two sources of type toy');
});
