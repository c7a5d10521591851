// TLS for a MySQL connection: the mode words users write (ours, libmysql's ssl-mode and the Go
// driver's tls= values that KEDA users already have in their DSNs) and the mysql2 `ssl` options
// each mode becomes.

import type { SslOptions } from 'mysql2';
import type { SecretValue } from './secret-value.js';

/** disable: plain TCP. required: encrypted, certificate not checked. verify-ca: certificate must
 * chain to `ca`. verify-identity: verify-ca and the certificate must name the host. */
export type TlsMode = 'disable' | 'required' | 'verify-ca' | 'verify-identity';

export interface TlsSettings {
  mode: TlsMode;
  /** PEM of the CA to trust; without it the system roots are used. */
  ca?: string;
  /** PEM client certificate and key, for servers that require X509 client authentication. */
  cert?: string;
  key?: SecretValue;
}

export const TLS_MODE_WORDS = 'disable, required, verify-ca, verify-identity (or the Go DSN values true, skip-verify, false)';

const WORDS: Readonly<Record<string, TlsMode>> = {
  // ours
  'disable': 'disable',
  'required': 'required',
  'verify-ca': 'verify-ca',
  'verify-identity': 'verify-identity',
  // libmysql / MySQL URL ssl-mode
  'disabled': 'disable',
  'verify_ca': 'verify-ca',
  'verify_identity': 'verify-identity',
  // go-sql-driver/mysql tls=
  'false': 'disable',
  'true': 'verify-identity',
  'skip-verify': 'required',
};

/** The mode a word names, or undefined when it names none. Case-insensitive. */
export function tlsModeFromWord(word: string): TlsMode | undefined {
  return WORDS[word.trim().toLowerCase()];
}

/** Why a word is not accepted, for words that mean something elsewhere but not here. */
export function unsupportedTlsWordHint(word: string): string | undefined {
  const lower = word.trim().toLowerCase();
  if (lower === 'preferred') {
    return 'tls=preferred (TLS only if the server offers it) is not supported: it silently falls back to plain text. ' +
      'Use tls=skip-verify (always encrypted) or tls=false';
  }
  return undefined;
}

/** The mysql2 `ssl` option for these settings; undefined for plain TCP. */
export function mysql2Ssl(tls: TlsSettings): SslOptions | undefined {
  if (tls.mode === 'disable') return undefined;
  const ssl: SslOptions = {
    rejectUnauthorized: tls.mode !== 'required',
    verifyIdentity: tls.mode === 'verify-identity',
  };
  if (tls.ca !== undefined) ssl.ca = tls.ca;
  if (tls.cert !== undefined) ssl.cert = tls.cert;
  if (tls.key !== undefined) ssl.key = tls.key.reveal();
  return ssl;
}
