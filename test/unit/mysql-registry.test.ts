import { expect } from 'chai';
import { findScalerType, knownScalerTypes, scalerTypes } from '../../src/scalers/registry.js';
import { mysqlScalerType } from '../../src/scalers/mysql/mysql-scaler.js';
import { mysqlPoolStats } from '../../src/scalers/mysql/pool-registry.js';

describe('scaler registry (mysql entry)', () => {
  it('finds the mysql type by the name users write', () => {
    expect(findScalerType('mysql')).to.equal(mysqlScalerType);
    expect(scalerTypes.get('mysql')).to.equal(mysqlScalerType);
  });

  it('lists mysql among the known types, sorted', () => {
    const known = knownScalerTypes();
    expect(known).to.include('mysql');
    expect(known).to.deep.equal([...known].sort());
  });

  const unknown = ['MySQL', 'postgresql', ''];
  for (const type of unknown) {
    it(`has no type "${type}"`, () => {
      expect(findScalerType(type)).to.equal(undefined);
    });
  }

  it('creates a mysql scaler without connecting (lazy connect)', async () => {
    const input = {
      namespace: 'default', scaledObjectName: 'mycluster', triggerIndex: 0, metricType: 'AverageValue' as const, resolvedEnv: {},
      // A port nothing listens on: creating must not dial it.
      metadata: { query: 'SELECT 1', queryValue: '3', host: '127.0.0.1', port: '1', username: 'u', dbName: 'testdb' },
      authParams: { password: 'pw' },
    };
    const type = findScalerType('mysql')!;
    const scaler = type.create(type.parse(input), input);
    expect(scaler.metricSpecs).to.deep.equal([{ metricName: 's0-mysql-testdb', targetType: 'AverageValue', targetValue: 3 }]);
    expect(mysqlPoolStats().filter((pool) => pool.label === 'u@127.0.0.1:1/testdb')).to.deep.equal([
      { label: 'u@127.0.0.1:1/testdb', leases: 1, maxConnections: 4, open: 0, idle: 0, waiting: 0, slowInUse: 0, consecutiveDialFailures: 0 },
    ]);
    await scaler.close();
    expect(mysqlPoolStats().filter((pool) => pool.label === 'u@127.0.0.1:1/testdb')).to.deep.equal([]);
  });

  it('names the host it reads from, however the trigger spelled it, for the guard rails', () => {
    const type = findScalerType('mysql')!;
    const base = { namespace: 'default', scaledObjectName: 'so', triggerIndex: 0, metricType: 'AverageValue' as const, resolvedEnv: {} };
    const byParameter = { ...base, metadata: { query: 'SELECT 1', queryValue: '3', host: 'mycluster-instances', username: 'u', dbName: 'db' }, authParams: {} };
    const byConnectionString = { ...base, metadata: { query: 'SELECT 1', queryValue: '3' }, authParams: { connectionString: 'u:pw@tcp(mycluster.ns.svc:3306)/db' } };
    const bySocket = { ...base, metadata: { query: 'SELECT 1', queryValue: '3' }, authParams: { connectionString: 'u:pw@unix(/run/mysqld/mysqld.sock)/db' } };
    expect(type.dataSourceHost?.(type.parse(byParameter))).to.equal('mycluster-instances');
    expect(type.dataSourceHost?.(type.parse(byConnectionString))).to.equal('mycluster.ns.svc');
    expect(type.dataSourceHost?.(type.parse(bySocket))).to.equal(undefined);
  });
});
