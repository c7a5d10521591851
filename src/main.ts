#!/usr/bin/env node
// The queryscaler process: flags, kubeconfig, start, and a clean stop on SIGTERM/SIGINT. With no
// subcommand it runs the autoscaler; `queryscaler explain` explains one ScaledObject and exits.
import { readFileSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { Command, InvalidArgumentError, Option } from 'commander';
import { DEFAULT_API_BURST, DEFAULT_API_QPS } from './controller/kube-api.js';
import { exitCodeOfCommanderError, explainCommand } from './explain/command.js';
import { createLogger, LOG_FORMATS, type LogFormat } from './log.js';
import { startQueryscaler } from './queryscaler.js';

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

const program = new Command('queryscaler')
  .description('A KEDA-compatible autoscaler: ScaledObjects in, HPAs and external metrics out.')
  .option('--kubeconfig <path>', 'kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or in-cluster)')
  .option('--metrics-host <host>', 'address the external metrics API listens on', '0.0.0.0')
  .option('--metrics-port <port>', 'port of the external metrics API (HTTPS)', port, 6443)
  .option('--tls-cert-file <path>', 'serving certificate (PEM); default: a self-signed one made at start')
  .option('--tls-key-file <path>', 'key of --tls-cert-file (PEM)')
  .option(
    '--metrics-service <namespace/name>',
    'the Service the APIService points at; names the self-signed certificate',
    `${process.env.POD_NAMESPACE ?? 'queryscaler'}/queryscaler-metrics-apiserver`,
  )
  .option('--prometheus-port <port>', 'port of the Prometheus /metrics endpoint; 0 disables it', port, 8080)
  .option(
    '--cluster-trigger-authentication-namespace <ns>',
    'namespace whose Secrets and ConfigMaps ClusterTriggerAuthentications read',
    process.env.POD_NAMESPACE ?? 'queryscaler',
  )
  .option('--mysql-pool-size <n>', 'connections per (endpoint, user, database, TLS) pool', atLeastOne, 4)
  .option('--kube-api-qps <n>', 'sustained Kubernetes API requests per second', atLeastOne, DEFAULT_API_QPS)
  .option('--kube-api-burst <n>', 'Kubernetes API request burst', atLeastOne, DEFAULT_API_BURST)
  .option('--log-level <level>', 'trace, debug, info, warn or error', 'info')
  .addOption(new Option('--log-format <format>', 'json: one JSON line per event; text: one readable line, for a terminal').choices(LOG_FORMATS).default('json'))
  // Root flags only before a subcommand, so explain's --kubeconfig and -n are its own.
  .enablePositionalOptions()
  .action(runAutoscaler);
program.addCommand(explainCommand());

interface CliOptions {
  kubeconfig?: string;
  metricsHost: string;
  metricsPort: number;
  tlsCertFile?: string;
  tlsKeyFile?: string;
  metricsService: string;
  prometheusPort: number;
  clusterTriggerAuthenticationNamespace: string;
  mysqlPoolSize: number;
  kubeApiQps: number;
  kubeApiBurst: number;
  logLevel: string;
  logFormat: LogFormat;
}

async function runAutoscaler(opts: CliOptions): Promise<void> {
  const logger = createLogger(opts.logLevel, undefined, opts.logFormat);
  if ((opts.tlsCertFile === undefined) !== (opts.tlsKeyFile === undefined)) {
    throw new Error('--tls-cert-file and --tls-key-file go together: give both, or neither for a self-signed certificate');
  }
  const [serviceNamespace, serviceName] = opts.metricsService.split('/');
  if (!serviceNamespace || !serviceName) throw new Error(`--metrics-service must be <namespace>/<name>, got "${opts.metricsService}"`);
  const kubeConfig = new KubeConfig();
  if (opts.kubeconfig) kubeConfig.loadFromFile(opts.kubeconfig);
  else kubeConfig.loadFromDefault();

  const running = await startQueryscaler({
    kubeConfig,
    logger,
    metricsApi: {
      host: opts.metricsHost,
      port: opts.metricsPort,
      selfSignedDnsNames: [`${serviceName}.${serviceNamespace}.svc`, `${serviceName}.${serviceNamespace}.svc.cluster.local`],
      ...(opts.tlsCertFile &&
        opts.tlsKeyFile && {
          tls: { certPem: readFileSync(opts.tlsCertFile, 'utf8'), keyPem: readFileSync(opts.tlsKeyFile, 'utf8') },
        }),
    },
    prometheus: opts.prometheusPort === 0 ? false : { host: opts.metricsHost, port: opts.prometheusPort },
    clusterTriggerAuthenticationNamespace: opts.clusterTriggerAuthenticationNamespace,
    mysqlPoolSize: opts.mysqlPoolSize,
    apiQps: opts.kubeApiQps,
    apiBurst: opts.kubeApiBurst,
  });
  logger.info({ metricsApiPort: running.metricsApiPort, prometheusPort: running.prometheusPort }, 'queryscaler started');

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

program.parseAsync().catch((error: unknown) => {
  const explainExit = exitCodeOfCommanderError(error);
  if (explainExit !== undefined) process.exit(explainExit);
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
