// The certificate queryscaler's HTTPS servers present (the external metrics API and the admission
// webhook, one certificate for both: they answer on the same Service name), and the CA that signed
// it, which kube-apiserver pins as caBundle to call them.
//
// By default both live in a Secret in queryscaler's own namespace, made by whichever replica starts
// first: create, and on 409 AlreadyExists read the one another replica made. So every replica
// serves the same certificate and injects the same CA, and they never fight over a caBundle. The
// Secret keeps the CA's key too: a serving certificate that no longer names the Service or nears
// its end is reissued under the same CA, so the caBundle stays and replicas still serving the old
// certificate stay trusted. Only a CA near its end (they last 10 years) is replaced, with a new
// caBundle. Given certificate files are served as they are.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import { isConflict, isForbidden, isNotFound, type KubeApi } from '../controller/kube-api.js';
import { createCertificateAuthority, createSelfSignedServing, issueCertificate, type KeyPairPem } from '../tls/certificates.js';

export type ServingCertificateSource =
  /** --tls-cert-file and --tls-key-file; caPem (--tls-ca-file) is injected into caBundles when given. */
  | { kind: 'given'; certPem: string; keyPem: string; caPem?: string }
  /** The Secret shared by every replica, made on first start. */
  | { kind: 'secret'; namespace: string; name: string; dnsNames: string[]; ipAddresses?: string[] }
  /** A CA and certificate of this process alone (tests and local runs). */
  | { kind: 'self-signed'; dnsNames: string[]; ipAddresses?: string[] };

export interface ServingCertificate {
  certPem: string;
  keyPem: string;
  /** The CA a client verifies the certificate with; unknown for given files without --tls-ca-file. */
  caPem?: string;
}

/** Certificates and their CA last this long; one left with less than RENEW_BEFORE_MS is replaced at start. */
const VALID_DAYS = 3650;
const RENEW_BEFORE_MS = 30 * 24 * 60 * 60 * 1000;

export const SECRET_KEYS = { caCert: 'ca.crt', caKey: 'ca.key', cert: 'tls.crt', key: 'tls.key' } as const;

export interface ServingNames {
  dnsNames: string[];
  ipAddresses?: string[];
}

/**
 * What the Secret's data calls for: kept as it is, a new serving certificate under its CA, or a new
 * CA (the data is missing, unreadable or the CA nears its end). Pure.
 */
export function servingSecretVerdict(
  data: Readonly<Record<string, string>> | undefined,
  wanted: ServingNames,
  now: Date,
): { keep: true; pem: SecretPem } | { keep: false; reissue: 'certificate' | 'ca'; why: string } {
  const pem = decodedSecretData(data);
  if (pem === undefined) return { keep: false, reissue: 'ca', why: `it lacks one of ${Object.values(SECRET_KEYS).join(', ')}` };
  let ca: X509Certificate;
  let leaf: X509Certificate;
  try {
    ca = new X509Certificate(pem.caCert);
    leaf = new X509Certificate(pem.cert);
    if (!ca.checkPrivateKey(createPrivateKey(pem.caKey))) return { keep: false, reissue: 'ca', why: `${SECRET_KEYS.caKey} is not the key of ${SECRET_KEYS.caCert}` };
    if (!leaf.checkPrivateKey(createPrivateKey(pem.key))) return { keep: false, reissue: 'certificate', why: `${SECRET_KEYS.key} is not the key of ${SECRET_KEYS.cert}` };
  } catch (error) {
    return { keep: false, reissue: 'ca', why: `it holds no readable certificate and key (${error instanceof Error ? error.message : String(error)})` };
  }
  if (new Date(ca.validTo).getTime() - now.getTime() < RENEW_BEFORE_MS) return { keep: false, reissue: 'ca', why: `its CA expires ${ca.validTo}` };
  if (!leaf.checkIssued(ca) || !leaf.verify(ca.publicKey)) return { keep: false, reissue: 'certificate', why: `${SECRET_KEYS.cert} was not signed by ${SECRET_KEYS.caCert}` };
  if (new Date(leaf.validTo).getTime() - now.getTime() < RENEW_BEFORE_MS) return { keep: false, reissue: 'certificate', why: `its certificate expires ${leaf.validTo}` };
  const missing = [
    ...wanted.dnsNames.filter((name) => leaf.checkHost(name, { wildcards: false }) === undefined),
    ...(wanted.ipAddresses ?? []).filter((ip) => leaf.checkIP(ip) === undefined),
  ];
  if (missing.length > 0) return { keep: false, reissue: 'certificate', why: `its certificate does not name ${missing.join(', ')}` };
  return { keep: true, pem };
}

/** The serving certificate the source gives, making (and storing) it when it does not exist yet. */
export async function obtainServingCertificate(source: ServingCertificateSource, api: KubeApi, logger: Logger): Promise<ServingCertificate> {
  switch (source.kind) {
    case 'given':
      return { certPem: source.certPem, keyPem: source.keyPem, ...(source.caPem !== undefined && { caPem: source.caPem }) };
    case 'self-signed': {
      const made = createSelfSignedServing(source.dnsNames, source.ipAddresses ?? []);
      return { certPem: made.certPem, keyPem: made.keyPem, caPem: made.caPem };
    }
    case 'secret':
      return fromSecret(source, api, logger);
  }
}

interface SecretObject {
  metadata?: { resourceVersion?: string };
  data?: Record<string, string>;
}

async function fromSecret(source: Extract<ServingCertificateSource, { kind: 'secret' }>, api: KubeApi, logger: Logger): Promise<ServingCertificate> {
  const where = `Secret ${source.namespace}/${source.name}`;
  const collection = `/api/v1/namespaces/${encodeURIComponent(source.namespace)}/secrets`;
  const path = `${collection}/${encodeURIComponent(source.name)}`;
  const secretOf = (pem: SecretPem, resourceVersion?: string) => ({
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'kubernetes.io/tls',
    metadata: { name: source.name, namespace: source.namespace, ...(resourceVersion !== undefined && { resourceVersion }) },
    data: encodedSecretData(pem),
  });

  let stored = await readSecret(api, path, where);
  if (stored === undefined) {
    const made = newServing(undefined, source);
    if (await written(() => api.request('create', collection, { body: secretOf(made) }), `cannot create ${where}`)) {
      logger.info({ secret: `${source.namespace}/${source.name}` }, 'made the serving certificate and its CA');
      return served(made);
    }
    // Another replica made it first: serve that one.
    stored = await readSecret(api, path, where);
    if (stored === undefined) throw new Error(`${where} was created by someone else and is gone again; restart to make it anew`);
  }
  const verdict = servingSecretVerdict(stored.data, source, new Date());
  if (verdict.keep) return served(verdict.pem);
  const made = newServing(verdict.reissue === 'certificate' ? decodedSecretData(stored.data) : undefined, source);
  logger.warn({ secret: `${source.namespace}/${source.name}`, why: verdict.why, reissued: verdict.reissue }, 'replacing the serving certificate');
  // resourceVersion makes this a compare-and-swap: of replicas starting together, one replaces it.
  const update = () => api.request('update', path, { body: secretOf(made, stored.metadata?.resourceVersion) });
  if (await written(update, `cannot replace ${where} (${verdict.why})`)) return served(made);
  const replaced = servingSecretVerdict((await readSecret(api, path, where))?.data, source, new Date());
  if (!replaced.keep) {
    throw new Error(`${where} was replaced by another replica with a certificate that does not fit this one (${verdict.why}); do all replicas run with the same flags?`);
  }
  return served(replaced.pem);
}

/** True once written; false when the server says someone else wrote first (409). */
async function written(write: () => Promise<unknown>, what: string): Promise<boolean> {
  try {
    await write();
    return true;
  } catch (error) {
    if (isConflict(error)) return false;
    throw withContext(error, what);
  }
}

export interface SecretPem {
  caCert: string;
  caKey: string;
  cert: string;
  key: string;
}

function newServing(ca: Pick<SecretPem, 'caCert' | 'caKey'> | undefined, names: ServingNames): SecretPem {
  const authority: KeyPairPem = ca === undefined
    ? createCertificateAuthority(`queryscaler-ca@${Math.floor(Date.now() / 1000)}`, VALID_DAYS)
    : { certPem: ca.caCert, keyPem: ca.caKey };
  const ipAddresses = (names.ipAddresses ?? []).filter((ip) => isIP(ip) !== 0);
  const leaf = issueCertificate(authority, {
    commonName: names.dnsNames[0] ?? ipAddresses[0] ?? 'queryscaler',
    dnsNames: names.dnsNames,
    ipAddresses,
    usage: 'server',
    validDays: VALID_DAYS,
  });
  return { caCert: authority.certPem, caKey: authority.keyPem, cert: leaf.certPem, key: leaf.keyPem };
}

function served(pem: SecretPem): ServingCertificate {
  return { certPem: pem.cert, keyPem: pem.key, caPem: pem.caCert };
}

function decodedSecretData(data: Readonly<Record<string, string>> | undefined): SecretPem | undefined {
  const read = (key: string): string | undefined => (data?.[key] === undefined ? undefined : Buffer.from(data[key], 'base64').toString('utf8'));
  const caCert = read(SECRET_KEYS.caCert);
  const caKey = read(SECRET_KEYS.caKey);
  const cert = read(SECRET_KEYS.cert);
  const key = read(SECRET_KEYS.key);
  if (!caCert || !caKey || !cert || !key) return undefined;
  return { caCert, caKey, cert, key };
}

function encodedSecretData(pem: SecretPem): Record<string, string> {
  const encode = (text: string): string => Buffer.from(text).toString('base64');
  return {
    [SECRET_KEYS.caCert]: encode(pem.caCert),
    [SECRET_KEYS.caKey]: encode(pem.caKey),
    [SECRET_KEYS.cert]: encode(pem.cert),
    [SECRET_KEYS.key]: encode(pem.key),
  };
}

async function readSecret(api: KubeApi, path: string, where: string): Promise<SecretObject | undefined> {
  try {
    return await api.request<SecretObject>('get', path);
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw withContext(error, `cannot read ${where}`);
  }
}

function withContext(error: unknown, what: string): Error {
  const message = error instanceof Error ? error.message : String(error);
  const hint = isForbidden(error) ? "; queryscaler's ServiceAccount needs get, create and update on Secrets in its own namespace (the Role in manifests/)" : '';
  return new Error(`${what}: ${message}${hint}`, { cause: error });
}
