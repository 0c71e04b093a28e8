// IP and CIDR matching for trusted-proxy checks: parsed once at config time, matched per request.

import { isIPv4, isIPv6 } from 'node:net';

export interface Cidr {
  /** 4 words for IPv6, 1 for IPv4. */
  readonly words: readonly number[];
  readonly prefix: number;
}

/** Parses "10.0.0.0/8", "::1/128" or a bare address (full-length prefix). */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  const addr = slash < 0 ? text : text.slice(0, slash);
  const words = ipWords(addr);
  if (!words) return undefined;
  const max = words.length * 32;
  const prefix = slash < 0 ? max : Number(text.slice(slash + 1));
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max || (slash >= 0 && !/^\d+$/.test(text.slice(slash + 1)))) return undefined;
  return { words, prefix };
}

/** 32-bit words of an address; IPv4-mapped IPv6 ("::ffff:1.2.3.4") counts as IPv4. */
export function ipWords(addr: string): number[] | undefined {
  if (addr.startsWith('::ffff:') && isIPv4(addr.slice(7))) addr = addr.slice(7);
  if (isIPv4(addr)) {
    const p = addr.split('.').map(Number);
    return [(((p[0] as number) << 24) | ((p[1] as number) << 16) | ((p[2] as number) << 8) | (p[3] as number)) >>> 0];
  }
  if (!isIPv6(addr)) return undefined;
  const [head = '', tail = ''] = addr.includes('::') ? addr.split('::') : [addr, ''];
  const parse = (s: string): number[] =>
    (s ? s.split(':') : []).flatMap((g) => {
      if (g.includes('.')) {
        const w = ipWords(g);
        return w ? [(w[0] as number) >>> 16, (w[0] as number) & 0xffff] : [NaN];
      }
      return [parseInt(g, 16)];
    });
  const h = parse(head);
  const t = parse(tail);
  const groups = [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  const words: number[] = [];
  for (let i = 0; i < 8; i += 2) words.push((((groups[i] as number) << 16) | (groups[i + 1] as number)) >>> 0);
  return words;
}

export function cidrContains(cidr: Cidr, words: readonly number[]): boolean {
  if (words.length !== cidr.words.length) return false;
  let bits = cidr.prefix;
  for (let i = 0; i < words.length && bits > 0; i++) {
    const take = Math.min(32, bits);
    const mask = take === 32 ? 0xffffffff : ~(0xffffffff >>> take) >>> 0;
    if (((words[i] as number) & mask) >>> 0 !== ((cidr.words[i] as number) & mask) >>> 0) return false;
    bits -= take;
  }
  return true;
}

/** A set of CIDRs with a per-address memo: peers are few and repeat, so a Map hit is the common path. */
export class CidrSet {
  readonly #cidrs: readonly Cidr[];
  readonly #memo = new Map<string, boolean>();

  constructor(entries: readonly string[]) {
    this.#cidrs = entries.map((e) => parseCidr(e)).filter((c): c is Cidr => c !== undefined);
  }

  get size(): number {
    return this.#cidrs.length;
  }

  has(address: string | undefined): boolean {
    if (this.#cidrs.length === 0 || address === undefined) return false;
    let hit = this.#memo.get(address);
    if (hit === undefined) {
      const words = ipWords(address);
      hit = words !== undefined && this.#cidrs.some((c) => cidrContains(c, words));
      if (this.#memo.size > 10_000) this.#memo.clear();
      this.#memo.set(address, hit);
    }
    return hit;
  }
}
