/**
 * Self-test of the integration helpers (test/helpers): private MariaDB servers, sample data,
 * the bank workload and s3rver. If this suite fails, failures of the real integration suites
 * say nothing about backupmate.
 */
import fs from 'node:fs';
import {
  CreateBucketCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { execa } from 'execa';
import {
  checkAllTables,
  checkBankInvariants,
  loadSampleData,
  setupBank,
  startBankWriter,
} from '../helpers/data.js';
import { startPrivateServer, stopAllServers, type PrivateServer } from '../helpers/mariadb.js';
import { startS3rver, stopAllS3rvers, type S3Server } from '../helpers/s3rver.js';

const PASSWORD = 'p@ss "w0rd" #1 \\ it\'s';

let a: PrivateServer; // root password set
let b: PrivateServer; // no password
let s3: S3Server;

/** PIDs of processes whose command line mentions `needle` (pgrep -f). */
async function pgrep(needle: string): Promise<string[]> {
  const r = await execa('pgrep', ['-f', '--', needle], { reject: false });
  return String(r.stdout).split('\n').filter(Boolean);
}

/** Waits (briefly) until no process mentions `needle`; returns what is left. */
async function leftovers(needle: string): Promise<string[]> {
  for (let i = 0; i < 20; i++) {
    const pids = await pgrep(needle);
    if (pids.length === 0) return [];
    await new Promise((r) => setTimeout(r, 100));
  }
  return pgrep(needle);
}

beforeAll(async () => {
  [a, b, s3] = await Promise.all([startPrivateServer({ rootPassword: PASSWORD }), startPrivateServer(), startS3rver()]);
});

afterAll(async () => {
  // Safety net only; the last test stops everything and checks for leftovers.
  await Promise.allSettled([stopAllServers(), stopAllS3rvers()]);
});

describe('private MariaDB servers', () => {
  it('run side by side on their own sockets and ports', async () => {
    expect(a.port).not.toBe(b.port);
    expect(a.socket).not.toBe(b.socket);
    for (const s of [a, b]) {
      expect(Buffer.byteLength(s.socket)).toBeLessThan(108);
      expect(fs.statSync(s.clientDefaultsFile).mode & 0o777).toBe(0o600);
      expect((await s.sql('SELECT 1')).trim()).toBe('1');
      expect(Number(await s.sql('SELECT @@port'))).toBe(s.port);
      expect((await s.sql('SELECT @@log_bin, @@server_id')).trim()).toBe('1\t1');
    }
    // mariadbd dropped root privileges.
    const pid = fs.readFileSync(a.pidFile, 'utf8').trim();
    const { stdout } = await execa('ps', ['-o', 'user=', '-p', pid]);
    expect(stdout.trim()).toBe('mysql');
  });

  it('protects root with the password (socket and TCP) and keeps it off argv', async () => {
    const noPassword = ['--no-defaults', '-uroot', '--batch', '-e', 'SELECT 1'];
    const viaSocket = await execa('mariadb', [...noPassword, `--socket=${a.socket}`], { reject: false });
    expect(viaSocket.exitCode).not.toBe(0);
    expect(viaSocket.stderr).toMatch(/Access denied/);
    const viaTcp = await execa('mariadb', [...noPassword, '-h127.0.0.1', `-P${a.port}`], { reject: false });
    expect(viaTcp.exitCode).not.toBe(0);
    const withPassword = await execa('mariadb', [...noPassword, '-h127.0.0.1', `-P${a.port}`], {
      reject: false,
      env: { MYSQL_PWD: PASSWORD },
    });
    expect(withPassword.exitCode).toBe(0);
    expect(a.rootPassword).toBe(PASSWORD);
    expect(b.rootPassword).toBeUndefined();
  });

  it('reports SQL errors with the server message', async () => {
    await expect(b.sql('SELECT * FROM no_such_db.t')).rejects.toThrow(/Unknown database|doesn't exist/);
  });

  it('refuses a datadir that does not exist', async () => {
    await expect(startPrivateServer({ datadir: '/nonexistent/datadir' })).rejects.toThrow(/does not exist/);
  });
});

describe('sample data', () => {
  let sums: Record<string, string>;

  it('loads deterministically into both servers', async () => {
    await Promise.all([loadSampleData(a), loadSampleData(b)]);
    sums = await a.checksums();
    expect(Object.keys(sums).sort()).toEqual(
      ['customers', 'documents', 'events', 'orders', 'page_views', 'products', 'sales_by_year'].map((t) => `shop.${t}`),
    );
    for (const v of Object.values(sums)) expect(v).toMatch(/^[1-9]\d*$/);
    expect(await b.checksums()).toEqual(sums);
    expect(await a.checksums(['shop'])).toEqual(sums);
    expect(await a.checksums([])).toEqual({});

    const rows = Number(
      await a.sql("SELECT SUM(table_rows) FROM information_schema.tables WHERE table_schema = 'shop'"),
    );
    expect(rows).toBeGreaterThan(90_000); // table_rows is an InnoDB estimate; exact count below
    const exact = Number(
      await a.sql(
        'SELECT (SELECT COUNT(*) FROM customers) + (SELECT COUNT(*) FROM products) + (SELECT COUNT(*) FROM orders) + ' +
          '(SELECT COUNT(*) FROM documents) + (SELECT COUNT(*) FROM events) + (SELECT COUNT(*) FROM page_views) + ' +
          '(SELECT COUNT(*) FROM sales_by_year)',
        'shop',
      ),
    );
    expect(exact).toBeGreaterThanOrEqual(100_000);
    const engines = (await a.sql("SELECT DISTINCT engine FROM information_schema.tables WHERE table_schema = 'shop'"))
      .split('\n')
      .sort();
    expect(engines).toEqual(['Aria', 'InnoDB', 'MyISAM']);
    // Some BLOBs are large enough for off-page storage.
    expect(Number(await a.sql('SELECT MAX(LENGTH(payload)) FROM documents', 'shop'))).toBeGreaterThanOrEqual(65_536);
    expect(await checkAllTables(a)).toEqual([]);
  });

  it('survives a restart with unchanged checksums', async () => {
    const pid = Number(fs.readFileSync(a.pidFile, 'utf8'));
    await a.stop();
    expect(() => process.kill(pid, 0)).toThrow();
    await a.start();
    expect(await a.checksums()).toEqual(sums);
  });

  it('starts a second server on an existing datadir', async () => {
    await b.stop();
    const c = await startPrivateServer({ datadir: b.datadir });
    try {
      expect(c.datadir).toBe(b.datadir);
      expect(c.baseDir).not.toBe(b.baseDir);
      expect(await c.checksums()).toEqual(sums);
      expect(await checkAllTables(c)).toEqual([]);
    } finally {
      await c.stop();
    }
  });
});

describe('bank workload', () => {
  it('keeps its invariants while writing and after stop', async () => {
    await setupBank(a, { accounts: 50, total: 500_000 });
    expect(await checkBankInvariants(a)).toEqual({ ok: true, problems: [], total: 500_000, ledgerCount: 0, maxId: 0 });

    const writer = startBankWriter(a);
    await new Promise((r) => setTimeout(r, 1000));
    const live = await checkBankInvariants(a, 500_000); // consistent snapshot while writing
    expect(live.problems).toEqual([]);
    await new Promise((r) => setTimeout(r, 1000));
    const committed = await writer.stop();
    expect(committed).toBeGreaterThan(0);
    expect(writer.committed).toBe(committed);

    const after = await checkBankInvariants(a, 500_000);
    expect(after).toEqual({ ok: true, problems: [], total: 500_000, ledgerCount: committed, maxId: committed });
    // The checker does catch a broken invariant.
    await a.sql('UPDATE accounts SET balance = balance + 1 WHERE id = 1; DELETE FROM ledger WHERE id = 1;', 'bank');
    const broken = await checkBankInvariants(a, 500_000);
    expect(broken.ok).toBe(false);
    expect(broken.problems.length).toBeGreaterThanOrEqual(2);
  });

  it('rejects stop() when the connection failed', async () => {
    const writer = startBankWriter(b); // b is stopped: the client cannot connect
    await expect(writer.stop()).rejects.toThrow(/bank writer/);
  });
});

describe('s3rver', () => {
  it('serves PutObject, GetObject and paginated ListObjectsV2', async () => {
    const client = new S3Client({
      endpoint: s3.endpoint,
      region: s3.region,
      forcePathStyle: true,
      credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    try {
      for (let i = 0; i < 5; i++) {
        await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: `dir/obj-${i}`, Body: `content ${i}` }));
      }
      const got = await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: 'dir/obj-3' }));
      expect(await got.Body!.transformToString()).toBe('content 3');

      // MaxKeys < object count forces continuation tokens (the --openssl-legacy-provider case).
      const keys: string[] = [];
      let token: string | undefined;
      do {
        const page = await client.send(
          new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: 'dir/', MaxKeys: 2, ContinuationToken: token }),
        );
        keys.push(...(page.Contents ?? []).map((o) => o.Key!));
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
      expect(keys).toEqual([0, 1, 2, 3, 4].map((i) => `dir/obj-${i}`));

      // Other buckets can be created on the fly.
      await client.send(new CreateBucketCommand({ Bucket: 'second-bucket' }));
    } finally {
      client.destroy();
    }
  });
});

describe('cleanup', () => {
  it('stops everything and leaves no processes or temp dirs behind', async () => {
    const dirs = [a.baseDir, b.baseDir, s3.directory];
    await stopAllServers();
    await s3.stop();
    for (const d of dirs) {
      expect(await leftovers(d)).toEqual([]);
      expect(fs.existsSync(d)).toBe(false);
    }
  });
});
