import { X509Certificate, createPrivateKey } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { expect } from 'chai';
import forge from 'node-forge';
import {
  createCertificateAuthority,
  createSelfSignedServing,
  issueCertificate,
  type CertificateSubject,
  type KeyPairPem,
} from '../../src/tls/certificates.js';

const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const DAY_MS = 24 * 60 * 60 * 1000;

describe('tls/certificates', () => {
  let ca: KeyPairPem;
  let caCert: X509Certificate;

  before(() => {
    ca = createCertificateAuthority('queryscaler-test-ca');
    caCert = new X509Certificate(ca.certPem);
  });

  describe('createCertificateAuthority', () => {
    it('is a self-signed CA with the given common name', () => {
      expect(caCert.subject).to.equal('CN=queryscaler-test-ca');
      expect(caCert.issuer).to.equal('CN=queryscaler-test-ca');
      expect(caCert.ca).to.equal(true);
      expect(caCert.verify(caCert.publicKey)).to.equal(true);
    });

    it('holds the private key of its certificate', () => {
      expect(caCert.checkPrivateKey(createPrivateKey(ca.keyPem))).to.equal(true);
    });

    it('is valid from before now until validDays later', () => {
      const before = Date.now();
      const cert = new X509Certificate(createCertificateAuthority('short', 2).certPem);
      expect(Date.parse(cert.validFrom)).to.be.below(before);
      const untilMs = Date.parse(cert.validTo) - before;
      // validTo has one-second resolution.
      expect(untilMs).to.be.within(2 * DAY_MS - 2000, 2 * DAY_MS + 2000);
    });

    const badArguments: Array<{ name: string; commonName: string; validDays?: number; message: string }> = [
      { name: 'empty common name', commonName: ' ', message: 'createCertificateAuthority: commonName must not be empty' },
      { name: 'zero validity', commonName: 'x', validDays: 0, message: 'certificate validity must be a positive number of days, got 0' },
      { name: 'NaN validity', commonName: 'x', validDays: Number.NaN, message: 'certificate validity must be a positive number of days, got NaN' },
    ];
    for (const c of badArguments) {
      it(`rejects ${c.name}`, () => {
        expect(() => createCertificateAuthority(c.commonName, c.validDays)).to.throw(c.message);
      });
    }
  });

  describe('issueCertificate', () => {
    const cases: Array<{
      name: string;
      subject: CertificateSubject;
      subjectText: string;
      subjectAltName: string | undefined;
      extKeyUsage: string[];
    }> = [
      {
        name: 'server with DNS and IP SANs',
        subject: { commonName: 'kube-apiserver', dnsNames: ['localhost', 'kubernetes.default.svc'], ipAddresses: ['127.0.0.1', '::1'], usage: 'server' },
        subjectText: 'CN=kube-apiserver',
        subjectAltName: 'DNS:localhost, DNS:kubernetes.default.svc, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1',
        extKeyUsage: [SERVER_AUTH],
      },
      {
        name: 'client with groups and no SANs',
        subject: { commonName: 'admin', organizations: ['system:masters', 'team'], usage: 'client' },
        subjectText: 'CN=admin\nO=system:masters\nO=team',
        subjectAltName: undefined,
        extKeyUsage: [CLIENT_AUTH],
      },
      {
        name: 'server-and-client',
        subject: { commonName: 'peer', dnsNames: ['peer.local'], usage: 'server-and-client' },
        subjectText: 'CN=peer',
        subjectAltName: 'DNS:peer.local',
        extKeyUsage: [SERVER_AUTH, CLIENT_AUTH],
      },
    ];
    for (const c of cases) {
      it(`issues a ${c.name} certificate`, () => {
        const leaf = issueCertificate(ca, c.subject);
        const cert = new X509Certificate(leaf.certPem);
        expect(cert.subject).to.equal(c.subjectText);
        expect(cert.issuer).to.equal('CN=queryscaler-test-ca');
        expect(cert.subjectAltName).to.equal(c.subjectAltName);
        expect(cert.keyUsage).to.deep.equal(c.extKeyUsage);
        expect(cert.ca).to.equal(false);
        expect(cert.checkIssued(caCert)).to.equal(true);
        expect(cert.verify(caCert.publicKey)).to.equal(true);
        expect(cert.checkPrivateKey(createPrivateKey(leaf.keyPem))).to.equal(true);
      });
    }

    it('is not verified by a different CA', () => {
      const other = new X509Certificate(createCertificateAuthority('other-ca').certPem);
      const cert = new X509Certificate(issueCertificate(ca, { commonName: 'x', usage: 'client' }).certPem);
      expect(cert.verify(other.publicKey)).to.equal(false);
    });

    it('gives each certificate its own key and serial number', () => {
      const a = new X509Certificate(issueCertificate(ca, { commonName: 'x', usage: 'client' }).certPem);
      const b = new X509Certificate(issueCertificate(ca, { commonName: 'x', usage: 'client' }).certPem);
      expect(a.serialNumber).not.to.equal(b.serialNumber);
      expect(a.publicKey.export({ format: 'pem', type: 'spki' })).not.to.equal(b.publicKey.export({ format: 'pem', type: 'spki' }));
    });

    // Go's x509 parser (kube-apiserver's) rejects '@' or '_' in a PrintableString, OpenSSL does not.
    it('writes every name as UTF8String, so Go accepts names with @ and _', () => {
      const issuer = createCertificateAuthority('svc_1.ns.svc-ca@1795700534');
      const leaf = issueCertificate(issuer, { commonName: 'user@example', organizations: ['group_a'], usage: 'client' });
      const tags = (pem: string) => {
        const cert = forge.pki.certificateFromPem(pem);
        return [...cert.subject.attributes, ...cert.issuer.attributes].map((a) => `${a.shortName}=${a.value} tag ${a.valueTagClass}`);
      };
      expect(tags(issuer.certPem)).to.deep.equal(['CN=svc_1.ns.svc-ca@1795700534 tag 12', 'CN=svc_1.ns.svc-ca@1795700534 tag 12']);
      expect(tags(leaf.certPem)).to.deep.equal(['CN=user@example tag 12', 'O=group_a tag 12', 'CN=svc_1.ns.svc-ca@1795700534 tag 12']);
    });

    it('rejects an IP address that is a host name', () => {
      expect(() => issueCertificate(ca, { commonName: 'web', ipAddresses: ['localhost'], usage: 'server' })).to.throw(
        'issueCertificate for "web": ipAddresses entry "localhost" is not an IPv4 or IPv6 address; put host names in dnsNames',
      );
    });
  });

  describe('createSelfSignedServing', () => {
    it('returns a server certificate signed by the returned CA', () => {
      const serving = createSelfSignedServing(['metrics.keda.svc'], ['127.0.0.1']);
      const cert = new X509Certificate(serving.certPem);
      const servingCa = new X509Certificate(serving.caPem);
      expect(cert.subject).to.equal('CN=metrics.keda.svc');
      expect(cert.subjectAltName).to.equal('DNS:metrics.keda.svc, IP Address:127.0.0.1');
      expect(cert.keyUsage).to.deep.equal([SERVER_AUTH]);
      expect(servingCa.ca).to.equal(true);
      expect(cert.checkIssued(servingCa)).to.equal(true);
      expect(cert.verify(servingCa.publicKey)).to.equal(true);
    });

    it('refuses to make a certificate no client could verify', () => {
      expect(() => createSelfSignedServing([])).to.throw(
        'createSelfSignedServing: give at least one DNS name or IP address, or no client can verify the certificate',
      );
    });

    // A real handshake over loopback: OpenSSL, not just our own reading of the certificate.
    it('completes a mutual TLS handshake verified by name against the CAs', async () => {
      const serving = createSelfSignedServing(['metrics.keda.svc']);
      const client = issueCertificate(ca, { commonName: 'front-proxy-client', usage: 'client' });
      const server = tls.createServer({ cert: serving.certPem, key: serving.keyPem, ca: ca.certPem, requestCert: true, rejectUnauthorized: true }, (socket) => {
        const peer = socket.getPeerCertificate();
        socket.end(`hello ${peer.subject.CN}`);
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      try {
        const { port } = server.address() as AddressInfo;
        const reply = await new Promise<string>((resolve, reject) => {
          const socket = tls.connect({ host: '127.0.0.1', port, servername: 'metrics.keda.svc', ca: serving.caPem, cert: client.certPem, key: client.keyPem }, () => {
            let text = '';
            socket.setEncoding('utf8');
            socket.on('data', (chunk: string) => (text += chunk));
            socket.on('end', () => resolve(text));
          });
          socket.on('error', reject);
        });
        expect(reply).to.equal('hello front-proxy-client');

        const wrongName = await new Promise<string>((resolve) => {
          const socket = tls.connect({ host: '127.0.0.1', port, servername: 'other.keda.svc', ca: serving.caPem, cert: client.certPem, key: client.keyPem });
          socket.on('secureConnect', () => {
            socket.destroy();
            resolve('connected');
          });
          socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
        });
        expect(wrongName).to.equal('ERR_TLS_CERT_ALTNAME_INVALID');
      } finally {
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    });
  });
});
