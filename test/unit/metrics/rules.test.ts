import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { Metrics } from '../../../src/metrics/metrics.js';

const RULES = path.resolve('deploy/prometheus/backupmate.rules.yml');

test('deploy/prometheus/backupmate.rules.yml passes promtool check rules', () => {
  const out = execFileSync('promtool', ['check', 'rules', RULES], { encoding: 'utf8' });
  expect(out).toMatch(/SUCCESS: \d+ rules found/);
});

test('every backupmate_* metric the rules use exists', async () => {
  const text = await new Metrics().text();
  const defined = new Set([...text.matchAll(/^# TYPE (\S+)/gm)].map((m) => m[1]));
  const used = new Set([...(await import('node:fs')).readFileSync(RULES, 'utf8').matchAll(/backupmate_[a-z_]+/g)].map((m) => m[0]));
  for (const name of used) expect([name, defined.has(name)]).toEqual([name, true]);
});
