// Keeps the caBundle of the external-metrics APIService and of queryscaler's
// ValidatingWebhookConfiguration on the serving certificate's CA: written at start and looked at
// again every recheck interval, so an edit, a re-apply of manifests or an object created after
// queryscaler started is put right within that interval. A periodic GET of two objects rather than
// two more watches: the cost is two requests a half-minute, and no watch can go quiet on it.
import type { Logger } from 'pino';
import { isConflict, isNotFound, KubeApiError, type KubeApi } from '../controller/kube-api.js';
import {
  apiServiceCaBundlePatch,
  caBundleOf,
  webhookConfigurationCaBundlePatch,
  type ApiServiceObject,
  type CaBundleDecision,
  type ServiceReference,
  type WebhookConfigurationObject,
} from './ca-bundle-patches.js';

export interface CaBundleTargets {
  /** The APIService (`v1beta1.external.metrics.k8s.io`), written while it points at `service`. */
  apiService?: { name: string; service: ServiceReference };
  /** The ValidatingWebhookConfiguration whose every webhook gets the CA. */
  webhookConfiguration?: string;
  /** How often both are looked at again; default 30 s. */
  recheckMs?: number;
}

export interface CaBundleInjection {
  /** Ends the rechecks, waiting for one under way. */
  stop(): Promise<void>;
}

const DEFAULT_RECHECK_MS = 30_000;

/** Writes the caBundles once (failures are logged, not thrown: the objects may not exist yet), then keeps them. */
export async function startCaBundleInjection(api: KubeApi, caPem: string, targets: CaBundleTargets, logger: Logger): Promise<CaBundleInjection> {
  const caBundle = caBundleOf(caPem);
  const said = new Map<string, string>();
  /** Logs a state once, and again only when it changes, not every recheck. */
  const sayOnce = (object: string, level: 'info' | 'warn', message: string, fields: Record<string, unknown> = {}): void => {
    if (said.get(object) === message) return;
    said.set(object, message);
    logger[level]({ object, ...fields }, message);
  };
  const keep = async <T extends { metadata: { name: string } }, P>(
    object: string,
    path: string,
    decide: (current: T) => CaBundleDecision<P>,
    patchType: 'merge' | 'json',
  ): Promise<void> => {
    try {
      const current = await api.request<T>('get', path);
      const decision = decide(current);
      if (decision.action === 'skip') sayOnce(object, 'warn', decision.why);
      else if (decision.action === 'patch') {
        await api.request('patch', path, { body: decision.patch, patchType });
        said.set(object, 'written');
        logger.info({ object }, 'caBundle set to the serving certificate\'s CA');
      } else sayOnce(object, 'info', 'caBundle holds the serving certificate\'s CA');
    } catch (error) {
      // A 409/422 is a change between the read and the write: the next recheck reads it anew.
      if (isConflict(error) || (error instanceof KubeApiError && error.statusCode === 422)) return;
      const message = isNotFound(error) ? `${object} does not exist (yet); its caBundle is written once it does` : `cannot keep the caBundle of ${object}`;
      sayOnce(object, 'warn', message, isNotFound(error) ? {} : { err: error instanceof Error ? error.message : String(error) });
    }
  };
  const check = async (): Promise<void> => {
    if (targets.apiService !== undefined) {
      const { name, service } = targets.apiService;
      await keep<ApiServiceObject, Record<string, unknown>>(
        `APIService ${name}`,
        `/apis/apiregistration.k8s.io/v1/apiservices/${encodeURIComponent(name)}`,
        (current) => apiServiceCaBundlePatch(current, caBundle, service),
        'merge',
      );
    }
    if (targets.webhookConfiguration !== undefined) {
      const name = targets.webhookConfiguration;
      await keep<WebhookConfigurationObject, Array<Record<string, unknown>>>(
        `ValidatingWebhookConfiguration ${name}`,
        `/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/${encodeURIComponent(name)}`,
        (current) => webhookConfigurationCaBundlePatch(current, caBundle),
        'json',
      );
    }
  };
  await check();
  let running: Promise<void> | undefined;
  const timer = setInterval(() => {
    running ??= check().finally(() => (running = undefined));
  }, targets.recheckMs ?? DEFAULT_RECHECK_MS);
  timer.unref();
  return {
    stop: async () => {
      clearInterval(timer);
      await running;
    },
  };
}
