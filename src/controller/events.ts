// core/v1 Events about ScaledObjects, as `kubectl describe` shows them. A repeat of the same
// reason and message bumps the count of the existing Event instead of creating another, like
// client-go's EventCorrelator; repeats within a short window are counted in memory and written
// with the next repeat after it, so a failure seen every poll is not an API write every poll (300
// ScaledObjects failing together cost 5 writes a second, not 300). The Event's name is derived from
// what it says, so a replica that takes a ScaledObject over (or a restarted one) finds the Event
// its predecessor wrote and counts the repeat there instead of writing a second, identical one.
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { KEDA_API_VERSION } from '../api/types.js';
import { isConflict, isNotFound, type KubeApi } from './kube-api.js';

export type EventType = 'Normal' | 'Warning';

export interface InvolvedObject {
  namespace: string;
  name: string;
  uid?: string;
}

interface Recorded {
  eventName: string;
  count: number;
  writtenAt: number;
}

const MAX_MESSAGE = 1024;
const MIN_REWRITE_MS = 60_000;
const MAX_REMEMBERED = 4096;

export class EventRecorder {
  private readonly recorded = new Map<string, Recorded>();

  constructor(
    private readonly api: KubeApi,
    private readonly logger: Logger,
    private readonly component = 'queryscaler',
  ) {}

  /** Records an Event; failures are logged, never thrown (an Event is a courtesy, not state). */
  async record(object: InvolvedObject, type: EventType, reason: string, message: string): Promise<void> {
    const text = message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE - 3)}...` : message;
    const key = `${object.namespace}/${object.name}/${object.uid ?? ''}/${type}/${reason}/${text}`;
    const now = new Date();
    const seen = this.recorded.get(key);
    try {
      if (seen) {
        seen.count += 1;
        if (performance.now() - seen.writtenAt < MIN_REWRITE_MS) return;
        try {
          await this.api.request('patch', `/api/v1/namespaces/${object.namespace}/events/${seen.eventName}`, {
            body: { count: seen.count, lastTimestamp: now.toISOString() },
            patchType: 'merge',
          });
          seen.writtenAt = performance.now();
          return;
        } catch (error) {
          // The Event expired (events have a TTL): start a new one below.
          if (!isNotFound(error)) throw error;
          this.recorded.delete(key);
        }
      }
      const eventName = `${object.name}.${createHash('sha256').update(key).digest('hex').slice(0, 16)}`;
      const created = await this.createOrCount(object.namespace, eventName, now, {
        involvedObject: {
          apiVersion: KEDA_API_VERSION,
          kind: 'ScaledObject',
          name: object.name,
          namespace: object.namespace,
          ...(object.uid !== undefined && { uid: object.uid }),
        },
        type,
        reason,
        message: text,
        source: { component: this.component },
        reportingComponent: this.component,
        firstTimestamp: now.toISOString(),
        lastTimestamp: now.toISOString(),
        count: 1,
      });
      if (this.recorded.size >= MAX_REMEMBERED) this.recorded.delete(this.recorded.keys().next().value as string);
      this.recorded.set(key, { eventName, count: created.count, writtenAt: performance.now() });
    } catch (error) {
      this.logger.warn({ err: error, scaledObject: `${object.namespace}/${object.name}`, reason }, 'could not record event');
    }
  }

  /** Creates the Event, or when one of that name exists (written before this process knew), counts this repeat on it. */
  private async createOrCount(namespace: string, eventName: string, now: Date, body: Record<string, unknown>): Promise<{ count: number }> {
    const collection = `/api/v1/namespaces/${namespace}/events`;
    try {
      await this.api.request('create', collection, { body: { apiVersion: 'v1', kind: 'Event', metadata: { name: eventName, namespace }, ...body } });
      return { count: 1 };
    } catch (error) {
      if (!isConflict(error)) throw error;
    }
    const existing = await this.api.request<{ count?: number }>('get', `${collection}/${eventName}`);
    const count = (existing.count ?? 1) + 1;
    await this.api.request('patch', `${collection}/${eventName}`, { body: { count, lastTimestamp: now.toISOString() }, patchType: 'merge' });
    return { count };
  }

  /** Forgets what was recorded for an object (it was deleted). */
  forget(namespace: string, name: string): void {
    const prefix = `${namespace}/${name}/`;
    for (const key of this.recorded.keys()) if (key.startsWith(prefix)) this.recorded.delete(key);
  }
}
