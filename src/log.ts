// One JSON line per event. Paths that could carry a credential are censored here, once, so no
// call site has to remember; modules also keep passwords out of the messages they build.
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level = 'info', destination?: pino.DestinationStream): Logger {
  return pino(
    {
      name: 'queryscaler',
      level,
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: {
        paths: [
          'password',
          'connectionString',
          '*.password',
          '*.connectionString',
          'authParams',
          '*.authParams',
          'metadata.password',
          'metadata.connectionString',
        ],
        censor: '[redacted]',
      },
    },
    destination,
  );
}
