// What KEDA's pause annotations ask for, read the way KEDA reads them so objects move over unchanged:
// - `autoscaling.keda.sh/paused-replicas: "N"` scales the target to N and stops autoscaling; it wins
//   over `paused` when both are set.
// - `autoscaling.keda.sh/paused: "true"` stops autoscaling at the current replica count. KEDA treats
//   any value that is not a boolean as true, so only a false boolean ("false", "0", "f", ...) leaves
//   the object unpaused. Such a value pauses here too, so KEDA's objects move over unchanged, but it
//   carries a warning: "maybe" may well not mean "paused" to whoever wrote it.

import { PAUSED_ANNOTATION, PAUSED_REPLICAS_ANNOTATION } from '../api/types.js';

export type PauseState =
  | { kind: 'none' }
  | { kind: 'paused'; warning?: string }
  | { kind: 'paused-replicas'; replicas: number }
  | { kind: 'invalid'; message: string };

/** Go's strconv.ParseBool spellings, which KEDA uses for this annotation. */
const FALSE_VALUES = new Set(['0', 'f', 'F', 'false', 'FALSE', 'False']);
const TRUE_VALUES = new Set(['1', 't', 'T', 'true', 'TRUE', 'True']);
const MAX_REPLICAS = 2 ** 31 - 1;

export function pauseState(annotations: Record<string, string> | undefined): PauseState {
  const pausedReplicas = annotations?.[PAUSED_REPLICAS_ANNOTATION];
  if (pausedReplicas !== undefined) {
    const replicas = parseReplicaCount(pausedReplicas);
    if (replicas === undefined) {
      return {
        kind: 'invalid',
        message:
          `annotation ${PAUSED_REPLICAS_ANNOTATION} is ${JSON.stringify(pausedReplicas)}, which is not a replica count: ` +
          `write a whole number from 0 to ${MAX_REPLICAS}, e.g. "0", or remove the annotation to resume autoscaling`,
      };
    }
    return { kind: 'paused-replicas', replicas };
  }
  const paused = annotations?.[PAUSED_ANNOTATION];
  if (paused === undefined || FALSE_VALUES.has(paused)) return { kind: 'none' };
  if (TRUE_VALUES.has(paused)) return { kind: 'paused' };
  return {
    kind: 'paused',
    warning:
      `annotation ${PAUSED_ANNOTATION} is ${JSON.stringify(paused)}, which is not a boolean; ` +
      'it pauses autoscaling, as in KEDA: write "true" to pause or "false" to resume',
  };
}

function parseReplicaCount(text: string): number | undefined {
  if (!/^\+?[0-9]+$/.test(text)) return undefined;
  const n = Number(text);
  return n <= MAX_REPLICAS ? n : undefined;
}
