import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';

export type LogFormat = 'pretty' | 'json';

/** Readable lines for people by default; one JSON object per line for log shippers. */
export function createLogger(format: LogFormat, level = process.env.ZDD_LOG_LEVEL ?? 'info'): Logger {
  const redact = { paths: ['env', '*.env', 'headers.authorization', 'headers.cookie'], censor: '[redacted]' };
  if (format === 'json') return pino({ level, redact, base: { pid: process.pid } });
  const stream = pretty({
    sync: true,
    colorize: Boolean(process.stdout.isTTY) && !process.env.NO_COLOR,
    translateTime: 'HH:MM:ss.l',
    ignore: 'pid,hostname',
    singleLine: true,
  });
  return pino({ level, redact, base: undefined }, stream);
}
