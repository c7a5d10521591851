// A credential that prints as *** however it is logged (JSON, util.inspect, template strings), so a
// config object can be handed to a logger without leaking the password or private key it holds.

import { inspect } from 'node:util';

export const REDACTED = '***';

export class SecretValue {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  /** The real value, for the one place that needs it: the driver's connection options. */
  reveal(): string {
    return this.#value;
  }

  get isEmpty(): boolean {
    return this.#value === '';
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return REDACTED;
  }
}
