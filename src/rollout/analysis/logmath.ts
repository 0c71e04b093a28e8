// Log-space arithmetic for the sequential tests: e-values grow like e^(events), so every statistic is
// kept as a logarithm and combined with log-sum-exp, never exponentiated on its own.

/** ln(e^a + e^b) without overflow; -Infinity is the log of 0. */
export function logAddExp(a: number, b: number): number {
  if (a === -Infinity) return b;
  if (b === -Infinity) return a;
  return a > b ? a + Math.log1p(Math.exp(b - a)) : b + Math.log1p(Math.exp(a - b));
}

/** ln(e^s + 1): the Shiryaev-Roberts step R <- R + 1 in log space, with cheap exits at the extremes. */
export function logAddOne(s: number): number {
  if (s > 40) return s; // e^-40 is below double precision relative to s
  if (s < -40) return Math.exp(s); // ln(1 + x) = x to double precision
  return s > 0 ? s + Math.log1p(Math.exp(-s)) : Math.log1p(Math.exp(s));
}

/** ln Σ e^x[i] over the first `n` entries (all of them by default). */
export function logSumExp(x: ArrayLike<number>, n: number = x.length): number {
  let max = -Infinity;
  for (let i = 0; i < n; i++) if ((x[i] as number) > max) max = x[i] as number;
  if (max === -Infinity || max === Infinity) return max;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += Math.exp((x[i] as number) - max);
  return max + Math.log(sum);
}

/** ln of the mean of e^a, e^b, e^c: how the analysis averages three components. */
export function logMean3(a: number, b: number, c: number): number {
  return logAddExp(logAddExp(a, b), c) - Math.log(3);
}

// Lanczos approximation (g = 7, n = 9), relative error about 1e-15 for x > 0.5; reflection below.
const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905,
  -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

/** ln Γ(x) for x > 0. */
export function lnGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - lnGamma(1 - x);
  x -= 1;
  let a = LANCZOS[0] as number;
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += (LANCZOS[i] as number) / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

/** ln B(a, b) = ln Γ(a) + ln Γ(b) − ln Γ(a + b). */
export function lnBeta(a: number, b: number): number {
  return lnGamma(a) + lnGamma(b) - lnGamma(a + b);
}
