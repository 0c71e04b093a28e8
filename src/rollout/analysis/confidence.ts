// The confidence sequence for the canary/stable failure-rate ratio within a step, shown with every
// decision: the Beta-binomial (Dirichlet-multinomial) mixture of Lindon & Malek (NeurIPS 2022)
// inverted, so that it holds at every instant at once, like the tests it explains.

import { lnBeta } from './logmath.ts';

/**
 * With nc canary and ns stable failures while the canary's share was ρ, the share θ of failures that
 * are the canary's satisfies, simultaneously for all n with probability ≥ 1 − α,
 *   nc·ln θ + ns·ln(1 − θ) ≥ ln B(a + nc, b + ns) − ln B(a, b) − ln(1/α)
 * for a Beta(a, b) = Beta(kρ, k(1 − ρ)) mixing prior (the set where the Bayes factor against θ stays
 * below 1/α). θ maps to the rate ratio r = θ(1 − ρ) / (ρ(1 − θ)). Returns null without failures.
 * An upper bound of Infinity means no stable failure yet bounds it.
 */
export function rateRatioConfidence(nc: number, ns: number, rho: number, alpha: number, k = 1): { lower: number; upper: number } | null {
  if (nc + ns === 0 || !(rho > 0 && rho < 1)) return null;
  const a = k * rho;
  const b = k * (1 - rho);
  const bound = lnBeta(a + nc, b + ns) - lnBeta(a, b) - Math.log(1 / alpha);
  // In log-odds x = ln(θ/(1 − θ)): nc·ln θ + ns·ln(1 − θ) = nc·x − n·ln(1 + e^x), concave in x.
  const n = nc + ns;
  const g = (x: number) => nc * x - n * softplus(x) - bound;
  const logitRho = Math.log(rho / (1 - rho));
  const toRatio = (x: number) => Math.exp(x - logitRho);
  const top = nc === 0 ? -60 : ns === 0 ? 60 : Math.log(nc / ns); // the maximum of g
  const lower = nc === 0 ? 0 : toRatio(bisect(g, -60, top));
  const upper = ns === 0 ? Infinity : toRatio(bisect(g, 60, top));
  return { lower, upper };
}

function softplus(x: number): number {
  return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
}

/** The root of g between `out` (g < 0 there, or the edge) and `inside` (g ≥ 0). */
function bisect(g: (x: number) => number, out: number, inside: number): number {
  if (g(out) >= 0) return out;
  let lo = out;
  let hi = inside;
  for (let i = 0; i < 80; i++) {
    const mid = (lo + hi) / 2;
    if (g(mid) >= 0) hi = mid;
    else lo = mid;
  }
  return hi;
}
