// Duration strings at the config boundary ("250ms", "10s", "2m", "1h30m") to milliseconds.

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/** Accepts a sequence of <number><unit> parts, e.g. "1m30s"; the pattern used by the config schema. */
export const DURATION_PATTERN = '^(\\d+(\\.\\d+)?(ms|s|m|h))+$';
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
const WHOLE = new RegExp(DURATION_PATTERN);

/** Milliseconds for a duration string or a plain non-negative number of milliseconds; `undefined` if malformed. */
export function parseDuration(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : undefined;
  if (!WHOLE.test(value)) return undefined;
  let total = 0;
  for (const m of value.matchAll(PART)) total += Number(m[1]) * (UNIT_MS[m[2] as string] as number);
  return Math.round(total);
}

/** The shortest exact duration string for a number of milliseconds (for docs and logs). */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  for (const [unit, size] of [
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1_000],
  ] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
