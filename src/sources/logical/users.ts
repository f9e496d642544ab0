/**
 * Accounts and grants as SQL, for a logical backup's users file. Not `mariadb-dump
 * --system=users`: it fails the whole dump on an account the server cannot show, e.g.
 * root@<hostname> under --skip-name-resolve ("Can't find any matching row in the user table"),
 * which production servers commonly run with. Here such an account is skipped and logged.
 *
 * The file creates every account and role first (IF NOT EXISTS: a load never replaces an
 * account the target already has, nor its password), then grants (roles exist by then).
 */
import type { Logger } from '../../log/logger.js';
import { ident, literal, type SqlClient } from './client.js';

/** CREATE USER as SHOW CREATE USER prints it, made idempotent (pure). */
export function idempotentCreate(showCreate: string): string {
  return showCreate.replace(/^CREATE USER (?!IF NOT EXISTS)/, 'CREATE USER IF NOT EXISTS ');
}

/**
 * A SHOW GRANTS line without its authentication clause (pure): SHOW GRANTS prints
 * `GRANT USAGE ON *.* TO u@h IDENTIFIED BY PASSWORD '...'`, and loading that would reset the
 * password of an account the target server already has. Authentication travels in CREATE USER.
 */
export function grantWithoutAuth(grant: string): string {
  return grant.replace(/ IDENTIFIED (?:BY PASSWORD '[^']*'|VIA .*?)(?= REQUIRE | WITH |$)/, '');
}

export async function dumpUsers(client: SqlClient, log: Logger): Promise<{ sql: string; accounts: number; skipped: string[] }> {
  const rows = await client.query("SELECT User, Host, is_role FROM mysql.user ORDER BY User, Host");
  const creates: string[] = [];
  const grants: string[] = [];
  const skipped: string[] = [];
  for (const [user, host, isRole] of rows) {
    const account = isRole === 'Y' ? ident(user) : `${literal(user)}@${literal(host)}`;
    try {
      const create = isRole === 'Y' ? `CREATE ROLE IF NOT EXISTS ${ident(user)};` : idempotentCreate((await client.query(`SHOW CREATE USER ${account}`))[0][0]) + ';';
      const own = (await client.query(`SHOW GRANTS FOR ${account}`)).map(([g]) => grantWithoutAuth(g) + ';');
      creates.push(create);
      grants.push(...own);
    } catch (e) {
      const text = e instanceof Error ? e.message : String(e);
      if (!/matching row|no such grant|1133|1141/i.test(text)) throw e;
      skipped.push(`${user}@${host}`);
      log.warn(`logical backup: account ${user}@${host} is not kept: the server cannot show it (${text})`, { event: 'logical.users.skipped', user, host });
    }
  }
  return { sql: ['-- accounts and grants (backupmate logical backup)', ...creates, ...grants].join('\n') + '\n', accounts: rows.length - skipped.length, skipped };
}
