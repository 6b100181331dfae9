import pino, { type Logger } from 'pino';

/** A pino logger whose lines the test reads back (objects, as pino wrote them). */
export function captureLog(): { log: Logger; lines: () => Record<string, unknown>[]; text: () => string } {
  const raw: string[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => void raw.push(line) });
  return { log, lines: () => raw.map((l) => JSON.parse(l) as Record<string, unknown>), text: () => raw.join('') };
}
