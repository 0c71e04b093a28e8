// Duration strings at the config boundary (src/core/duration.ts): what parses to how many
// milliseconds, what is refused, and formatDuration as the inverse the docs print.

import t from 'tap';
import { DURATION_PATTERN, formatDuration, parseDuration } from '../../src/core/duration.ts';

const schemaPattern = new RegExp(DURATION_PATTERN);

t.test('parseDuration: every unit, combinations and fractions', async (t) => {
  const cases: [string, number][] = [
    ['250ms', 250],
    ['1ms', 1],
    ['10s', 10_000],
    ['2m', 120_000],
    ['1h', 3_600_000],
    ['1h30m', 5_400_000],
    ['1m30s', 90_000],
    ['1h1m1s1ms', 3_661_001],
    ['1.5s', 1_500],
    ['0.25s', 250],
    ['1.5h', 5_400_000],
    ['0.5m', 30_000],
    ['2s500ms', 2_500],
    ['0s', 0],
    ['0ms', 0],
    ['0h0m', 0],
    ['007s', 7_000],
    ['86400s', 86_400_000],
  ];
  for (const [text, ms] of cases) {
    t.equal(parseDuration(text), ms, `${text} = ${ms} ms`);
    t.ok(schemaPattern.test(text), `${text} passes the schema pattern too`);
  }
});

t.test('parseDuration: sub-millisecond results round to whole milliseconds', async (t) => {
  t.equal(parseDuration('1.0004s'), 1_000, '1000.4 ms → 1000');
  t.equal(parseDuration('1.0006s'), 1_001, '1000.6 ms → 1001');
  t.equal(parseDuration('0.0004s'), 0, 'a positive duration under half a millisecond is 0');
  t.equal(parseDuration('1.5ms'), 2, 'half rounds up');
});

t.test('parseDuration: plain numbers are milliseconds, non-negative and finite', async (t) => {
  t.equal(parseDuration(0), 0);
  t.equal(parseDuration(1_500), 1_500);
  t.equal(parseDuration(1.5), 1.5, 'a number is taken as given');
  t.equal(parseDuration(-1), undefined, 'negative');
  t.equal(parseDuration(Number.NaN), undefined, 'NaN');
  t.equal(parseDuration(Number.POSITIVE_INFINITY), undefined, 'Infinity');
});

t.test('parseDuration: malformed strings are refused (and the schema pattern agrees)', async (t) => {
  const bad = [
    '',
    '0',
    '10',
    '1500',
    's',
    'ms',
    '10 s',
    ' 10s',
    '10s ',
    '10S',
    '10Ms',
    '10sec',
    '10secs',
    '1d',
    '1w',
    '1us',
    '1ns',
    '-1s',
    '+1s',
    '1.s',
    '.5s',
    '1..5s',
    '1,5s',
    '1e3ms',
    '1h30',
    'h1',
    'ms10',
    '1h 30m',
    '1h-30m',
    'Infinitys',
    'NaNs',
    '0x10s',
  ];
  for (const text of bad) {
    t.equal(parseDuration(text), undefined, JSON.stringify(text));
    t.notOk(schemaPattern.test(text), `${JSON.stringify(text)} fails the schema pattern too`);
  }
});

t.test('formatDuration: the largest unit that divides exactly', async (t) => {
  const cases: [number, string][] = [
    [0, '0s'],
    [1, '1ms'],
    [250, '250ms'],
    [1_000, '1s'],
    [1_500, '1500ms'],
    [30_000, '30s'],
    [60_000, '1m'],
    [90_000, '90s'],
    [3_600_000, '1h'],
    [5_400_000, '90m'],
    [7_200_000, '2h'],
    [86_400_000, '24h'],
    [3_661_001, '3661001ms'],
  ];
  for (const [ms, text] of cases) {
    t.equal(formatDuration(ms), text, `${ms} ms → ${text}`);
    t.equal(parseDuration(text), ms, `and ${text} parses back to ${ms}`);
  }
});
