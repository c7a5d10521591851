// The aggregated external.metrics.k8s.io/v1beta1 HTTPS server: kube-apiserver proxies the HPA's
// metric requests here. It only reads the metric cache; it never reconciles anything. The HPA's
// metric GETs take a fast path in front of the Express app (metric-fast-path.ts), which admits and
// answers them with the same functions as the app's middlewares and route.

import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { KubeConfig } from '@kubernetes/client-node';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import type { MetricCache } from '../metric-cache/metric-cache.js';
import type { MetricSource } from '../metric-cache/types.js';
import type { QueryscalerMetrics } from '../observability/prometheus-metrics.js';
import { requestAdmission } from './admission.js';
import { CachedAuthorizer, type AccessCacheOptions } from './authorization.js';
import { apiGroup, apiGroupList, apiResourceList, EXTERNAL_METRICS_GROUP_VERSION } from './discovery.js';
import { errorText } from './error-text.js';
import { answerMetrics } from './answer-metrics.js';
import { cacheMetricSource, metricServer } from './metric-answer.js';
import { answerMetricRequest, metricFastPath } from './metric-fast-path.js';
import { openApiV2, openApiV3GroupVersion, openApiV3Index, OPENAPI_V3_GROUP_VERSION_PATH } from './openapi.js';
import { readRequestHeaderConfig, subjectAccessReviewer } from './kube-requests.js';
import type { RequestHeaderConfig } from './request-header.js';
import { logRequest, sendInternalError, sendStatus } from './responses.js';

export interface MetricsApiServerOptions {
  cache: MetricCache;
  /** For SubjectAccessReviews and the extension-apiserver-authentication ConfigMap. */
  kubeConfig: KubeConfig;
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Serving certificate (src/serving/ chooses it). */
  tls: { certPem: string; keyPem: string };
  logger: Logger;
  /** Counts the metric answers by status code (queryscaler_metrics_api_requests_total). */
  metrics?: QueryscalerMetrics;
  /** Overrides requestheader-allowed-names from the ConfigMap; an empty list allows any CN. */
  allowedNames?: string[];
  /** How often the ConfigMap is re-read (CA rotation). Default 60 s. */
  authConfigRefreshMs?: number;
  accessCache?: AccessCacheOptions;
  /** Where metric values come from; default: this process's cache (a replica that owns every ScaledObject). */
  metricSource?: MetricSource;
  /** Handles a request before authentication (the replicas' own forwarding route); returns false to pass. */
  peerRequests?: (req: IncomingMessage, res: ServerResponse) => boolean;
  /** Why the replica cannot answer yet (caches not synced, not in the replica set), or undefined when it can. */
  notReadyReason?: () => string | undefined;
}

export interface MetricsApiServer {
  port: number;
  close(): Promise<void>;
}

const HEALTH_PATHS = new Set(['/healthz', '/readyz', '/livez']);
const METRIC_ROUTE = `/apis/${EXTERNAL_METRICS_GROUP_VERSION}/namespaces/:namespace/:metricName`;
const DEFAULT_AUTH_CONFIG_REFRESH_MS = 60_000;

export async function startMetricsApiServer(options: MetricsApiServerOptions): Promise<MetricsApiServer> {
  const { logger } = options;
  const serving = options.tls;
  const authorizer = new CachedAuthorizer(subjectAccessReviewer(options.kubeConfig), options.accessCache);
  let authConfig: RequestHeaderConfig | undefined;
  const admit = requestAdmission({
    authorizer,
    authConfig: () => authConfig,
    ...(options.allowedNames !== undefined && { allowedNames: options.allowedNames }),
    logger,
  });
  const figures = answerMetrics(options.metrics?.registry, (code) => options.metrics?.countMetricsApiAnswer(code));
  const serveMetric = metricServer(options.metricSource ?? cacheMetricSource(options.cache), logger, figures);
  const fastPath = metricFastPath({ admit, serveMetric, logger });

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
    (req, res) => {
      if (options.peerRequests?.(req, res) === true || fastPath(req, res)) return;
      void app(req, res);
    },
  );

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
  app.use((req, res, next) => {
    logRequest(logger, req, res, req.path, () => (res.locals['user'] as string | undefined));
    next();
  });
  app.use((req, res, next) => {
    if (HEALTH_PATHS.has(req.path)) {
      // Not ready while no request can be authenticated or answered; alive regardless (a restart would not help).
      const notReady = req.path !== '/readyz' ? undefined : authConfig === undefined ? 'request-header CA not loaded yet' : options.notReadyReason?.();
      res.status(notReady === undefined ? 200 : 503).type('text/plain').send(notReady ?? 'ok');
      return;
    }
    next();
  });
  app.use(async (req, res, next) => {
    const { method, path, query } = req;
    const admission = await admit({ socket: req.socket as TLSSocket, headers: req.headersDistinct, method, path, query });
    res.locals['user'] = admission.user?.username;
    if (admission.refused !== undefined) {
      sendStatus(res, admission.refused.reason, admission.refused.message);
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
    await answerMetricRequest(res, req.params, req.query['labelSelector'], serveMetric);
  });
  app.use((req, res) => sendStatus(res, 'NotFound', `the server could not find the requested resource (${req.method} ${req.path})`));
  app.use((error: unknown, req: Request, res: Response, _next: NextFunction) => sendInternalError(logger, res, req.method, req.path, error));

  // once() rejects on 'error' (a port in use), so a failed listen fails the start.
  server.listen(options.port, options.host);
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const refreshMs = options.authConfigRefreshMs ?? DEFAULT_AUTH_CONFIG_REFRESH_MS;
  const refreshTimer = setInterval(() => void refreshAuthConfig(), refreshMs);
  refreshTimer.unref();
  logger.info({ host: options.host, port }, 'external metrics API listening');

  return {
    port,
    close: async () => {
      clearInterval(refreshTimer);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
