// X.509 certificates for the metrics server's self-signed serving cert and for the test control
// plane (cluster CA, apiserver serving cert, client certs, front-proxy CA).
//
// Keys and signatures come from Node's native crypto: forge's pure-JS RSA key generation takes
// seconds per key and its signing 50-100 ms; native takes a few ms to sign. forge only lays out the
// certificate's DER.

import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { isIP } from 'node:net';
import forge from 'node-forge';

export interface KeyPairPem {
  certPem: string;
  keyPem: string;
}

export type CertificateUsage = 'server' | 'client' | 'server-and-client';

export interface CertificateSubject {
  commonName: string;
  /** Become the subject's O= entries; Kubernetes reads them as the client's groups. */
  organizations?: string[];
  dnsNames?: string[];
  ipAddresses?: string[];
  usage: CertificateUsage;
  validDays?: number;
}

const DEFAULT_CA_VALID_DAYS = 3650;
const DEFAULT_LEAF_VALID_DAYS = 365;
/** Backdating notBefore tolerates a verifier whose clock is a little behind ours. */
const CLOCK_SKEW_MS = 60 * 60 * 1000;
const RSA_BITS = 2048;

export function createCertificateAuthority(commonName: string, validDays = DEFAULT_CA_VALID_DAYS): KeyPairPem {
  requireCommonName(commonName, 'createCertificateAuthority');
  const cert = forge.pki.createCertificate();
  setValidity(cert, validDays);
  const keys = newRsaKeyPair();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = randomSerialNumber();
  const name = [nameAttribute('commonName', commonName)];
  cert.setSubject(name);
  cert.setIssuer(name);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  signWithSha256Rsa(cert, keys.privateKeyPem);
  return { certPem: forge.pki.certificateToPem(cert), keyPem: keys.privateKeyPem };
}

export function issueCertificate(ca: KeyPairPem, subject: CertificateSubject): KeyPairPem {
  requireCommonName(subject.commonName, 'issueCertificate');
  const ipAddresses = subject.ipAddresses ?? [];
  const badIp = ipAddresses.find((ip) => isIP(ip) === 0);
  if (badIp !== undefined) {
    throw new Error(`issueCertificate for "${subject.commonName}": ipAddresses entry "${badIp}" is not an IPv4 or IPv6 address; put host names in dnsNames`);
  }
  const caCert = forge.pki.certificateFromPem(ca.certPem);
  const cert = forge.pki.createCertificate();
  setValidity(cert, subject.validDays ?? DEFAULT_LEAF_VALID_DAYS);
  const keys = newRsaKeyPair();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = randomSerialNumber();
  cert.setSubject([
    nameAttribute('commonName', subject.commonName),
    ...(subject.organizations ?? []).map((value) => nameAttribute('organizationName', value)),
  ]);
  cert.setIssuer(caCert.subject.attributes);

  const altNames = [
    ...(subject.dnsNames ?? []).map((value) => ({ type: 2, value })),
    ...ipAddresses.map((ip) => ({ type: 7, ip })),
  ];
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    {
      name: 'extKeyUsage',
      serverAuth: subject.usage !== 'client',
      clientAuth: subject.usage !== 'server',
    },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
    // An empty SubjectAltName extension is invalid DER for most verifiers, so leave it out.
    ...(altNames.length > 0 ? [{ name: 'subjectAltName', altNames }] : []),
  ]);
  signWithSha256Rsa(cert, ca.keyPem);
  return { certPem: forge.pki.certificateToPem(cert), keyPem: keys.privateKeyPem };
}

/**
 * A fresh CA and a server certificate it signed. The CA (not the leaf) is what a client pins, e.g.
 * the caBundle of an APIService, so the leaf can be reissued under the same bundle.
 */
export function createSelfSignedServing(dnsNames: string[], ipAddresses: string[] = []): KeyPairPem & { caPem: string } {
  if (dnsNames.length === 0 && ipAddresses.length === 0) {
    throw new Error('createSelfSignedServing: give at least one DNS name or IP address, or no client can verify the certificate');
  }
  const commonName = dnsNames[0] ?? ipAddresses[0] ?? '';
  const ca = createCertificateAuthority(`${commonName}-ca@${Math.floor(Date.now() / 1000)}`);
  const leaf = issueCertificate(ca, { commonName, dnsNames, ipAddresses, usage: 'server' });
  return { ...leaf, caPem: ca.certPem };
}

/**
 * forge writes names as PrintableString by default, which cannot hold characters such as '@' or
 * '_'; Go's x509 parser then rejects the whole certificate ("invalid PrintableString"). UTF8String
 * holds any name and is what RFC 5280 asks for.
 */
function nameAttribute(name: 'commonName' | 'organizationName', value: string): forge.pki.CertificateField {
  // @types/node-forge declares this field as an asn1.Class; forge reads it as the ASN.1 tag type.
  return { name, value, valueTagClass: forge.asn1.Type.UTF8 as unknown as forge.asn1.Class };
}

/** What forge's cert.sign does, with the RSA operation done natively. */
function signWithSha256Rsa(cert: forge.pki.Certificate, signerKeyPem: string): void {
  const { getTBSCertificate } = forge.pki as unknown as { getTBSCertificate?: (c: forge.pki.Certificate) => forge.asn1.Asn1 };
  if (getTBSCertificate === undefined) {
    throw new Error('node-forge no longer exports pki.getTBSCertificate; certificates.ts needs updating for this node-forge version');
  }
  cert.signatureOid = forge.pki.oids.sha256WithRSAEncryption ?? '1.2.840.113549.1.1.11';
  cert.siginfo.algorithmOid = cert.signatureOid;
  cert.tbsCertificate = getTBSCertificate(cert);
  const tbsDer = Buffer.from(forge.asn1.toDer(cert.tbsCertificate).getBytes(), 'binary');
  cert.signature = sign('sha256', tbsDer, signerKeyPem).toString('binary');
}

function newRsaKeyPair(): { publicKey: forge.pki.rsa.PublicKey; privateKeyPem: string } {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', {
    modulusLength: RSA_BITS,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
  });
  return {
    publicKey: forge.pki.publicKeyFromPem(publicKey),
    privateKeyPem: privateKey,
  };
}

/**
 * RFC 5280: a positive integer of at most 20 octets. The first byte is kept in 0x40..0x7f: a clear
 * top bit keeps it positive, a set 0x40 bit keeps the DER minimal (Go's parser rejects a leading zero).
 */
function randomSerialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) & 0x3f) | 0x40;
  return bytes.toString('hex');
}

function setValidity(cert: forge.pki.Certificate, validDays: number): void {
  if (!Number.isFinite(validDays) || validDays <= 0) {
    throw new Error(`certificate validity must be a positive number of days, got ${validDays}`);
  }
  const now = Date.now();
  cert.validity.notBefore = new Date(now - CLOCK_SKEW_MS);
  cert.validity.notAfter = new Date(now + validDays * 24 * 60 * 60 * 1000);
}

function requireCommonName(commonName: string, caller: string): void {
  if (commonName.trim() === '') {
    throw new Error(`${caller}: commonName must not be empty`);
  }
}
