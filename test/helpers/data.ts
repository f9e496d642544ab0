/**
 * Test data for backup/restore tests: a deterministic sample schema (for checksum comparison)
 * and a "bank" workload whose invariants expose torn or inconsistent backups.
 */
import { spawn } from 'node:child_process';
import readline from 'node:readline';
import { listBaseTables, parseRows, quoteIdent, type PrivateServer } from './mariadb.js';

// ---------------------------------------------------------------------------------------------
// Sample data

/**
 * Creates database `shop` (or `opts.database`; dropped first if present) with about `opts.rows`
 * rows (default 120 000) spread over InnoDB, MyISAM, Aria and partitioned InnoDB tables, incl.
 * TEXT/BLOB columns with some rows large enough to be stored off-page. Content depends only on
 * `rows` (no RAND(), no NOW(), DATETIME instead of TIMESTAMP), so two loads give equal checksums.
 * Rows come from the SEQUENCE engine (seq_1_to_N) in one INSERT ... SELECT per table.
 */
export async function loadSampleData(server: PrivateServer, opts: { database?: string; rows?: number } = {}): Promise<void> {
  const db = quoteIdent(opts.database ?? 'shop');
  const rows = opts.rows ?? 120_000;
  if (!Number.isInteger(rows) || rows < 10) throw new Error(`loadSampleData: rows must be an integer >= 10, got ${rows}`);
  const share = (fraction: number) => Math.max(1, Math.round(rows * fraction));
  const n = {
    customers: share(0.1),
    products: share(0.01),
    orders: share(0.4),
    documents: share(0.02),
    events: share(0.3),
    pageViews: share(0.15),
    sales: share(0.02),
  };
  const base = "TIMESTAMP'2024-01-01 00:00:00'";

  await server.sql(`
DROP DATABASE IF EXISTS ${db};
CREATE DATABASE ${db} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
USE ${db};

CREATE TABLE customers (
  id INT UNSIGNED NOT NULL PRIMARY KEY,
  name VARCHAR(100) NOT NULL,
  email VARCHAR(191) NOT NULL,
  country CHAR(2) NOT NULL,
  created_at DATETIME NOT NULL,
  UNIQUE KEY uk_email (email),
  KEY ix_country (country)
) ENGINE=InnoDB;
INSERT INTO customers
SELECT seq, CONCAT('Kundé Nº ', seq, ' – ', SUBSTRING(MD5(seq), 1, 8)),
       CONCAT('customer', seq, '@example.test'),
       ELT(1 + seq MOD 5, 'DE', 'FR', 'US', 'JP', 'BR'),
       ${base} + INTERVAL seq MINUTE
FROM seq_1_to_${n.customers};

CREATE TABLE products (
  id INT UNSIGNED NOT NULL PRIMARY KEY,
  sku CHAR(12) NOT NULL,
  title VARCHAR(200) NOT NULL,
  price DECIMAL(10,2) NOT NULL,
  UNIQUE KEY uk_sku (sku)
) ENGINE=InnoDB;
INSERT INTO products
SELECT seq, CONCAT('SKU', LPAD(seq, 9, '0')), CONCAT('Product ', seq, ' ', SHA1(seq)), (seq * 37 MOD 100000) / 100
FROM seq_1_to_${n.products};

CREATE TABLE orders (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  customer_id INT UNSIGNED NOT NULL,
  product_id INT UNSIGNED NOT NULL,
  quantity SMALLINT UNSIGNED NOT NULL,
  total DECIMAL(12,2) NOT NULL,
  status ENUM('new','paid','shipped','cancelled') NOT NULL,
  ordered_at DATETIME(3) NOT NULL,
  KEY ix_customer (customer_id),
  KEY ix_ordered_at (ordered_at)
) ENGINE=InnoDB;
INSERT INTO orders
SELECT seq, 1 + seq MOD ${n.customers}, 1 + (seq * 7) MOD ${n.products}, 1 + seq MOD 9,
       ((seq * 7919) MOD 1000000) / 100, ELT(1 + seq MOD 4, 'new', 'paid', 'shipped', 'cancelled'),
       ${base} + INTERVAL seq * 1234567 MICROSECOND
FROM seq_1_to_${n.orders};

-- TEXT + BLOB; every 50th row is ~64 KiB so InnoDB stores it off-page.
CREATE TABLE documents (
  id INT UNSIGNED NOT NULL PRIMARY KEY,
  title VARCHAR(255) NOT NULL,
  body MEDIUMTEXT NOT NULL,
  payload LONGBLOB NOT NULL
) ENGINE=InnoDB ROW_FORMAT=DYNAMIC;
INSERT INTO documents
SELECT seq, CONCAT('Document ', seq),
       REPEAT(CONCAT(MD5(seq), ' lorem ipsum ü ', seq, '\\n'), 1 + seq MOD 40),
       IF(seq MOD 50 = 0, UNHEX(REPEAT(SHA2(seq, 256), 2048)), UNHEX(REPEAT(SHA2(seq, 256), 1 + seq MOD 64)))
FROM seq_1_to_${n.documents};

-- Non-transactional engines: mariabackup copies these under a lock, unlike InnoDB.
CREATE TABLE events (
  id INT UNSIGNED NOT NULL PRIMARY KEY,
  kind VARCHAR(32) NOT NULL,
  detail TEXT NOT NULL,
  at DATETIME NOT NULL,
  KEY ix_kind (kind)
) ENGINE=MyISAM;
INSERT INTO events
SELECT seq, ELT(1 + seq MOD 3, 'login', 'logout', 'purchase'), CONCAT('event ', seq, ' ', MD5(seq * 3)),
       ${base} + INTERVAL seq SECOND
FROM seq_1_to_${n.events};

CREATE TABLE page_views (
  id INT UNSIGNED NOT NULL PRIMARY KEY,
  path VARCHAR(255) NOT NULL,
  customer_id INT UNSIGNED NULL,
  viewed_at DATETIME NOT NULL
) ENGINE=Aria TRANSACTIONAL=1;
INSERT INTO page_views
SELECT seq, CONCAT('/products/', 1 + seq MOD ${n.products}), IF(seq MOD 4 = 0, NULL, 1 + seq MOD ${n.customers}),
       ${base} + INTERVAL seq * 2 SECOND
FROM seq_1_to_${n.pageViews};

CREATE TABLE sales_by_year (
  id INT UNSIGNED NOT NULL,
  year SMALLINT UNSIGNED NOT NULL,
  amount DECIMAL(12,2) NOT NULL,
  PRIMARY KEY (id, year)
) ENGINE=InnoDB
PARTITION BY RANGE (year) (
  PARTITION p2022 VALUES LESS THAN (2023),
  PARTITION p2023 VALUES LESS THAN (2024),
  PARTITION pmax VALUES LESS THAN MAXVALUE
);
INSERT INTO sales_by_year
SELECT seq, 2022 + seq MOD 3, (seq * 13 MOD 100000) / 100
FROM seq_1_to_${n.sales};
`);
}

// ---------------------------------------------------------------------------------------------
// Bank workload
//
// bank.accounts holds a fixed total; every transfer moves money between two accounts and
// appends one ledger row in the same transaction. A consistent snapshot therefore always has
// (a) SUM(balance) = total, (b) ledger ids 1..N without gaps, and (c) each balance equal to its
// initial balance plus the ledger rows touching it. Ledger ids are assigned explicitly from
// MAX(id)+1 under FOR UPDATE (the column is still AUTO_INCREMENT) because auto-increment
// values are lost on rollback, e.g. when the writer is stopped mid-transaction.

/**
 * (Re)creates database `bank`: `accounts` (default 100) accounts sharing `total` (default
 * 1 000 000), an empty ledger, and `meta` holding total and account count so checks on a
 * restored copy need no outside knowledge.
 */
export async function setupBank(server: PrivateServer, opts: { accounts?: number; total?: number } = {}): Promise<void> {
  const accounts = opts.accounts ?? 100;
  const total = opts.total ?? 1_000_000;
  if (!Number.isInteger(accounts) || accounts < 2) throw new Error(`setupBank: accounts must be an integer >= 2, got ${accounts}`);
  if (!Number.isSafeInteger(total)) throw new Error(`setupBank: total must be an integer, got ${total}`);
  await server.sql(`
DROP DATABASE IF EXISTS bank;
CREATE DATABASE bank;
USE bank;
CREATE TABLE meta (k VARCHAR(32) NOT NULL PRIMARY KEY, v BIGINT NOT NULL) ENGINE=InnoDB;
CREATE TABLE accounts (id INT NOT NULL PRIMARY KEY, balance BIGINT NOT NULL) ENGINE=InnoDB;
CREATE TABLE ledger (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  from_account INT NOT NULL,
  to_account INT NOT NULL,
  amount BIGINT NOT NULL,
  created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
) ENGINE=InnoDB;
INSERT INTO meta VALUES ('total', ${total}), ('accounts', ${accounts});
INSERT INTO accounts SELECT seq, ${initialBalanceSql('seq', String(total), String(accounts))} FROM seq_1_to_${accounts};
`);
}

/** Initial balance of account `id`: an equal share, the remainder on account 1. */
function initialBalanceSql(id: string, total: string, accounts: string): string {
  return `FLOOR(${total} / ${accounts}) + IF(${id} = 1, ${total} MOD ${accounts}, 0)`;
}

export interface BankWriter {
  /** Transfers committed so far. */
  readonly committed: number;
  /**
   * Lets the in-flight transfer finish, closes the connection and resolves with the number of
   * committed transfers. Rejects (with the client's stderr) if the client failed earlier, e.g.
   * because the server went away.
   */
  stop(): Promise<number>;
}

// One transfer: random distinct accounts and amount chosen server-side, then one transaction.
// 'ok' is printed only after COMMIT succeeded (the client aborts the batch on any error), so the
// count of 'ok' lines is exactly the number of committed transfers.
const TRANSFER_SQL = `SET @a := FLOOR(1 + RAND() * @n);
SET @b := 1 + MOD(@a + FLOOR(RAND() * (@n - 1)), @n);
SET @amt := FLOOR(1 + RAND() * 100);
START TRANSACTION;
SELECT COALESCE(MAX(id), 0) + 1 INTO @id FROM ledger FOR UPDATE;
UPDATE accounts SET balance = balance - @amt WHERE id = @a;
UPDATE accounts SET balance = balance + @amt WHERE id = @b;
INSERT INTO ledger (id, from_account, to_account, amount) VALUES (@id, @a, @b, @amt);
COMMIT;
SELECT 'ok';
`;

/**
 * Starts transferring money in a loop over ONE `mariadb` client connection (SQL fed through its
 * stdin, one transfer in flight at a time) until stop(). Requires setupBank() first.
 */
export function startBankWriter(server: PrivateServer): BankWriter {
  // --unbuffered: flush each result at once, otherwise the acknowledgements sit in stdio buffers.
  const child = spawn(
    'mariadb',
    [`--defaults-file=${server.clientDefaultsFile}`, '--batch', '--skip-column-names', '--unbuffered', '--database=bank'],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    if (stderr.length < 20_000) stderr += chunk;
  });
  // Writes after the client died fail with EPIPE; the loop reports the client's exit instead.
  child.stdin.on('error', () => {});
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.once('error', (err) => {
      stderr += `spawn error: ${err.message}`;
      resolve(null);
    });
  });
  const lines = readline.createInterface({ input: child.stdout })[Symbol.asyncIterator]();

  let stopping = false;
  let committed = 0;
  const failure = async (what: string): Promise<Error> => {
    child.stdin.end();
    const code = await exited;
    return new Error(`bank writer: ${what} (client exit ${code}): ${stderr.trim()}`);
  };

  const done = (async () => {
    child.stdin.write("SELECT v INTO @n FROM meta WHERE k = 'accounts';\n");
    while (!stopping) {
      child.stdin.write(TRANSFER_SQL);
      const ack = await lines.next();
      if (ack.done) throw await failure('client stopped unexpectedly');
      if (ack.value !== 'ok') throw await failure(`unexpected output '${ack.value}'`);
      committed++;
    }
    child.stdin.end();
    const code = await exited;
    if (code !== 0) throw new Error(`bank writer: client exit ${code}: ${stderr.trim()}`);
    return committed;
  })();
  // The failure is reported by stop(); until then it must not count as an unhandled rejection.
  done.catch(() => {});

  return {
    get committed() {
      return committed;
    },
    stop() {
      stopping = true;
      return done;
    },
  };
}

export interface BankCheck {
  ok: boolean;
  problems: string[];
  /** SUM(balance) found. */
  total: number;
  ledgerCount: number;
  maxId: number;
}

/**
 * Checks the bank invariants in one consistent snapshot (safe while the writer runs):
 * SUM(balance) = total (`total` argument, else the value in bank.meta), account count as set up,
 * ledger ids exactly 1..MAX(id), and every balance = initial balance + its ledger movements.
 */
export async function checkBankInvariants(server: PrivateServer, total?: number): Promise<BankCheck> {
  const out = await server.sql(
    `START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY;
SELECT (SELECT v FROM meta WHERE k = 'total'),
       (SELECT v FROM meta WHERE k = 'accounts'),
       (SELECT COALESCE(SUM(balance), 0) FROM accounts),
       (SELECT COUNT(*) FROM accounts),
       (SELECT COUNT(*) FROM ledger),
       (SELECT COALESCE(MIN(id), 0) FROM ledger),
       (SELECT COALESCE(MAX(id), 0) FROM ledger);
SELECT COUNT(*) FROM accounts a
  LEFT JOIN (SELECT acc, SUM(delta) AS delta
               FROM (SELECT from_account AS acc, -amount AS delta FROM ledger
                     UNION ALL SELECT to_account, amount FROM ledger) m
              GROUP BY acc) l ON l.acc = a.id
 WHERE a.balance <> ${initialBalanceSql('a.id', "(SELECT v FROM meta WHERE k = 'total')", "(SELECT v FROM meta WHERE k = 'accounts')")} + COALESCE(l.delta, 0);
COMMIT;`,
    'bank',
  );
  const rows = parseRows(out);
  const [metaTotal, metaAccounts, sum, accountCount, ledgerCount, minId, maxId] = rows[0]!.map(Number) as number[];
  const mismatched = Number(rows[1]![0]);
  const expectedTotal = total ?? metaTotal!;
  const problems: string[] = [];
  if (total !== undefined && total !== metaTotal) problems.push(`bank.meta total is ${metaTotal}, expected ${total}`);
  if (sum !== expectedTotal) problems.push(`SUM(balance) is ${sum}, expected ${expectedTotal}`);
  if (accountCount !== metaAccounts) problems.push(`${accountCount} accounts, expected ${metaAccounts}`);
  if (ledgerCount !== maxId) problems.push(`ledger has ${ledgerCount} rows but MAX(id) is ${maxId} (gaps)`);
  if (ledgerCount! > 0 && minId !== 1) problems.push(`ledger MIN(id) is ${minId}, expected 1`);
  if (mismatched !== 0) problems.push(`${mismatched} account balance(s) disagree with the ledger`);
  return { ok: problems.length === 0, problems, total: sum!, ledgerCount: ledgerCount!, maxId: maxId! };
}

// ---------------------------------------------------------------------------------------------

/**
 * CHECK TABLE on every base table of the non-system databases. Returns the result rows whose
 * Msg_text is not "OK" as "db.table<TAB>op<TAB>Msg_type<TAB>Msg_text" (empty: all fine). Warnings
 * such as "1 client is using or hasn't closed the table properly" are included on purpose.
 */
export async function checkAllTables(server: PrivateServer): Promise<string[]> {
  const tables = await listBaseTables(server);
  if (tables.length === 0) return [];
  const out = await server.sql(`CHECK TABLE ${tables.map(([d, t]) => `${quoteIdent(d)}.${quoteIdent(t)}`).join(', ')}`);
  return out.split('\n').filter((line) => line.length > 0 && line.split('\t')[3] !== 'OK');
}
