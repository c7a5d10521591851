// Any replica answers any metric request: the aggregator sends each one to a random pod behind
// the Service, but only the owner of a ScaledObject reads its triggers. A replica that does not own
// the object asks the owner over a keep-alive HTTPS connection (one round trip on the pod network,
// no database query), and the owner answers from its own cache exactly as it would answer the
// aggregator. While no owner can be reached (a replica was killed and its Lease has not expired
// yet), the value the last owner published in the ScaledObject's status is served instead of an
// error, and counted: the HPA keeps scaling on the newest value anyone knows.
//
// Peers trust each other through the serving certificate they all share: a request carries a
// token derived from its private key (only holders of that key can compute it) and goes only to a
// server that presents that very certificate (pinned by fingerprint, verified against its CA).

import { createHmac, timingSafeEqual, X509Certificate } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import type { Logger } from 'pino';
import type { MetricRequest, MetricSource, ServedAnswer, ServedMetric } from '../metric-cache/types.js';
import { SILENT_SHARDING, type ShardingObserver } from './observer.js';
import type { PeerReplica } from './shard-coordinator.js';

export interface PeerTrust {
  /** Bearer token every replica derives from the shared serving key. */
  token: string;
  /** CA that signed the shared serving certificate. */
  caPem: string;
  /** SHA-256 fingerprint of the shared serving certificate (as X509Certificate.fingerprint256 writes it). */
  certificateFingerprint: string;
}

export function peerTrust(serving: { certPem: string; keyPem: string; caPem: string }): PeerTrust {
  return {
    token: createHmac('sha256', serving.keyPem).update('queryscaler peer forwarding v1').digest('hex'),
    caPem: serving.caPem,
    certificateFingerprint: new X509Certificate(serving.certPem).fingerprint256,
  };
}

export const PEER_PATH_PREFIX = '/internal/queryscaler/v1/';

export function peerPath(request: MetricRequest): string {
  const part = encodeURIComponent;
  return `${PEER_PATH_PREFIX}namespaces/${part(request.namespace)}/scaledobjects/${part(request.scaledObject)}/metrics/${part(request.metricName)}`;
}

function parsePeerPath(path: string): MetricRequest | undefined {
  const match = /^\/internal\/queryscaler\/v1\/namespaces\/([^/]+)\/scaledobjects\/([^/]+)\/metrics\/([^/]+)$/.exec(path);
  if (match === null) return undefined;
  try {
    return { namespace: decodeURIComponent(match[1]!), scaledObject: decodeURIComponent(match[2]!), metricName: decodeURIComponent(match[3]!) };
  } catch {
    return undefined;
  }
}

interface WireAnswer {
  served: ServedMetric & { timestamp?: string };
  metricNames: string[];
}

function toWire(answer: ServedAnswer): string {
  return JSON.stringify(answer);
}

function fromWire(text: string): ServedAnswer {
  const wire = JSON.parse(text) as WireAnswer;
  const served = wire.served.kind === 'value' ? { ...wire.served, timestamp: new Date(wire.served.timestamp as unknown as string) } : wire.served;
  return { served: served as ServedMetric, metricNames: wire.metricNames };
}

/**
 * The owner's side: answers a peer's forwarded request from this replica's own cache. Returns
 * false for any other path, so the caller's server handles it as before.
 */
export function peerRequestHandler(options: { trust: PeerTrust; local: MetricSource }): (req: IncomingMessage, res: ServerResponse) => boolean {
  const expected = Buffer.from(`Bearer ${options.trust.token}`);
  return (req, res) => {
    const path = (req.url ?? '').split('?')[0] ?? '';
    if (!path.startsWith(PEER_PATH_PREFIX)) return false;
    const given = Buffer.from(req.headers.authorization ?? '');
    const request = parsePeerPath(path);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      res.writeHead(401, { 'content-type': 'text/plain' }).end('peer token missing or wrong\n');
    } else if (req.method !== 'GET' || request === undefined) {
      res.writeHead(400, { 'content-type': 'text/plain' }).end('expected GET /internal/queryscaler/v1/namespaces/<ns>/scaledobjects/<name>/metrics/<metric>\n');
    } else {
      const abandoned = new AbortController();
      res.on('close', () => abandoned.abort(new Error('peer closed the connection')));
      options.local(request, abandoned.signal).then(
        (answer) => res.writeHead(200, { 'content-type': 'application/json' }).end(toWire(answer)),
        (error: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${error instanceof Error ? error.message : String(error)}\n`),
      );
    }
    return true;
  };
}

export interface ForwardingOptions {
  identity: string;
  ownerOf: (key: string) => PeerReplica | undefined;
  local: MetricSource;
  trust: PeerTrust;
  /** The value the object's status holds for this metric, when it is the one the status publishes. */
  lastPublished: (request: MetricRequest) => { value: number; timestamp: Date } | undefined;
  logger: Logger;
  /** Limit of one forwarded request; default 3 s (the owner may read the database for it). */
  timeoutMs?: number;
  observer?: ShardingObserver;
}

/** After a failed connection a peer is not tried again for this long: a dead owner must not cost every request a timeout. */
const PEER_DOWN_MS = 1_000;

export class MetricForwarder {
  private readonly agent: https.Agent;
  private readonly downUntil = new Map<string, number>();
  private readonly observer: ShardingObserver;

  constructor(private readonly options: ForwardingOptions) {
    this.observer = options.observer ?? SILENT_SHARDING;
    const { certificateFingerprint } = options.trust;
    this.agent = new https.Agent({
      keepAlive: true,
      maxSockets: 64,
      ca: options.trust.caPem,
      // Peers are reached by pod IP, which the certificate does not name: the pin is the identity check.
      checkServerIdentity: (_host, certificate) =>
        certificate.fingerprint256 === certificateFingerprint ? undefined : new Error('the peer does not present the shared serving certificate'),
    });
  }

  readonly serve: MetricSource = async (request, signal) => {
    const key = `${request.namespace}/${request.scaledObject}`;
    // Twice at most: an owner that just handed the shard over says it does not know the object.
    for (let attempt = 0; attempt < 2; attempt += 1) {
      const owner = this.options.ownerOf(key);
      if (owner === undefined) break;
      if (owner.identity === this.options.identity) {
        this.observer.metricRouted('local');
        return this.orPublished(request, await this.options.local(request, signal));
      }
      if ((this.downUntil.get(owner.peerAddress) ?? 0) > performance.now()) break;
      try {
        const answer = await this.fetch(owner.peerAddress, request, signal);
        if (answer.served.kind !== 'unknown-scaledobject' || this.options.ownerOf(key)?.identity === owner.identity) {
          this.observer.metricRouted('forwarded');
          return this.orPublished(request, answer);
        }
      } catch (error) {
        if (signal.aborted) throw error;
        this.downUntil.set(owner.peerAddress, performance.now() + PEER_DOWN_MS);
        this.options.logger.warn(
          { scaledObject: key, owner: owner.identity, err: error instanceof Error ? error.message : String(error) },
          'cannot reach the replica that owns this ScaledObject; serving the value its status holds',
        );
        break;
      }
    }
    return this.unowned(request);
  };

  close(): void {
    this.agent.destroy();
  }

  /**
   * An owner that took the object over a moment ago has not registered it yet: until it has, the
   * value the last owner published stands (an object that is not Ready publishes none).
   */
  private orPublished(request: MetricRequest, answer: ServedAnswer): ServedAnswer {
    return answer.served.kind === 'unknown-scaledobject' ? (this.published(request) ?? answer) : answer;
  }

  private unowned(request: MetricRequest): ServedAnswer {
    const object = `${request.namespace}/${request.scaledObject}`;
    const published = this.published(request);
    this.observer.metricRouted(published === undefined ? 'unavailable' : 'published');
    return (
      published ?? {
        served: {
          kind: 'unavailable',
          message: `no queryscaler replica owns ScaledObject ${object} right now (a replica left and its shard is being taken over); the HPA asks again at its next sync`,
        },
        metricNames: [],
      }
    );
  }

  private published(request: MetricRequest): ServedAnswer | undefined {
    const published = this.options.lastPublished(request);
    if (published === undefined) return undefined;
    return { served: { kind: 'value', value: published.value, timestamp: published.timestamp, fallback: false }, metricNames: [] };
  }

  private fetch(peerAddress: string, request: MetricRequest, signal: AbortSignal): Promise<ServedAnswer> {
    const url = new URL(peerPath(request), peerAddress);
    return new Promise<ServedAnswer>((resolve, reject) => {
      const req = https.request(
        url,
        {
          agent: this.agent,
          headers: { authorization: `Bearer ${this.options.trust.token}` },
          signal: AbortSignal.any([signal, AbortSignal.timeout(this.options.timeoutMs ?? 3_000)]),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            if (res.statusCode !== 200) reject(new Error(`peer ${peerAddress} answered ${res.statusCode}: ${text.trim().slice(0, 200)}`));
            else {
              try {
                resolve(fromWire(text));
              } catch (error) {
                reject(error instanceof Error ? error : new Error(String(error)));
              }
            }
          });
        },
      );
      req.on('error', reject);
      req.end();
    });
  }
}
