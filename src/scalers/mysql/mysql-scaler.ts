// The `mysql` trigger type: KEDA's MySQL scaler, reading one number with the trigger's query from a
// shared, bounded pool. create() dials nothing; the first read connects.

import type { DataSourceObserver, MetricsAndActivity, MetricSpec, Scaler, ScalerType } from '../scaler.js';
import { mysqlMetricSpecs, parseMySqlConfig, parseQuerySettings, type MySqlConfig } from './mysql-config.js';
import { leasePool, type PoolLease } from './pool-registry.js';
import { metricValueFromResult } from './query-result.js';
import { excessPrivilegesMessage } from '../../query-safety/account-grants.js';

export class MySqlScaler implements Scaler {
  readonly metricSpecs: readonly MetricSpec[];
  readonly #config: MySqlConfig;
  readonly #lease: PoolLease;
  /** Another ScaledObject's result of the same query is good enough for a poll when younger than our own polling interval. */
  readonly #pollingIntervalMs: number;

  constructor(config: MySqlConfig, pollingIntervalMs = 0, observer?: DataSourceObserver) {
    this.#config = config;
    this.#pollingIntervalMs = pollingIntervalMs;
    this.metricSpecs = mysqlMetricSpecs(config);
    this.#lease = leasePool(config.target, config.tls, observer);
  }

  async metricsAndActivity(signal: AbortSignal, maxAgeMs?: number): Promise<MetricsAndActivity> {
    const config = this.#config;
    const sharing = { acceptAgeMs: Math.min(maxAgeMs ?? this.#pollingIntervalMs, this.#pollingIntervalMs), keepMs: this.#pollingIntervalMs };
    const { outcome, readAt } = await this.#lease.query(config.query, config.queryTimeoutMs, signal, sharing);
    const value = metricValueFromResult(outcome, config.query, config.nullAsZero);
    const result: MetricsAndActivity = {
      samples: [{ metricName: config.metricName, value }],
      active: value > config.activationQueryValue,
      readAt,
    };
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
  metricSpecs: mysqlMetricSpecs,
  // query, queryValue, activationQueryValue, queryTimeout, nullAsZero and metricType come from plain
  // metadata only; the connection may come from a TriggerAuthentication or env vars.
  checkWithoutCredentials: (input) => void parseQuerySettings(input),
  create: (config, input, observer) => new MySqlScaler(config, input.pollingIntervalMs, observer),
  dataSourceHost: (config) => (config.target.endpoint.kind === 'tcp' ? config.target.endpoint.host : undefined),
};
