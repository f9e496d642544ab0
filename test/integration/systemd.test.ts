/**
 * The systemd units (systemd/) and the installer (deploy/install.sh), checked without a running
 * systemd and without changing the machine:
 *
 * - `systemd-analyze verify` on both units, the template as the instance backupmate@main;
 * - `systemd-analyze security --offline=yes`: the exposure level must not get worse than the
 *   one documented in README.md;
 * - the settings the daemon relies on (Type=notify, NotifyAccess=all, directories, sandbox),
 *   and that the template's sandbox is the same as the single unit's;
 * - `bash -n deploy/install.sh`, and `deploy/install.sh --dry-run`, which must change nothing.
 *
 * `systemd-analyze verify` fails when the ExecStart binary does not exist, and a test must not
 * create /usr/bin/backupmate. So the units are copied to a temporary directory with ExecStart
 * pointing at a fake executable there; nothing else in them changes.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const UNIT_DIR = path.join(REPO, 'systemd');
const INSTALLER = path.join(REPO, 'deploy/install.sh');
const INSTALLED_BIN = '/usr/bin/backupmate';
/** The exposure level reported in README.md (2.8 there); more is a regression. */
const MAX_EXPOSURE = 2.8;

const ANALYZE = ['/usr/bin/systemd-analyze', '/bin/systemd-analyze'].find((p) => fs.existsSync(p));
const describeWithAnalyze = ANALYZE ? describe : describe.skip;
const isDebian = fs.existsSync('/etc/debian_version');

// A child environment without jest's NODE_OPTIONS (--experimental-vm-modules makes node warn).
const childEnv = { ...process.env, NODE_OPTIONS: '' };

// ---------------------------------------------------------------------------------------------
// Unit files

type Unit = Record<string, Record<string, string[]>>;

/** Sections → keys → values in file order. Enough for these files: no line continuations. */
function parseUnit(text: string): Unit {
  const unit: Unit = {};
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = header[1];
      unit[section] ??= {};
      continue;
    }
    const eq = line.indexOf('=');
    if (eq < 0) throw new Error(`not a unit file line: ${raw}`);
    const key = line.slice(0, eq).trim();
    (unit[section][key] ??= []).push(line.slice(eq + 1).trim());
  }
  return unit;
}

function readUnit(name: string): { text: string; unit: Unit } {
  const text = fs.readFileSync(path.join(UNIT_DIR, name), 'utf8');
  return { text, unit: parseUnit(text) };
}

const single = readUnit('backupmate.service');
const template = readUnit('backupmate@.service');

/** The one value of `key` in [Service] (fails when it is missing or set twice). */
function one(u: Unit, key: string, section = 'Service'): string {
  const values = u[section]?.[key] ?? [];
  if (values.length !== 1) throw new Error(`${section}.${key}: expected one value, got ${JSON.stringify(values)}`);
  return values[0];
}

/**
 * Copies both units into a fresh directory with ExecStart's binary replaced by a fake
 * executable in that directory, which `systemd-analyze verify` needs to exist.
 */
function stageUnits(): { dir: string; fakeBin: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'backupmate-units-'));
  const fakeBin = path.join(dir, 'bin', 'backupmate');
  fs.mkdirSync(path.dirname(fakeBin));
  fs.writeFileSync(fakeBin, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
  for (const name of ['backupmate.service', 'backupmate@.service']) {
    const text = fs.readFileSync(path.join(UNIT_DIR, name), 'utf8');
    const rewritten = text.replace(new RegExp(`^ExecStart=${INSTALLED_BIN} `, 'gm'), `ExecStart=${fakeBin} `);
    if (rewritten === text) throw new Error(`${name}: no "ExecStart=${INSTALLED_BIN} " line to point at the fake binary`);
    fs.writeFileSync(path.join(dir, name), rewritten);
  }
  return { dir, fakeBin };
}

/** Output lines that mention one of our units or the staging directory (warnings, errors). */
function linesAboutUs(output: string, dir: string): string[] {
  return output.split('\n').filter((l) => l.includes(dir) || /backupmate/.test(l));
}

async function verify(dir: string, units: string[]) {
  // The instance path backupmate@main.service does not exist as a file: systemd-analyze loads
  // the template backupmate@.service from the same directory and instantiates it as "main".
  return execa(ANALYZE!, ['verify', '--man=no', ...units.map((u) => path.join(dir, u))], {
    cwd: dir,
    reject: false,
    all: true,
    env: childEnv,
  });
}

describe('unit files', () => {
  it('have the settings the daemon relies on', () => {
    for (const { unit } of [single, template]) {
      expect(one(unit, 'Type')).toBe('notify');
      // sd_notify messages come from the spawned systemd-notify binary, not the main PID.
      expect(one(unit, 'NotifyAccess')).toBe('all');
      expect(one(unit, 'ExecReload')).toBe('/bin/kill -HUP $MAINPID');
      expect(one(unit, 'Restart')).toBe('on-failure');
      expect(one(unit, 'KillMode')).toBe('mixed');
      expect(one(unit, 'TimeoutStopSec')).toBe('90s');
      expect(one(unit, 'RestartPreventExitStatus')).toBe('64 78');
      // Runs as root; the daemon reads its env files itself (no secrets in the environment).
      expect(unit.Service.User).toBeUndefined();
      expect(unit.Service.EnvironmentFile).toBeUndefined();
      expect(one(unit, 'Group')).toBe('backupmate');
      expect(one(unit, 'RuntimeDirectoryMode')).toBe('0750');
      expect(one(unit, 'UMask')).toBe('0077');
      // The rename aside (/var/lib/mysql -> /var/lib/mysql.before-restore-*) needs the parent
      // writable and the datadir NOT a separate mount point.
      expect(unit.Service.ReadWritePaths).toEqual(['/var/lib']);
      expect(one(unit, 'ProtectSystem')).toBe('strict');
      // Ordering against MariaDB only: a restore stops MariaDB and must not stop backupmate.
      for (const dep of ['Requires', 'BindsTo', 'PartOf', 'Requisite']) {
        expect((unit.Unit[dep] ?? []).join(' ')).not.toMatch(/mariadb/);
      }
      expect(unit.Install.WantedBy).toEqual(['multi-user.target']);
    }
    expect(one(single.unit, 'ExecStart')).toBe(`${INSTALLED_BIN} run`);
    expect(one(single.unit, 'RuntimeDirectory')).toBe('backupmate');
    expect(one(single.unit, 'StateDirectory')).toBe('backupmate');
    expect(one(single.unit, 'LogsDirectory')).toBe('backupmate');
    expect(one(template.unit, 'ExecStart')).toBe(`${INSTALLED_BIN} run --config /etc/backupmate/%i.env`);
    expect(one(template.unit, 'RuntimeDirectory')).toBe('backupmate/%i');
    expect(one(template.unit, 'StateDirectory')).toBe('backupmate/%i');
    expect(one(template.unit, 'LogsDirectory')).toBe('backupmate');
    expect(template.unit.Unit.Conflicts).toEqual(['backupmate.service']);
  });

  it('give the template the same sandbox as the single unit', () => {
    const perInstance = new Set(['ExecStart', 'RuntimeDirectory', 'StateDirectory', 'SyslogIdentifier']);
    const sandbox = (u: Unit) =>
      Object.fromEntries(Object.entries(u.Service).filter(([k]) => !perInstance.has(k)));
    expect(sandbox(template.unit)).toEqual(sandbox(single.unit));
  });
});

describeWithAnalyze('systemd-analyze', () => {
  let staged: { dir: string; fakeBin: string };
  beforeAll(() => {
    staged = stageUnits();
  });
  afterAll(() => {
    fs.rmSync(staged.dir, { recursive: true, force: true });
  });

  it('verify passes both units, the template as backupmate@main, without warnings', async () => {
    const r = await verify(staged.dir, ['backupmate.service', 'backupmate@main.service']);
    expect(linesAboutUs(String(r.all), staged.dir)).toEqual([]);
    expect(r.exitCode).toBe(0);
  });

  it('verify really reads the template through the instance name (control: a broken copy fails)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'backupmate-broken-'));
    try {
      const text = fs.readFileSync(path.join(staged.dir, 'backupmate@.service'), 'utf8');
      const broken = text.replace(/^Group=/m, 'Grup=').replace(staged.fakeBin, path.join(dir, 'no-such-binary'));
      fs.writeFileSync(path.join(dir, 'backupmate@.service'), broken);
      const r = await verify(dir, ['backupmate@main.service']);
      // An unknown key is only a warning (exit 0), so the test above must look for warning
      // lines, not just the exit status; a missing ExecStart binary is an error.
      expect(String(r.all)).toMatch(/Unknown key 'Grup'/);
      expect(String(r.all)).toMatch(/backupmate@main\.service: Command .* is not executable/);
      expect(r.exitCode).not.toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it(`security --offline rates both units at most ${MAX_EXPOSURE}`, async () => {
    const help = await execa(ANALYZE!, ['--help'], { reject: false, env: childEnv });
    if (!String(help.stdout).includes('--offline')) {
      console.warn('systemd-analyze has no --offline (systemd < 250): exposure not checked');
      return;
    }
    for (const unit of ['backupmate.service', 'backupmate@main.service']) {
      const r = await execa(ANALYZE!, ['security', '--offline=yes', '--man=no', path.join(staged.dir, unit)], {
        cwd: staged.dir,
        reject: false,
        all: true,
        env: childEnv,
      });
      expect(r.exitCode).toBe(0);
      const m = /Overall exposure level for (\S+): ([0-9.]+)/.exec(String(r.all));
      expect(m?.[1]).toBe(unit);
      expect(Number(m?.[2])).toBeLessThanOrEqual(MAX_EXPOSURE);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Installer

describe('deploy/install.sh', () => {
  it('is valid bash', async () => {
    const r = await execa('bash', ['-n', INSTALLER], { reject: false, all: true });
    expect(r.all).toBe('');
    expect(r.exitCode).toBe(0);
  });

  it('answers --help and rejects unknown arguments with 64', async () => {
    const help = await execa('bash', [INSTALLER, '--help'], { reject: false, env: childEnv });
    expect(help.exitCode).toBe(0);
    expect(help.stdout).toMatch(/--dry-run/);
    const bad = await execa('bash', [INSTALLER, '--prefix=/opt'], { reject: false, env: childEnv });
    expect(bad.exitCode).toBe(64);
    expect(bad.stderr).toMatch(/unknown argument: --prefix=\/opt/);
  });

  (isDebian ? it : it.skip)('--dry-run says what it would do and changes nothing', async () => {
    const before = await snapshot();
    const r = await execa('bash', [INSTALLER, '--dry-run'], { reject: false, all: true, env: childEnv, timeout: 120_000 });
    const after = await snapshot();
    expect(r.exitCode).toBe(0);
    expect(after).toEqual(before);
    const out = String(r.all);
    expect(out).toMatch(/dry run: nothing will be changed/);
    expect(out).toMatch(/would run: npm ci /);
    // age is needed for ENCRYPTION=age and to restore or verify encrypted backups.
    expect(out).toMatch(/apt packages present: .*\bage\b|would run: .*apt-get install .*\bage\b/);
    expect(out).toMatch(/would run: npm install -g --install-links /);
    expect(out).toMatch(/backupmate\.service: (up to date|would (install|replace) \/etc\/systemd\/system\/backupmate\.service)/);
    expect(out).toMatch(/backupmate@\.service: (up to date|would (install|replace) )/);
    expect(out).toMatch(/systemctl enable --now backupmate/);
    expect(out).toMatch(/dry run finished: nothing was changed/);
    // No "+ command" lines: those are printed only for commands that really run.
    expect(out.split('\n').filter((l) => /^\s+\+ /.test(l))).toEqual([]);
  });
});

/** What a real install would change: existence, type, mode, owner, mtime and link targets. */
async function snapshot(): Promise<Record<string, string>> {
  const npmRoot = await execa('npm', ['root', '-g'], { reject: false, env: childEnv });
  const paths = [
    '/etc/backupmate',
    '/etc/backupmate/backupmate.env',
    '/etc/systemd/system/backupmate.service',
    '/etc/systemd/system/backupmate@.service',
    '/usr/bin/backupmate',
    '/usr/local/bin/backupmate',
    path.join(String(npmRoot.stdout).trim() || '/usr/lib/node_modules', 'backupmate'),
    path.join(REPO, 'node_modules/.package-lock.json'),
    path.join(REPO, 'dist/src/cli/backupmate.js'),
  ];
  const out: Record<string, string> = {};
  for (const p of paths) {
    try {
      const st = fs.lstatSync(p);
      const link = st.isSymbolicLink() ? ` -> ${fs.readlinkSync(p)}` : '';
      out[p] = `${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.mtimeMs}${link}`;
    } catch {
      out[p] = 'absent';
    }
  }
  const group = await execa('getent', ['group', 'backupmate'], { reject: false });
  out['group backupmate'] = group.exitCode === 0 ? String(group.stdout) : 'absent';
  return out;
}
