// Every trigger type, by the `type` users write in spec.triggers. The only module that knows them
// all: a new type is its own file (or folder) plus one entry in TYPES.

import type { ScalerType } from './scaler.js';
import { cronScalerType } from './cron.js';
import { mysqlScalerType } from './mysql/mysql-scaler.js';

const TYPES: ReadonlyArray<ScalerType<unknown>> = [
  cronScalerType as ScalerType<unknown>,
  mysqlScalerType as ScalerType<unknown>,
];

export const scalerTypes: ReadonlyMap<string, ScalerType<unknown>> = new Map(TYPES.map((type) => [type.type, type]));

/** The type a trigger names, or undefined for a type queryscaler does not have (the caller says which ones it has). */
export function findScalerType(type: string): ScalerType<unknown> | undefined {
  return scalerTypes.get(type);
}

/** Known type names, sorted, for "unknown trigger type" messages. */
export function knownScalerTypes(): string[] {
  return [...scalerTypes.keys()].sort();
}
