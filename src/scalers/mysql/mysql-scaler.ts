// The `mysql` trigger type: KEDA's MySQL scaler, reading one number with the trigger's query from a
// shared, bounded pool. create() dials nothing; the first read connects.

import type { DataSourceObserver, MetricsAndActivity, MetricSpec, Scaler, ScalerType } from '../scaler.js';
import { parseMySqlConfig, type MySqlConfig } from './mysql-config.js';
import { leasePool, type PoolLease } from './pool-registry.js';
import { metricValueFromResult } from './query-result.js';
import { excessPrivilegesMessage } from '../../query-safety/account-grants.js';

export class MySqlScaler implements Scaler {
  readonly metricSpecs: readonly MetricSpec[];
  readonly #config: MySqlConfig;
  readonly #lease: PoolLease;
  /** Another ScaledObject's result of the same query is good enough when younger than our own polling interval. */
  readonly #maxResultAgeMs: number;

  constructor(config: MySqlConfig, pollingIntervalMs = 0, observer?: DataSourceObserver) {
    this.#config = config;
    this.#maxResultAgeMs = pollingIntervalMs;
    this.metricSpecs = [{ metricName: config.metricName, targetType: config.metricType, targetValue: config.queryValue }];
    this.#lease = leasePool(config.target, config.tls, observer);
  }

  async metricsAndActivity(signal: AbortSignal): Promise<MetricsAndActivity> {
    const config = this.#config;
    const outcome = await this.#lease.query(config.query, config.queryTimeoutMs, signal, this.#maxResultAgeMs);
    const value = metricValueFromResult(outcome, config.query, config.nullAsZero);
    const result: MetricsAndActivity = { samples: [{ metricName: config.metricName, value }], active: value > config.activationQueryValue };
    const grants = this.#lease.accountGrants();
    if (grants !== undefined) {
      result.accountAudit = { account: grants.account };
      if (grants.excess.length > 0) {
        result.accountAudit.excessMessage = excessPrivilegesMessage(grants.account, config.target.database, grants.excess);
      }
    }
    return result;
  }

  close(): Promise<void> {
    return this.#lease.release();
  }
}

export const mysqlScalerType: ScalerType<MySqlConfig> = {
  type: 'mysql',
  kedaScalerName: 'mySQLScaler',
  parse: parseMySqlConfig,
  create: (config, input, observer) => new MySqlScaler(config, input.pollingIntervalMs, observer),
  dataSourceHost: (config) => (config.target.endpoint.kind === 'tcp' ? config.target.endpoint.host : undefined),
};
