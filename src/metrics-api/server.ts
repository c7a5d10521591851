// The aggregated external.metrics.k8s.io/v1beta1 HTTPS server: kube-apiserver proxies the HPA's
// metric requests here. It only reads the metric cache; it never reconciles anything.

import { createServer } from 'node:https';
import { isIP, type AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { KubeConfig } from '@kubernetes/client-node';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import type { MetricCache } from '../metric-cache/metric-cache.js';
import type { QueryscalerMetrics } from '../observability/prometheus-metrics.js';
import { createSelfSignedServing } from '../tls/certificates.js';
import { authenticate, type PeerCertificate, type UserInfo } from './authentication.js';
import { CachedAuthorizer, forbiddenMessage, requestAttributes, type AccessCacheOptions } from './authorization.js';
import { apiGroup, apiGroupList, apiResourceList, EXTERNAL_METRICS_GROUP_VERSION } from './discovery.js';
import { externalMetricAnswer, scaledObjectFromSelector } from './external-metrics.js';
import { openApiV2, openApiV3GroupVersion, openApiV3Index, OPENAPI_V3_GROUP_VERSION_PATH } from './openapi.js';
import { readRequestHeaderConfig, subjectAccessReviewer } from './kube-requests.js';
import type { RequestHeaderConfig } from './request-header.js';
import { failureStatus, type Status, type StatusReason } from './status-errors.js';

export interface MetricsApiServerOptions {
  cache: MetricCache;
  /** For SubjectAccessReviews and the extension-apiserver-authentication ConfigMap. */
  kubeConfig: KubeConfig;
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Serving certificate; without it a self-signed one is made and its CA returned as caPem. */
  tls?: { certPem: string; keyPem: string };
  /** DNS names of the self-signed certificate, e.g. `<service>.<namespace>.svc`. Default: localhost. */
  selfSignedDnsNames?: string[];
  logger: Logger;
  /** Counts the metric answers by status code (queryscaler_metrics_api_requests_total). */
  metrics?: QueryscalerMetrics;
  /** Overrides requestheader-allowed-names from the ConfigMap; an empty list allows any CN. */
  allowedNames?: string[];
  /** How often the ConfigMap is re-read (CA rotation). Default 60 s. */
  authConfigRefreshMs?: number;
  accessCache?: AccessCacheOptions;
}

export interface MetricsApiServer {
  port: number;
  /** The CA of the self-signed serving certificate, for an APIService's caBundle; absent when tls was given. */
  caPem?: string;
  close(): Promise<void>;
}

const HEALTH_PATHS = new Set(['/healthz', '/readyz', '/livez']);
const METRIC_ROUTE = `/apis/${EXTERNAL_METRICS_GROUP_VERSION}/namespaces/:namespace/:metricName`;
const DEFAULT_AUTH_CONFIG_REFRESH_MS = 60_000;

export async function startMetricsApiServer(options: MetricsApiServerOptions): Promise<MetricsApiServer> {
  const { logger } = options;
  const serving = options.tls ?? selfSigned(options);
  const caPem = options.tls === undefined ? (serving as { caPem?: string }).caPem : undefined;
  const authorizer = new CachedAuthorizer(subjectAccessReviewer(options.kubeConfig), options.accessCache);

  const app = express();
  const server = createServer(
    {
      cert: serving.certPem,
      key: serving.keyPem,
      // Ask every client for a certificate but let the handshake finish without one, so the answer
      // is a Kubernetes 401 Status rather than a TLS alert. Until the front proxy's CA is known
      // (setSecureContext below) Node would trust the public roots, so authenticate() also refuses
      // every request while authConfig is undefined.
      requestCert: true,
      rejectUnauthorized: false,
    },
    app,
  );

  let authConfig: RequestHeaderConfig | undefined;
  const refreshAuthConfig = async (): Promise<void> => {
    try {
      const next = await readRequestHeaderConfig(options.kubeConfig);
      if (next.clientCaPem !== authConfig?.clientCaPem) {
        server.setSecureContext({ cert: serving.certPem, key: serving.keyPem, ca: next.clientCaPem });
        logger.info(authConfig === undefined ? 'request-header client CA loaded' : 'request-header client CA changed; new connections verify against it');
      }
      authConfig = next;
    } catch (error) {
      // Keep the last good config: a brief API server outage must not lock the aggregator out.
      const consequence = authConfig === undefined ? 'requests are rejected until it is read' : 'keeping the one read before';
      logger.warn({ err: errorText(error) }, `cannot read ConfigMap kube-system/extension-apiserver-authentication; ${consequence}`);
    }
  };
  await refreshAuthConfig();

  // A renegotiation could present another client certificate on a connection already authenticated.
  server.on('secureConnection', (socket: TLSSocket) => socket.disableRenegotiation());

  app.disable('x-powered-by');
  // The aggregator never sends If-None-Match; an ETag is only hashing work on every answer.
  app.set('etag', false);
  app.use(requestLog(logger));
  app.use((req, res, next) => {
    if (HEALTH_PATHS.has(req.path)) {
      // Not ready while no request can be authenticated; alive regardless (a restart would not help).
      const ready = req.path !== '/readyz' || authConfig !== undefined;
      res.status(ready ? 200 : 503).type('text/plain').send(ready ? 'ok' : 'request-header CA not loaded yet');
      return;
    }
    next();
  });
  app.use((req, res, next) => {
    const result = authenticate(peerCertificate(req.socket as TLSSocket), req.headersDistinct, authConfig, options.allowedNames);
    if ('error' in result) {
      sendStatus(res, 'Unauthorized', result.error);
      return;
    }
    res.locals['user'] = result.user;
    next();
  });
  app.use(async (req, res, next) => {
    const user = res.locals['user'] as UserInfo;
    const attributes = requestAttributes(req.method, req.path, req.query);
    try {
      const decision = await authorizer.decide(user, attributes);
      if (!decision.allowed) {
        sendStatus(res, 'Forbidden', forbiddenMessage(user, attributes, decision.reason));
        return;
      }
    } catch (error) {
      logger.warn({ err: errorText(error), user: user.username, path: req.path }, 'SubjectAccessReview failed');
      sendStatus(res, 'InternalError', `cannot authorize the request: the SubjectAccessReview failed (${errorText(error)}); check that queryscaler may create subjectaccessreviews`);
      return;
    }
    next();
  });
  app.use((req, res, next) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendStatus(res, 'MethodNotAllowed', `${req.method} is not supported on ${req.path}; this API is read-only`);
      return;
    }
    next();
  });

  app.get('/apis', (_req, res) => void res.json(apiGroupList()));
  app.get('/apis/external.metrics.k8s.io', (_req, res) => void res.json(apiGroup()));
  app.get(`/apis/${EXTERNAL_METRICS_GROUP_VERSION}`, (_req, res) => void res.json(apiResourceList()));
  app.get('/openapi/v2', (_req, res) => void res.json(openApiV2()));
  app.get('/openapi/v3', (_req, res) => void res.json(openApiV3Index()));
  app.get(`/openapi/v3/${OPENAPI_V3_GROUP_VERSION_PATH}`, (_req, res) => void res.json(openApiV3GroupVersion()));
  app.get(METRIC_ROUTE, async (req: Request<{ namespace: string; metricName: string }>, res) => {
    const { namespace, metricName } = req.params;
    const selected = scaledObjectFromSelector(req.query['labelSelector']);
    if ('error' in selected) {
      sendStatus(res, 'BadRequest', selected.error);
      return;
    }
    // The HPA gives up on a slow answer; stop waiting (and let the cache stop the read) when it does.
    const abandoned = new AbortController();
    res.on('close', () => abandoned.abort(new Error('client closed the connection')));
    const served = await options.cache.serve(namespace, selected.name, metricName, abandoned.signal);
    const answer = externalMetricAnswer(served, { namespace, scaledObject: selected.name, metricName }, options.cache.metricNames(namespace, selected.name));
    options.metrics?.countMetricsApiAnswer(answer.code);
    if (answer.code >= 500) {
      logger.warn({ scaledObject: `${namespace}/${selected.name}`, metricName, message: (answer.body as Status).message }, 'cannot serve external metric');
    }
    res.status(answer.code).json(answer.body);
  });
  app.use((req, res) => sendStatus(res, 'NotFound', `the server could not find the requested resource (${req.method} ${req.path})`));
  app.use((error: unknown, req: Request, res: Response, _next: NextFunction) => {
    logger.warn({ err: errorText(error), method: req.method, path: req.path }, 'request failed');
    if (!res.headersSent) sendStatus(res, 'InternalError', `internal error while serving ${req.method} ${req.path}; see the queryscaler log`);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const refreshMs = options.authConfigRefreshMs ?? DEFAULT_AUTH_CONFIG_REFRESH_MS;
  const refreshTimer = setInterval(() => void refreshAuthConfig(), refreshMs);
  refreshTimer.unref();
  logger.info({ host: options.host, port, selfSigned: caPem !== undefined }, 'external metrics API listening');

  return {
    port,
    ...(caPem === undefined ? {} : { caPem }),
    close: async () => {
      clearInterval(refreshTimer);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

function selfSigned(options: MetricsApiServerOptions): { certPem: string; keyPem: string; caPem: string } {
  const dnsNames = options.selfSignedDnsNames ?? ['localhost'];
  const unspecified = options.host === '0.0.0.0' || options.host === '::';
  const ipAddresses = isIP(options.host) !== 0 && !unspecified ? [options.host] : [];
  return createSelfSignedServing(dnsNames, ipAddresses);
}

// The client certificate is fixed for a connection's life (renegotiation is refused below), and
// reading it costs more than the rest of a cached answer, so it is read once per connection.
const peerCertificates = new WeakMap<TLSSocket, PeerCertificate | undefined>();

function peerCertificate(socket: TLSSocket): PeerCertificate | undefined {
  if (peerCertificates.has(socket)) return peerCertificates.get(socket);
  const peer = readPeerCertificate(socket);
  peerCertificates.set(socket, peer);
  return peer;
}

function readPeerCertificate(socket: TLSSocket): PeerCertificate | undefined {
  const certificate = socket.getPeerCertificate();
  if (certificate === null || Object.keys(certificate).length === 0) return undefined;
  const cn: unknown = certificate.subject?.CN;
  const commonName = Array.isArray(cn) ? (cn[0] as string | undefined) : typeof cn === 'string' ? cn : undefined;
  const verifyError: unknown = socket.authorizationError;
  const errorMessage = typeof verifyError === 'string' ? verifyError : verifyError instanceof Error ? verifyError.message : undefined;
  return {
    verified: socket.authorized,
    ...(errorMessage === undefined ? {} : { verifyError: errorMessage }),
    ...(commonName === undefined ? {} : { commonName }),
  };
}

function sendStatus(res: Response, reason: StatusReason, message: string): void {
  const status = failureStatus(reason, message);
  res.status(status.code).json(status);
}

/** One JSON line per request at debug (the aggregator polls discovery constantly); server errors at warn. */
function requestLog(logger: Logger): (req: Request, res: Response, next: NextFunction) => void {
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const user = (res.locals['user'] as UserInfo | undefined)?.username;
      const line = { method: req.method, path: req.path, status: res.statusCode, user, durationMs: Number(process.hrtime.bigint() - started) / 1e6 };
      if (res.statusCode >= 500) logger.warn(line, 'request');
      else logger.debug(line, 'request');
    });
    next();
  };
}

function errorText(error: unknown): string {
  if (error !== null && typeof error === 'object' && 'code' in error && 'body' in error) {
    const { code, body } = error as { code: unknown; body: unknown };
    const message = typeof body === 'object' && body !== null && 'message' in body ? String((body as { message: unknown }).message) : undefined;
    if (message !== undefined) return `HTTP ${String(code)}: ${message}`;
  }
  return error instanceof Error ? error.message : String(error);
}
