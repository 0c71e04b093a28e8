// Pod IP allocation on loopback: every pod gets its own 127.a.b.c address (Linux accepts binds on
// all of 127/8), handed out round-robin so a fresh pod does not reuse a just-released address.

export class IpAllocator {
  readonly #prefix: string;
  readonly #inUse = new Set<string>();
  #next = 2;

  constructor(prefix: string) {
    if (!/^127\.\d{1,3}\.\d{1,3}$/.test(prefix)) throw new Error(`pod IP prefix must look like 127.a.b, got "${prefix}"`);
    this.#prefix = prefix;
  }

  allocate(): string {
    for (let tries = 0; tries < 253; tries++) {
      const ip = `${this.#prefix}.${this.#next}`;
      this.#next = this.#next >= 254 ? 2 : this.#next + 1;
      if (!this.#inUse.has(ip)) {
        this.#inUse.add(ip);
        return ip;
      }
    }
    throw new Error(`no free pod IP left in ${this.#prefix}.0/24`);
  }

  release(ip: string | undefined): void {
    if (ip) this.#inUse.delete(ip);
  }
}
