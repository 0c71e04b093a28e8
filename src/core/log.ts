// The logging contract every module codes against; pino satisfies it, tests may pass a silent one.

export interface Logger {
  error(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
  isLevelEnabled(level: string): boolean;
  child(bindings: Record<string, unknown>): Logger;
}

const noop = (): void => {};

/** Discards everything; for tests and tools that do not log. */
export const silentLogger: Logger = {
  error: noop,
  warn: noop,
  info: noop,
  debug: noop,
  isLevelEnabled: () => false,
  child: () => silentLogger,
};
