// server.trustedProxies matching (src/core/cidr.ts): parsing of IPv4 and IPv6 CIDRs and bare
// addresses, prefix boundaries from /0 to /32 and /128, IPv4-mapped IPv6, and refused input.

import t from 'tap';
import { cidrContains, CidrSet, ipWords, parseCidr } from '../../src/core/cidr.ts';

/** cidrContains for text on both sides; throws on an address the test itself got wrong. */
function contains(cidr: string, address: string): boolean {
  const c = parseCidr(cidr);
  const w = ipWords(address);
  if (c === undefined || w === undefined) throw new Error(`bad fixture ${cidr} / ${address}`);
  return cidrContains(c, w);
}

t.test('ipWords: IPv4 is one 32-bit word, IPv6 four, IPv4-mapped IPv6 counts as IPv4', async (t) => {
  t.same(ipWords('10.1.2.3'), [0x0a010203]);
  t.same(ipWords('255.255.255.255'), [0xffffffff], 'unsigned, not -1');
  t.same(ipWords('0.0.0.0'), [0]);
  t.same(ipWords('::1'), [0, 0, 0, 1]);
  t.same(ipWords('::'), [0, 0, 0, 0]);
  t.same(ipWords('2001:db8::1'), [0x20010db8, 0, 0, 1]);
  t.same(ipWords('2001:0db8:0000:0000:0000:0000:0000:0001'), [0x20010db8, 0, 0, 1], 'the full form parses the same');
  t.same(ipWords('1::'), [0x00010000, 0, 0, 0], ':: at the end');
  t.same(ipWords('ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'), [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff]);
  t.same(ipWords('fe80::abcd:1234'), [0xfe800000, 0, 0, 0xabcd1234]);
  t.same(ipWords('64:ff9b::192.0.2.33'), [0x0064ff9b, 0, 0, 0xc0000221], 'an embedded IPv4 tail (RFC 6052)');
  t.same(ipWords('::ffff:10.1.2.3'), [0x0a010203], 'IPv4-mapped (what a dual-stack socket reports) is IPv4');
  for (const bad of ['', 'localhost', '10.0.0', '10.0.0.256', '1.2.3.4.5', '::1::2', 'gggg::1', '10.0.0.1/8', ' 10.0.0.1']) {
    t.equal(ipWords(bad), undefined, `not an address: ${JSON.stringify(bad)}`);
  }
});

t.test('parseCidr: a prefix, or the full length for a bare address', async (t) => {
  t.same(parseCidr('10.0.0.0/8'), { words: [0x0a000000], prefix: 8 });
  t.same(parseCidr('192.168.1.7'), { words: [0xc0a80107], prefix: 32 });
  t.same(parseCidr('0.0.0.0/0'), { words: [0], prefix: 0 });
  t.same(parseCidr('10.1.2.3/32'), { words: [0x0a010203], prefix: 32 });
  t.same(parseCidr('::1'), { words: [0, 0, 0, 1], prefix: 128 });
  t.same(parseCidr('::/0'), { words: [0, 0, 0, 0], prefix: 0 });
  t.same(parseCidr('2001:db8::/32'), { words: [0x20010db8, 0, 0, 0], prefix: 32 });
  t.same(parseCidr('fd00::1/128'), { words: [0xfd000000, 0, 0, 1], prefix: 128 });
  t.same(parseCidr('::ffff:10.0.0.0/104'), undefined, 'a mapped address is IPv4: /104 is past its 32 bits');
  t.same(parseCidr('::ffff:10.0.0.0/8'), { words: [0x0a000000], prefix: 8 });
});

t.test('parseCidr: malformed input is refused, never half-parsed', async (t) => {
  const bad = [
    '',
    '/8',
    '10.0.0.0/',
    '10.0.0.0/33',
    '::/129',
    '10.0.0.0/-1',
    '10.0.0.0/+8',
    '10.0.0.0/8a',
    '10.0.0.0/8.0',
    '10.0.0.0/ 8',
    '10.0.0.0 /8',
    '10.0.0.0/8/8',
    '10.0.0/8',
    '300.0.0.0/8',
    'example.com/8',
    'fe80::/1e2',
    '10.0.0.0/0x8',
  ];
  for (const text of bad) t.equal(parseCidr(text), undefined, JSON.stringify(text));
});

t.test('cidrContains: IPv4 prefixes at and across their boundaries', async (t) => {
  t.ok(contains('10.0.0.0/8', '10.0.0.0'), 'network address');
  t.ok(contains('10.0.0.0/8', '10.255.255.255'), 'last address');
  t.notOk(contains('10.0.0.0/8', '11.0.0.0'), 'one past the end');
  t.notOk(contains('10.0.0.0/8', '9.255.255.255'), 'one before the start');
  t.ok(contains('10.9.9.9/8', '10.1.1.1'), 'host bits in the CIDR are ignored');
  t.ok(contains('192.168.1.128/25', '192.168.1.128'));
  t.ok(contains('192.168.1.128/25', '192.168.1.255'));
  t.notOk(contains('192.168.1.128/25', '192.168.1.127'), 'the bit just above the prefix decides');
  t.ok(contains('128.0.0.0/1', '200.1.1.1'));
  t.notOk(contains('128.0.0.0/1', '127.255.255.255'));
  t.ok(contains('10.1.2.3/32', '10.1.2.3'), '/32: the address itself');
  t.notOk(contains('10.1.2.3/32', '10.1.2.2'), '/32: nothing else');
  t.notOk(contains('10.1.2.3/32', '10.1.2.4'));
  t.ok(contains('0.0.0.0/0', '1.2.3.4'), '/0: every IPv4 address');
  t.ok(contains('0.0.0.0/0', '255.255.255.255'));
  t.notOk(contains('0.0.0.0/0', '::1'), 'but no IPv6 one');
  t.ok(contains('10.0.0.0/8', '::ffff:10.20.30.40'), 'an IPv4-mapped peer matches its IPv4 CIDR');
});

t.test('cidrContains: IPv6 prefixes, in and across 32-bit words', async (t) => {
  t.ok(contains('::1/128', '::1'), '/128: the address itself');
  t.notOk(contains('::1/128', '::2'), '/128: nothing else');
  t.notOk(contains('::1/128', '127.0.0.1'), 'IPv6 loopback is not IPv4 loopback');
  t.ok(contains('::/0', '2001:db8::1'), '/0: every IPv6 address');
  t.ok(contains('::/0', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'));
  t.notOk(contains('::/0', '10.0.0.1'), 'but no IPv4 one');
  t.notOk(contains('::/0', '::ffff:10.0.0.1'), 'not even an IPv4-mapped one: it counts as IPv4');
  t.ok(contains('2001:db8::/32', '2001:db8:ffff:ffff::1'), 'a whole first word');
  t.notOk(contains('2001:db8::/32', '2001:db9::'), 'the next /32');
  t.ok(contains('2001:db8:8000::/33', '2001:db8:8000::1'), 'a prefix ending one bit into the second word');
  t.ok(contains('2001:db8:8000::/33', '2001:db8:ffff::'));
  t.notOk(contains('2001:db8:8000::/33', '2001:db8:7fff:ffff::'), 'the 33rd bit is 0 here');
  t.ok(contains('fd00:1:2:3::/64', 'fd00:1:2:3:aaaa:bbbb:cccc:dddd'), '/64: the interface id is free');
  t.notOk(contains('fd00:1:2:3::/64', 'fd00:1:2:4::'), '/64: the next subnet');
  t.ok(contains('fd00::1:2:3/127', 'fd00::1:2:2'), '/127 spans the last bit: ...:2 and ...:3');
  t.notOk(contains('fd00::1:2:3/127', 'fd00::1:2:4'));
  t.ok(contains('fe80::/10', 'febf:ffff::1'), 'link-local /10: the last address of the block');
  t.notOk(contains('fe80::/10', 'fec0::1'), 'and the first one after it');
});

t.test('CidrSet: matches any member, skips malformed entries, and answers repeat peers from its memo', async (t) => {
  const set = new CidrSet(['10.0.0.0/8', 'not a cidr', '::1', '192.168.0.0/33', 'fd00::/8']);
  t.equal(set.size, 3, 'the two malformed entries are skipped (the config loader reports them)');
  t.ok(set.has('10.2.3.4'));
  t.ok(set.has('::1'));
  t.ok(set.has('fd12::1'));
  t.ok(set.has('::ffff:10.0.0.1'));
  t.notOk(set.has('192.168.0.1'), 'a malformed entry matches nothing');
  t.notOk(set.has('127.0.0.1'));
  t.notOk(set.has('::2'));
  t.notOk(set.has(undefined), 'a socket without an address (destroyed) is not trusted');
  t.notOk(set.has('garbage'), 'an unparseable address is not trusted');
  t.ok(set.has('10.2.3.4'), 'asked again: the same answer');
  t.notOk(set.has('127.0.0.1'), 'asked again: the same answer');
  // The memo is cleared when it outgrows 10 000 addresses; answers stay right across the clear.
  for (let i = 0; i < 10_050; i++) set.has(`172.16.${i >> 8}.${i & 0xff}`);
  t.ok(set.has('10.2.3.4'), 'after the memo was cleared');
  t.notOk(set.has('172.16.0.1'), 'after the memo was cleared');
  t.notOk(new CidrSet([]).has('10.0.0.1'), 'an empty set trusts nobody');
});
