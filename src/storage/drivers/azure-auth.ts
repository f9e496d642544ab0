/**
 * Pure: which Azure credential the configuration names, the container URL it goes with, and the
 * words the driver uses for it in descriptions and error hints. No SDK here (config-time checks
 * and unit tests use it without loading @azure/storage-blob).
 *
 * The four ways, exactly one of which a configuration may use (config/schema.ts enforces it):
 *  1. AZURE_STORAGE_CONNECTION_STRING: account, endpoint and credential (account key or SAS) in
 *     one string, as the portal and `az storage account show-connection-string` give it.
 *  2. AZURE_STORAGE_ACCOUNT + AZURE_STORAGE_KEY: shared key.
 *  3. AZURE_STORAGE_SAS_TOKEN (+ AZURE_STORAGE_ACCOUNT or AZURE_BLOB_ENDPOINT): a shared access
 *     signature scoped to the container; it needs read, add, create, write, delete and list.
 *  4. none of those (+ AZURE_STORAGE_ACCOUNT or AZURE_BLOB_ENDPOINT): the SDK's default credential
 *     chain (@azure/identity DefaultAzureCredential): environment (AZURE_CLIENT_ID,
 *     AZURE_TENANT_ID, AZURE_CLIENT_SECRET or AZURE_FEDERATED_TOKEN_FILE: workload identity),
 *     managed identity, Azure CLI login. The identity needs "Storage Blob Data Contributor".
 */

export type AzureAuth =
  | { method: 'connection-string'; connectionString: string; account: string; endpoint: string }
  | { method: 'shared-key'; account: string; key: string; endpoint: string }
  | { method: 'sas'; sas: string; account: string; endpoint: string }
  | { method: 'default-chain'; account: string; endpoint: string };

export interface AzureAuthSettings {
  connectionString: string;
  account: string;
  key: string;
  sas: string;
  /** '' = https://<account>.blob.core.windows.net */
  endpoint: string;
}

/** The public endpoint of an account's blob service. */
export function defaultBlobEndpoint(account: string): string {
  return `https://${account}.blob.core.windows.net`;
}

/** `key=value;` pairs of a connection string (keys case-insensitive, values may contain "="). */
export function parseConnectionString(cs: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of cs.split(';')) {
    const i = part.indexOf('=');
    if (i <= 0) continue;
    out.set(part.slice(0, i).trim().toLowerCase(), part.slice(i + 1).trim());
  }
  return out;
}

/**
 * What a connection string is missing, or undefined when it names an account and a credential
 * (AccountKey or SharedAccessSignature) and, for a SAS, an endpoint. Never quotes the string.
 */
export function connectionStringProblem(cs: string): string | undefined {
  const m = parseConnectionString(cs);
  const hasKey = !!m.get('accountkey');
  const hasSas = !!m.get('sharedaccesssignature');
  if (m.get('usedevelopmentstorage') === 'true') return undefined;
  if (!hasKey && !hasSas) return 'must contain AccountKey=... or SharedAccessSignature=... (as the portal\'s "Access keys" or "Shared access signature" page gives it)';
  if (hasKey && !m.get('accountname')) return 'must contain AccountName=... next to AccountKey';
  if (hasSas && !m.get('blobendpoint') && !m.get('accountname')) return 'must contain BlobEndpoint=... (or AccountName=...) next to SharedAccessSignature';
  return undefined;
}

/** Picks the credential; call it on settings that passed the schema's checks. */
export function resolveAzureAuth(s: AzureAuthSettings): AzureAuth {
  const trimEndpoint = (e: string) => e.replace(/\/+$/, '');
  if (s.connectionString) {
    const m = parseConnectionString(s.connectionString);
    const account = m.get('accountname') ?? (m.get('usedevelopmentstorage') === 'true' ? 'devstoreaccount1' : '');
    const endpoint =
      m.get('blobendpoint') ??
      (m.get('usedevelopmentstorage') === 'true'
        ? 'http://127.0.0.1:10000/devstoreaccount1'
        : account
          ? `${m.get('defaultendpointsprotocol') ?? 'https'}://${account}.blob.${m.get('endpointsuffix') ?? 'core.windows.net'}`
          : '');
    return { method: 'connection-string', connectionString: s.connectionString, account, endpoint: trimEndpoint(endpoint) };
  }
  const endpoint = trimEndpoint(s.endpoint || (s.account ? defaultBlobEndpoint(s.account) : ''));
  if (s.key) return { method: 'shared-key', account: s.account, key: s.key, endpoint };
  if (s.sas) return { method: 'sas', sas: s.sas.replace(/^\?/, ''), account: s.account, endpoint };
  return { method: 'default-chain', account: s.account, endpoint };
}

/** The keys a user checks when the store refuses the credential (403). */
export function credentialKeys(auth: AzureAuth): string {
  switch (auth.method) {
    case 'connection-string':
      return 'AZURE_STORAGE_CONNECTION_STRING (its AccountKey or SharedAccessSignature)';
    case 'shared-key':
      return 'AZURE_STORAGE_ACCOUNT and AZURE_STORAGE_KEY';
    case 'sas':
      return 'AZURE_STORAGE_SAS_TOKEN (expiry, and permissions read, add, create, write, delete, list on the container)';
    case 'default-chain':
      return 'the identity of the default credential chain (managed or workload identity, AZURE_CLIENT_ID/AZURE_TENANT_ID...) and its "Storage Blob Data Contributor" role on the container';
  }
}

/** How the credential is named in descriptions: never the secret. */
export function authLabel(auth: AzureAuth): string {
  return { 'connection-string': 'connection string', 'shared-key': 'shared key', sas: 'SAS', 'default-chain': 'default credential chain' }[auth.method];
}
