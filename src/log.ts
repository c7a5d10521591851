// One JSON line per event, or, for a person at a terminal, one readable line per event
// (pino-pretty). Paths that could carry a credential are censored here, once, so no call site has
// to remember; modules also keep passwords out of the messages they build. A line about a
// ScaledObject carries it as `scaledObject: "<namespace>/<name>"`; the text format leads with it.
import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

export const LOG_FORMATS = ['json', 'text'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export function createLogger(level = 'info', destination?: pino.DestinationStream, format: LogFormat = 'json'): Logger {
  const stream =
    format === 'text'
      ? pretty({
          ...(destination !== undefined && { destination }),
          sync: true,
          // Colours only for a terminal, never into a file or a pipe.
          colorize: destination === undefined && process.stdout.isTTY === true,
          singleLine: true,
          translateTime: 'SYS:HH:MM:ss.l',
          ignore: 'name,scaledObject',
          messageFormat: '{if scaledObject}{scaledObject}: {end}{msg}',
        })
      : destination;
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
    stream,
  );
}
