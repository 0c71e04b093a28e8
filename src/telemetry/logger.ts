// The pino root logger: JSON lines on stdout, one level switch; modules take child loggers once.

import { pino } from 'pino';
import type { Logger } from '../core/log.ts';

export function createLogger(level: string, destination: NodeJS.WritableStream | number = 1): Logger {
  const stream = typeof destination === 'number' ? pino.destination({ dest: destination, sync: false }) : destination;
  return pino({ level, base: { name: 'glidepath' }, timestamp: pino.stdTimeFunctions.isoTime }, stream) as unknown as Logger;
}
