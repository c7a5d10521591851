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

/**
 * `message` with every secret replaced by ***: the last line of defence for messages built from
 * text that held a secret. A short secret masked everywhere would eat pieces of ordinary words;
 * masked as a whole token it still never shows on its own.
 */
export function scrubSecrets(message: string, secrets: readonly string[]): string {
  let scrubbed = message;
  for (const secret of secrets) {
    if (secret === '') continue;
    if (secret.length >= 4) {
      scrubbed = scrubbed.split(secret).join(REDACTED);
    } else {
      const escaped = secret.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      scrubbed = scrubbed.replace(new RegExp(`(?<![\\w])${escaped}(?![\\w])`, 'g'), REDACTED);
    }
  }
  return scrubbed;
}
