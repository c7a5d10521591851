#!/usr/bin/env node
// The queryscaler process: flags, kubeconfig, start, and a clean stop on SIGTERM/SIGINT. With no
// subcommand it runs the autoscaler; `queryscaler explain` explains one ScaledObject and exits.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { KubeConfig } from '@kubernetes/client-node';
import { Command, InvalidArgumentError, Option } from 'commander';
import { DEFAULT_API_BURST, DEFAULT_API_QPS } from './controller/kube-api.js';
import { parseWatchNamespaces } from './controller/watch-scope.js';
import { exitCodeOfCommanderError, explainCommand } from './explain/command.js';
import { createLogger, LOG_FORMATS, type LogFormat } from './log.js';
import { DEFAULT_FRESHNESS_MS, DEFAULT_LATENCY_BUDGET_MS } from './metric-cache/metric-cache.js';
import { startQueryscaler } from './queryscaler.js';
import { identityProblem } from './sharding/leases.js';
import { DEFAULT_LEASE_TIMING } from './sharding/shard-coordinator.js';

function wholeNumberFrom(minimum: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < minimum) throw new InvalidArgumentError(`"${value}" is not a whole number >= ${minimum}`);
    return n;
  };
}
const port = wholeNumberFrom(0);
// A rate or pool of 0 would not mean "off" but "wait for ever".
const atLeastOne = wholeNumberFrom(1);

/** In-flight work gets this long after SIGTERM; Kubernetes' default grace period is 30 s. */
const STOP_DEADLINE_MS = 25_000;
/** The objects manifests/ installs whose caBundle queryscaler keeps on its CA (RBAC names them too). */
const API_SERVICE = 'v1beta1.external.metrics.k8s.io';
const WEBHOOK_CONFIGURATION = 'queryscaler';
const podNamespace = process.env.POD_NAMESPACE ?? 'queryscaler';

const program = new Command('queryscaler')
  .description('A KEDA-compatible autoscaler: ScaledObjects in, HPAs and external metrics out.')
  .option('--kubeconfig <path>', 'kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or in-cluster)')
  .option('--metrics-host <host>', 'address the external metrics API listens on', '0.0.0.0')
  .option('--metrics-port <port>', 'port of the external metrics API (HTTPS)', port, 6443)
  .option('--webhook-port <port>', 'port of the ScaledObject admission webhook (HTTPS); 0 disables it', port, 9443)
  .option('--tls-cert-file <path>', 'serving certificate (PEM) of both HTTPS servers; default: the one in --certificate-secret')
  .option('--tls-key-file <path>', 'key of --tls-cert-file (PEM)')
  .option('--tls-ca-file <path>', 'CA of --tls-cert-file (PEM): written into the APIService and webhook caBundle (without it they are left alone); replicas verify each other with it when --shards is set')
  .option(
    '--certificate-secret <namespace/name>',
    'Secret holding the serving certificate and its CA, made on first start and shared by every replica',
    `${podNamespace}/queryscaler-certificates`,
  )
  .option(
    '--metrics-service <namespace/name>',
    'the Service the APIService and the webhook point at; the serving certificate names it',
    `${podNamespace}/queryscaler-metrics-apiserver`,
  )
  .option('--prometheus-port <port>', 'port of the Prometheus /metrics endpoint; 0 disables it', port, 8080)
  .option(
    '--cluster-trigger-authentication-namespace <ns>',
    'namespace whose Secrets and ConfigMaps ClusterTriggerAuthentications read',
    podNamespace,
  )
  .option(
    '--watch-namespaces <ns1,ns2>',
    'list and watch ScaledObjects and what they use only in these namespaces (default: $WATCH_NAMESPACE; empty: the whole cluster)',
    (value) => parseWatchNamespaces(value, '--watch-namespaces'),
  )
  .option('--restrict-secret-access', 'read only the Secrets and ConfigMaps that credentials name, by name (get and watch; no list)', false)
  .option('--mysql-pool-size <n>', 'connections per (endpoint, user, database, TLS) pool', atLeastOne, 4)
  .option('--kube-api-qps <n>', 'sustained Kubernetes API requests per second', atLeastOne, DEFAULT_API_QPS)
  .option('--kube-api-burst <n>', 'Kubernetes API request burst', atLeastOne, DEFAULT_API_BURST)
  .option('--log-level <level>', 'trace, debug, info, warn or error', 'info')
  .option('--shards <n>', 'shard Leases the ScaledObjects are spread over, for several active replicas; 0: no Leases (one replica only)', port, 0)
  .option('--lease-namespace <ns>', 'namespace of the member and shard Leases', process.env.POD_NAMESPACE ?? 'queryscaler')
  .option('--identity <name>', 'this replica\'s name in the Leases; default: $POD_NAME (or the host name) and a random suffix')
  .option('--peer-address <url>', 'where the other replicas reach this one\'s metrics API; default: https://$POD_IP:<metrics port>')
  .option('--lease-duration-seconds <s>', 'how long a silent replica keeps its shards', atLeastOne, DEFAULT_LEASE_TIMING.leaseDurationMs / 1000)
  .option('--lease-renew-deadline-seconds <s>', 'a replica that could not renew its Lease for this long stops working', atLeastOne, DEFAULT_LEASE_TIMING.renewDeadlineMs / 1000)
  .option('--lease-renew-period-seconds <s>', 'how often a replica renews its Lease', atLeastOne, DEFAULT_LEASE_TIMING.renewPeriodMs / 1000)
  .option('--metric-freshness-ms <ms>', 'a metric request is answered with a value read at most this long before it arrived, else read anew', port, DEFAULT_FRESHNESS_MS)
  .option('--metric-latency-budget-ms <ms>', 'how long a metric request waits for its own read before the cached value is served (marked stale)', atLeastOne, DEFAULT_LATENCY_BUDGET_MS)
  .option('--shutdown-delay-seconds <s>', 'on SIGTERM, keep serving (not ready) this long before stopping, while the pod leaves its Service', port, 0)
  .addOption(new Option('--log-format <format>', 'json: one JSON line per event; text: one readable line, for a terminal').choices(LOG_FORMATS).default('json'))
  // Root flags only before a subcommand, so explain's --kubeconfig and -n are its own.
  .enablePositionalOptions()
  .action(runAutoscaler);
program.addCommand(explainCommand());

interface CliOptions {
  kubeconfig?: string;
  metricsHost: string;
  metricsPort: number;
  webhookPort: number;
  tlsCertFile?: string;
  tlsKeyFile?: string;
  tlsCaFile?: string;
  certificateSecret: string;
  metricsService: string;
  prometheusPort: number;
  clusterTriggerAuthenticationNamespace: string;
  watchNamespaces?: string[];
  restrictSecretAccess: boolean;
  mysqlPoolSize: number;
  kubeApiQps: number;
  kubeApiBurst: number;
  logLevel: string;
  logFormat: LogFormat;
  shards: number;
  leaseNamespace: string;
  identity?: string;
  peerAddress?: string;
  leaseDurationSeconds: number;
  leaseRenewDeadlineSeconds: number;
  leaseRenewPeriodSeconds: number;
  shutdownDelaySeconds: number;
  metricFreshnessMs: number;
  metricLatencyBudgetMs: number;
}

/** A unique name per process: a restarted pod must not be mistaken for the one it replaces. */
function defaultIdentity(): string {
  const base = (process.env.POD_NAME ?? hostname()).toLowerCase().replace(/[^a-z0-9.-]+/g, '-').replace(/^[-.]+|[-.]+$/g, '') || 'queryscaler';
  return `${base.slice(0, 180)}-${randomBytes(3).toString('hex')}`;
}

function shardingOptions(opts: CliOptions) {
  if (opts.shards === 0) return undefined;
  const identity = opts.identity ?? defaultIdentity();
  const problem = identityProblem(identity);
  if (problem !== undefined) throw new Error(`--identity "${identity}" ${problem}`);
  const podIp = process.env.POD_IP;
  const peerAddress = opts.peerAddress ?? (podIp === undefined ? undefined : `https://${podIp.includes(':') ? `[${podIp}]` : podIp}:${opts.metricsPort}`);
  if (peerAddress === undefined) throw new Error('--shards needs --peer-address (or $POD_IP): the other replicas forward metric requests to this address');
  return {
    namespace: opts.leaseNamespace,
    identity,
    peerAddress,
    shardCount: opts.shards,
    timing: {
      leaseDurationMs: opts.leaseDurationSeconds * 1000,
      renewDeadlineMs: opts.leaseRenewDeadlineSeconds * 1000,
      renewPeriodMs: opts.leaseRenewPeriodSeconds * 1000,
    },
  };
}

async function runAutoscaler(opts: CliOptions): Promise<void> {
  const logger = createLogger(opts.logLevel, undefined, opts.logFormat);
  if ((opts.tlsCertFile === undefined) !== (opts.tlsKeyFile === undefined)) {
    throw new Error('--tls-cert-file and --tls-key-file go together: give both, or neither for a self-signed certificate');
  }
  const watchNamespaces = opts.watchNamespaces ?? parseWatchNamespaces(process.env.WATCH_NAMESPACE ?? '', 'WATCH_NAMESPACE');
  if (opts.shutdownDelaySeconds * 1000 > STOP_DEADLINE_MS - 10_000) {
    throw new Error(`--shutdown-delay-seconds must leave the stop itself 10 s of the ${STOP_DEADLINE_MS / 1000} s it gets after SIGTERM; give at most ${STOP_DEADLINE_MS / 1000 - 10}`);
  }
  const sharding = shardingOptions(opts);
  if (opts.tlsCaFile !== undefined && opts.tlsCertFile === undefined) {
    throw new Error('--tls-ca-file goes with --tls-cert-file and --tls-key-file: it is the CA that signed that certificate');
  }
  const service = namespacedName('--metrics-service', opts.metricsService);
  const secret = namespacedName('--certificate-secret', opts.certificateSecret);
  const dnsNames = [`${service.name}.${service.namespace}.svc`, `${service.name}.${service.namespace}.svc.cluster.local`];
  const kubeConfig = new KubeConfig();
  if (opts.kubeconfig) kubeConfig.loadFromFile(opts.kubeconfig);
  else kubeConfig.loadFromDefault();

  const running = await startQueryscaler({
    kubeConfig,
    logger,
    metricsApi: { host: opts.metricsHost, port: opts.metricsPort },
    webhook: opts.webhookPort === 0 ? false : { host: opts.metricsHost, port: opts.webhookPort },
    serving:
      opts.tlsCertFile && opts.tlsKeyFile
        ? {
            kind: 'given',
            certPem: readFileSync(opts.tlsCertFile, 'utf8'),
            keyPem: readFileSync(opts.tlsKeyFile, 'utf8'),
            ...(opts.tlsCaFile !== undefined && { caPem: readFileSync(opts.tlsCaFile, 'utf8') }),
          }
        : { kind: 'secret', ...secret, dnsNames },
    caBundles: {
      apiService: { name: API_SERVICE, service },
      ...(opts.webhookPort !== 0 && { webhookConfiguration: WEBHOOK_CONFIGURATION }),
    },
    prometheus: opts.prometheusPort === 0 ? false : { host: opts.metricsHost, port: opts.prometheusPort },
    clusterTriggerAuthenticationNamespace: opts.clusterTriggerAuthenticationNamespace,
    watchNamespaces,
    restrictSecretAccess: opts.restrictSecretAccess,
    mysqlPoolSize: opts.mysqlPoolSize,
    apiQps: opts.kubeApiQps,
    apiBurst: opts.kubeApiBurst,
    ...(sharding && { sharding }),
    shutdownDelayMs: opts.shutdownDelaySeconds * 1000,
    metricFreshnessMs: opts.metricFreshnessMs,
    metricLatencyBudgetMs: opts.metricLatencyBudgetMs,
  });
  logger.info({ metricsApiPort: running.metricsApiPort, webhookPort: running.webhookPort, prometheusPort: running.prometheusPort }, 'queryscaler started');

  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping');
    setTimeout(() => {
      logger.error({ deadlineMs: STOP_DEADLINE_MS }, 'stop did not finish in time; exiting anyway');
      process.exit(1);
    }, STOP_DEADLINE_MS).unref();
    running
      .stop()
      .then(() => process.exit(0))
      .catch((error: unknown) => {
        logger.error({ err: error }, 'stop failed');
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

function namespacedName(flag: string, value: string): { namespace: string; name: string } {
  const [namespace, name, ...rest] = value.split('/');
  if (!namespace || !name || rest.length > 0) throw new Error(`${flag} must be <namespace>/<name>, got "${value}"`);
  return { namespace, name };
}

program.parseAsync().catch((error: unknown) => {
  const explainExit = exitCodeOfCommanderError(error);
  if (explainExit !== undefined) process.exit(explainExit);
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
