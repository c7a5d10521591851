import { Writable } from 'node:stream';
import { expect } from 'chai';
import { createLogger } from '../../src/log.js';

/** A destination that keeps what the logger wrote, as text. */
function capture(): { stream: Writable; text(): string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return { stream, text: () => chunks.join('') };
}

describe('createLogger', () => {
  it('json: one JSON line per event, the ScaledObject as a field, credentials censored', () => {
    const out = capture();
    createLogger('info', out.stream).warn({ scaledObject: 'ns/orders', reason: 'InnoDBClusterMemberLimit', password: 'hunter2' }, 'guard rail');
    const line = JSON.parse(out.text()) as Record<string, unknown>;
    expect({ ...line, time: undefined }).to.deep.equal({
      level: 'warn',
      time: undefined,
      name: 'queryscaler',
      scaledObject: 'ns/orders',
      reason: 'InnoDBClusterMemberLimit',
      password: '[redacted]',
      msg: 'guard rail',
    });
  });

  it('text: one readable line per event that leads with the ScaledObject, credentials censored', () => {
    const out = capture();
    const logger = createLogger('info', out.stream, 'text');
    logger.warn({ scaledObject: 'ns/orders', reason: 'InnoDBClusterMemberLimit', connectionString: 'u:pw@tcp(db:3306)/x' }, 'guard rail');
    logger.info('controller started');
    const lines = out.text().split('\n');
    expect(lines.map((l) => l.replace(/^\[\d\d:\d\d:\d\d\.\d{3}\] /, ''))).to.deep.equal([
      'WARN: ns/orders: guard rail {"reason":"InnoDBClusterMemberLimit","connectionString":"[redacted]"}',
      'INFO: controller started',
      '',
    ]);
  });
});
