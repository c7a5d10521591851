import { expect } from 'chai';
import { SECRET_KEYS, servingSecretVerdict } from '../../src/serving/serving-certificate.js';
import { createCertificateAuthority, issueCertificate, type KeyPairPem } from '../../src/tls/certificates.js';

const NAMES = { dnsNames: ['queryscaler-metrics-apiserver.queryscaler.svc'], ipAddresses: ['127.0.0.1'] };

function secretData(ca: KeyPairPem, leaf: KeyPairPem): Record<string, string> {
  const b64 = (text: string) => Buffer.from(text).toString('base64');
  return { [SECRET_KEYS.caCert]: b64(ca.certPem), [SECRET_KEYS.caKey]: b64(ca.keyPem), [SECRET_KEYS.cert]: b64(leaf.certPem), [SECRET_KEYS.key]: b64(leaf.keyPem) };
}

describe('servingSecretVerdict', () => {
  const ca = createCertificateAuthority('queryscaler-ca', 3650);
  const leaf = issueCertificate(ca, { commonName: 'q', ...NAMES, usage: 'server', validDays: 3650 });
  const now = new Date();

  it('keeps a certificate that names the Service and the addresses, signed by the CA beside it', () => {
    const verdict = servingSecretVerdict(secretData(ca, leaf), NAMES, now);
    expect(verdict.keep && [verdict.pem.caCert, verdict.pem.cert]).to.deep.equal([ca.certPem, leaf.certPem]);
  });

  it('makes everything anew for a Secret without the four keys', () => {
    expect(servingSecretVerdict(undefined, NAMES, now)).to.deep.equal({ keep: false, reissue: 'ca', why: 'it lacks one of ca.crt, ca.key, tls.crt, tls.key' });
    const withoutCaKey = secretData(ca, leaf);
    delete withoutCaKey[SECRET_KEYS.caKey];
    expect(servingSecretVerdict(withoutCaKey, NAMES, now)).to.deep.equal({ keep: false, reissue: 'ca', why: 'it lacks one of ca.crt, ca.key, tls.crt, tls.key' });
  });

  it('reissues, under the same CA, a certificate that does not name what this replica serves', () => {
    expect(servingSecretVerdict(secretData(ca, leaf), { dnsNames: ['other.queryscaler.svc'] }, now)).to.deep.equal({
      keep: false,
      reissue: 'certificate',
      why: 'its certificate does not name other.queryscaler.svc',
    });
  });

  it('reissues a certificate within 30 days of its end, and replaces a CA within 30 days of its end', () => {
    const later = new Date(now.getTime() + 3640 * 24 * 60 * 60 * 1000);
    expect(servingSecretVerdict(secretData(ca, issueCertificate(ca, { commonName: 'q', ...NAMES, usage: 'server', validDays: 20 })), NAMES, now))
      .to.include({ keep: false, reissue: 'certificate' });
    expect(servingSecretVerdict(secretData(ca, leaf), NAMES, later)).to.include({ keep: false, reissue: 'ca' });
  });

  it('reissues a certificate another CA signed, or whose key is not its own', () => {
    const other = createCertificateAuthority('other');
    expect(servingSecretVerdict(secretData(ca, issueCertificate(other, { commonName: 'q', ...NAMES, usage: 'server' })), NAMES, now)).to.deep.equal({
      keep: false,
      reissue: 'certificate',
      why: 'tls.crt was not signed by ca.crt',
    });
    const mixed = { ...secretData(ca, leaf), [SECRET_KEYS.key]: secretData(ca, issueCertificate(ca, { commonName: 'q', usage: 'server' }))[SECRET_KEYS.key]! };
    expect(servingSecretVerdict(mixed, NAMES, now)).to.deep.equal({ keep: false, reissue: 'certificate', why: 'tls.key is not the key of tls.crt' });
  });
});
