// Trigger metadata + TriggerAuthentication parameters + container env → a typed MySQL config, with
// KEDA's lookup order: credentials (password, connectionString) come from the TriggerAuthentication
// first, then from `<param>FromEnv`, never from plain metadata; the rest from metadata first. Pure.

import type { MetricSpec, TriggerInput } from '../scaler.js';
import { ScalerConfigError } from '../scaler.js';
import { DEFAULT_MYSQL_PORT, DsnError, parseConnectionString, type ConnectionTarget } from './dsn.js';
import { SecretValue } from './secret-value.js';
import { TLS_MODE_WORDS, tlsModeFromWord, unsupportedTlsWordHint, type TlsMode, type TlsSettings } from './tls-settings.js';
import { metricNameWithIndex } from '../metric-name.js';
import { checkReadOnlyQuery, QueryRefusedError } from '../../query-safety/read-only-query.js';

export const DEFAULT_QUERY_TIMEOUT_MS = 5_000;
const MAX_QUERY_TIMEOUT_MS = 300_000;

export interface MySqlConfig {
  target: ConnectionTarget;
  tls: TlsSettings;
  /** The trigger's query as checked and as sent: one read-only SELECT, comments removed. */
  query: string;
  /** Target per replica (AverageValue) or in total (Value). */
  queryValue: number;
  /** Active when the value is above this. */
  activationQueryValue: number;
  /** Server-side statement limit; the client gives up a little later. */
  queryTimeoutMs: number;
  /** NULL or no rows read as 0 instead of failing. */
  nullAsZero: boolean;
  metricName: string;
  metricType: 'AverageValue' | 'Value';
}

type Source = 'metadata' | 'authParams' | 'env';

interface Found {
  value: string;
  /** Where the user wrote it, for error messages. */
  field: string;
}

const CREDENTIAL_SOURCES: readonly Source[] = ['authParams', 'env'];
const PLAIN_SOURCES: readonly Source[] = ['metadata', 'authParams', 'env'];

/** KEDA's GenerateMetricNameWithIndex(triggerIndex, NormalizeString("mysql-"+dbName)). */
export function mysqlMetricName(triggerIndex: number, database: string): string {
  return metricNameWithIndex(triggerIndex, `mysql-${database}`);
}

export function parseMySqlConfig(input: TriggerInput): MySqlConfig {
  const settings = parseQuerySettings(input);
  const target = connectionTarget(input);
  return {
    target,
    tls: tlsSettings(input, target.tls),
    ...settings,
    metricName: mysqlMetricName(input.triggerIndex, target.database),
  };
}

/** What a scaler built from `config` reports to the HPA. */
export function mysqlMetricSpecs(config: MySqlConfig): MetricSpec[] {
  return [{ metricName: config.metricName, targetType: config.metricType, targetValue: config.queryValue }];
}

type QuerySettings = Pick<MySqlConfig, 'query' | 'queryValue' | 'activationQueryValue' | 'queryTimeoutMs' | 'nullAsZero' | 'metricType'>;

/**
 * The part of the config that only plain metadata and the trigger's metricType give, so no
 * TriggerAuthentication or env var can change it: checked first by parse, and alone at admission.
 */
export function parseQuerySettings(input: TriggerInput): QuerySettings {
  const at = (name: string) => `triggers[${input.triggerIndex}].metadata.${name}`;

  const query = lookup(input, 'query', ['metadata']);
  if (query === undefined) {
    throw new ScalerConfigError(at('query'), `${at('query')} is required: give the SELECT that returns the number to scale on`);
  }
  const statement = readOnlyStatement(query.value, at('query'));
  // The HPA target is a quantity in milli-units: anything below 0.001 would become a target of 0.
  const queryValue = number(input, 'queryValue', { required: true, min: 0.001, minExclusive: false });
  const activationQueryValue = number(input, 'activationQueryValue', { required: false, min: undefined, minExclusive: false }) ?? 0;
  const timeoutSeconds = number(input, 'queryTimeout', { required: false, min: 0, minExclusive: true });
  const queryTimeoutMs = timeoutSeconds === undefined ? DEFAULT_QUERY_TIMEOUT_MS : Math.round(timeoutSeconds * 1000);
  if (queryTimeoutMs > MAX_QUERY_TIMEOUT_MS || queryTimeoutMs < 1) {
    throw new ScalerConfigError(at('queryTimeout'),
      `${at('queryTimeout')} is ${timeoutSeconds} seconds; give a number of seconds from 0.001 to ${MAX_QUERY_TIMEOUT_MS / 1000}`);
  }
  const nullAsZero = boolean(input, 'nullAsZero') ?? false;

  if (input.metricType !== 'AverageValue' && input.metricType !== 'Value') {
    throw new ScalerConfigError(`triggers[${input.triggerIndex}].metricType`,
      `triggers[${input.triggerIndex}].metricType is ${input.metricType}; a mysql trigger supports AverageValue (default) or Value`);
  }
  return { query: statement, queryValue: queryValue!, activationQueryValue, queryTimeoutMs, nullAsZero, metricType: input.metricType };
}

/** Decided before anything is sent: a query that is refused here never reaches the server. */
function readOnlyStatement(query: string, field: string): string {
  try {
    return checkReadOnlyQuery(query).statement;
  } catch (err) {
    if (err instanceof QueryRefusedError) throw new ScalerConfigError(field, `${field} is refused: ${err.message}`);
    throw err;
  }
}

function connectionTarget(input: TriggerInput): ConnectionTarget {
  const trigger = `triggers[${input.triggerIndex}]`;
  refusePlainCredential(input, 'connectionString');
  const connectionString = lookup(input, 'connectionString', CREDENTIAL_SOURCES);
  if (connectionString !== undefined) {
    try {
      return parseConnectionString(connectionString.value);
    } catch (err) {
      if (err instanceof DsnError) throw new ScalerConfigError(connectionString.field, `${connectionString.field}: ${err.message}`);
      throw err;
    }
  }

  const host = lookup(input, 'host', PLAIN_SOURCES);
  if (host === undefined) {
    throw new ScalerConfigError(`${trigger}.metadata.host`,
      `${trigger} has no connection: set host, port, dbName and username in metadata with the password in a ` +
      'TriggerAuthentication, or give connectionString through a TriggerAuthentication (or connectionStringFromEnv)');
  }
  const username = lookup(input, 'username', PLAIN_SOURCES);
  if (username === undefined) {
    throw new ScalerConfigError(`${trigger}.metadata.username`, `${trigger}.metadata.username is required with host ${host.value}`);
  }
  const dbName = lookup(input, 'dbName', PLAIN_SOURCES);
  if (dbName === undefined) {
    throw new ScalerConfigError(`${trigger}.metadata.dbName`, `${trigger}.metadata.dbName is required with host ${host.value}`);
  }
  const port = lookup(input, 'port', PLAIN_SOURCES);
  const portNumber = port === undefined ? DEFAULT_MYSQL_PORT : Number(port.value);
  if (port !== undefined && !(/^\d{1,5}$/.test(port.value) && portNumber >= 1 && portNumber <= 65535)) {
    throw new ScalerConfigError(port.field, `${port.field} is "${port.value}"; a port is a number from 1 to 65535`);
  }
  refusePlainCredential(input, 'password');
  const password = lookup(input, 'password', CREDENTIAL_SOURCES);
  return {
    endpoint: { kind: 'tcp', host: host.value, port: portNumber },
    user: username.value,
    password: new SecretValue(password?.value ?? ''),
    database: dbName.value,
  };
}

function tlsSettings(input: TriggerInput, fromConnectionString: TlsMode | undefined): TlsSettings {
  const ca = lookup(input, 'ca', PLAIN_SOURCES);
  const cert = lookup(input, 'cert', PLAIN_SOURCES);
  refusePlainCredential(input, 'key');
  const key = lookup(input, 'key', CREDENTIAL_SOURCES);
  if ((cert === undefined) !== (key === undefined)) {
    const given = cert ?? key!;
    throw new ScalerConfigError(given.field,
      `${given.field} is set without its pair: a client certificate needs both cert and key in the TriggerAuthentication`);
  }

  const word = lookup(input, 'tls', ['authParams', 'metadata']);
  let mode: TlsMode;
  if (word !== undefined) {
    const parsed = tlsModeFromWord(word.value);
    if (parsed === undefined) {
      throw new ScalerConfigError(word.field,
        `${word.field}: ${unsupportedTlsWordHint(word.value) ?? `"${word.value}" is not a TLS mode; use one of ${TLS_MODE_WORDS}`}`);
    }
    mode = parsed;
  } else {
    // A CA given without a mode means the user wants it checked, not ignored.
    mode = fromConnectionString ?? (ca !== undefined ? 'verify-ca' : 'disable');
  }
  if (mode === 'disable' && (ca !== undefined || cert !== undefined)) {
    const given = ca ?? cert!;
    throw new ScalerConfigError(given.field, `${given.field} is set but TLS is disabled; set tls to verify-ca or verify-identity to use it`);
  }
  const settings: TlsSettings = { mode };
  if (ca !== undefined) settings.ca = ca.value;
  if (cert !== undefined) settings.cert = cert.value;
  if (key !== undefined) settings.key = new SecretValue(key.value);
  return settings;
}

/** A credential written in plain metadata would sit in the ScaledObject for anyone to read; KEDA
 * ignores it there. Ignoring it silently would leave the user guessing, so say where it goes. */
function refusePlainCredential(input: TriggerInput, name: string): void {
  const field = `triggers[${input.triggerIndex}].metadata.${name}`;
  if ((input.metadata[name] ?? '').trim() === '') return;
  if (lookup(input, name, CREDENTIAL_SOURCES) !== undefined) return;
  throw new ScalerConfigError(field, `${field} must not hold a credential in plain metadata: put it in a Secret and ` +
    `reference it from a TriggerAuthentication (parameter ${name}), or name an env var with ${name}FromEnv`);
}

function lookup(input: TriggerInput, name: string, sources: readonly Source[]): Found | undefined {
  const trigger = `triggers[${input.triggerIndex}]`;
  for (const source of sources) {
    if (source === 'metadata') {
      const value = input.metadata[name]?.trim();
      if (value) return { value, field: `${trigger}.metadata.${name}` };
    } else if (source === 'authParams') {
      const value = input.authParams[name]?.trim();
      if (value) return { value, field: `${trigger}.authenticationRef parameter ${name}` };
    } else {
      const field = `${trigger}.metadata.${name}FromEnv`;
      const variable = input.metadata[`${name}FromEnv`]?.trim();
      if (!variable) continue;
      const value = input.resolvedEnv[variable]?.trim();
      if (value === undefined) {
        throw new ScalerConfigError(field, `${field} names the env var ${variable}, which the scale target's container does not ` +
          'have (check the variable name and envSourceContainerName)');
      }
      if (value) return { value, field };
    }
  }
  return undefined;
}

function number(
  input: TriggerInput,
  name: string,
  bounds: { required: boolean; min: number | undefined; minExclusive: boolean },
): number | undefined {
  const found = lookup(input, name, ['metadata']);
  const field = `triggers[${input.triggerIndex}].metadata.${name}`;
  if (found === undefined) {
    if (bounds.required) throw new ScalerConfigError(field, `${field} is required: give the target value per replica, e.g. "3" or "2.5"`);
    return undefined;
  }
  const value = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(found.value) ? Number(found.value) : NaN;
  if (!Number.isFinite(value)) {
    throw new ScalerConfigError(field, `${field} is "${found.value}", which is not a number; write it like "3" or "2.5"`);
  }
  if (bounds.min !== undefined && (bounds.minExclusive ? value <= bounds.min : value < bounds.min)) {
    throw new ScalerConfigError(field, `${field} is ${found.value}; it must be ${bounds.minExclusive ? 'greater than' : 'at least'} ${bounds.min}`);
  }
  return value;
}

function boolean(input: TriggerInput, name: string): boolean | undefined {
  const found = lookup(input, name, ['metadata']);
  if (found === undefined) return undefined;
  const lower = found.value.toLowerCase();
  if (lower === 'true') return true;
  if (lower === 'false') return false;
  const field = `triggers[${input.triggerIndex}].metadata.${name}`;
  throw new ScalerConfigError(field, `${field} is "${found.value}"; write "true" or "false"`);
}
