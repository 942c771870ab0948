import dns from 'node:dns';
import net from 'node:net';

/**
 * SSRF guard for webhook delivery (issue 12, "No SSRF"). A partner chooses the URL we
 * POST to, so without a guard our server would call whatever the URL names: a database on
 * loopback, a service on the private network, the cloud metadata endpoint
 * (169.254.169.254), which hands out credentials.
 *
 * Every delivery resolves the host again (dns.lookup, all addresses) and refuses it when
 * any address is not a public unicast one; it then connects to the address that was
 * checked (webhook-delivery.ts passes it to the socket through `lookup`), never to the
 * result of a second lookup, so DNS rebinding (public at the check, 127.0.0.1 at the
 * connect) does not get through. WEBHOOK_ALLOW_PRIVATE_ADDRESSES=true turns the refusal
 * off for tests and local development.
 *
 * Ranges come from the IANA special-purpose registries (RFC 6890 and its updates), kept
 * in Node's own net.BlockList, which also matches IPv4-mapped IPv6 (::ffff:a.b.c.d)
 * against the IPv4 rules.
 */
const NON_PUBLIC = new net.BlockList();
const IPV4_RANGES: Array<[string, number, string]> = [
  ['0.0.0.0', 8, 'unspecified ("this network", RFC 1122)'],
  ['10.0.0.0', 8, 'private (RFC 1918)'],
  ['100.64.0.0', 10, 'carrier-grade NAT (RFC 6598)'],
  ['127.0.0.0', 8, 'loopback (RFC 1122)'],
  ['169.254.0.0', 16, 'link-local, cloud metadata (RFC 3927)'],
  ['172.16.0.0', 12, 'private (RFC 1918)'],
  ['192.0.0.0', 24, 'IETF protocol assignments (RFC 6890)'],
  ['192.0.2.0', 24, 'documentation (RFC 5737)'],
  ['192.168.0.0', 16, 'private (RFC 1918)'],
  ['198.18.0.0', 15, 'benchmarking (RFC 2544)'],
  ['198.51.100.0', 24, 'documentation (RFC 5737)'],
  ['203.0.113.0', 24, 'documentation (RFC 5737)'],
  ['224.0.0.0', 4, 'multicast (RFC 5771)'],
  ['240.0.0.0', 4, 'reserved and broadcast (RFC 1112, RFC 919)'],
];
const IPV6_RANGES: Array<[string, number, string]> = [
  ['::', 128, 'unspecified (RFC 4291)'],
  ['::1', 128, 'loopback (RFC 4291)'],
  // IPv4-compatible (deprecated, RFC 4291 2.5.5.1): never a public destination.
  ['::', 96, 'IPv4-compatible (RFC 4291)'],
  ['100::', 64, 'discard-only (RFC 6666)'],
  ['2001:db8::', 32, 'documentation (RFC 3849)'],
  ['3fff::', 20, 'documentation (RFC 9637)'],
  ['5f00::', 16, 'segment routing SIDs, not globally reachable (RFC 9602)'],
  ['fc00::', 7, 'unique local, private (RFC 4193)'],
  ['fe80::', 10, 'link-local (RFC 4291)'],
  ['fec0::', 10, 'site-local (RFC 3879)'],
  ['ff00::', 8, 'multicast (RFC 4291)'],
];
for (const [address, prefix] of IPV4_RANGES) NON_PUBLIC.addSubnet(address, prefix, 'ipv4');
for (const [address, prefix] of IPV6_RANGES) NON_PUBLIC.addSubnet(address, prefix, 'ipv6');

/** The 8 hextets of an IPv6 address as numbers (the address must be valid: net.isIPv6). */
function hextets(address: string): number[] {
  let text = address.split('%')[0];
  // A dotted IPv4 tail (::ffff:1.2.3.4) becomes two hextets.
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted[1].split('.').map(Number);
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const middle = tail === undefined ? [] : new Array(8 - left.length - right.length).fill('0');
  return [...left, ...middle, ...right].map((part) => parseInt(part, 16));
}

/**
 * NAT64 (64:ff9b::/96, RFC 6052; 64:ff9b:1::/48, RFC 8215), IPv4-translated
 * (::ffff:0:a.b.c.d, SIIT, RFC 2765 and RFC 6145), 6to4 (2002::/16, RFC 3056) and Teredo
 * (2001::/32, RFC 4380: the client's IPv4 address, its bits inverted, in the last 32)
 * addresses carry an IPv4 address that a translator or relay routes to: judged by that address.
 */
function embeddedIPv4(address: string): string | null {
  const h = hextets(address);
  const v4 = (high: number, low: number) => `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;
  if (h[0] === 0x64 && h[1] === 0xff9b && h.slice(2, 6).every((x) => x === 0)) return v4(h[6], h[7]);
  if (h[0] === 0x64 && h[1] === 0xff9b && h[2] === 1) return v4(h[6], h[7]);
  if (h.slice(0, 4).every((x) => x === 0) && h[4] === 0xffff && h[5] === 0) return v4(h[6], h[7]);
  if (h[0] === 0x2002) return v4(h[1], h[2]);
  if (h[0] === 0x2001 && h[1] === 0) return v4(h[6] ^ 0xffff, h[7] ^ 0xffff);
  return null;
}

/**
 * Whether an IP address (v4 or v6 text, e.g. `10.0.0.1`, `::ffff:127.0.0.1`, `fe80::1%eth0`)
 * is not a public unicast address: loopback, private (RFC 1918, fc00::/7), link-local
 * (169.254.0.0/16 with the metadata address, fe80::/10), unspecified, carrier-grade NAT
 * (100.64.0.0/10), multicast, reserved, documentation, IPv4-mapped, NAT64, SIIT, 6to4 or Teredo forms of
 * those. A string that is not an IP address counts as private (refused).
 */
export function isPrivateAddress(address: string): boolean {
  const bare = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  const withoutZone = bare.split('%')[0];
  const family = net.isIP(withoutZone);
  if (family === 4) return NON_PUBLIC.check(withoutZone, 'ipv4');
  if (family !== 6) return true;
  if (NON_PUBLIC.check(withoutZone, 'ipv6')) return true;
  const embedded = embeddedIPv4(withoutZone);
  return embedded !== null && NON_PUBLIC.check(embedded, 'ipv4');
}

/** A delivery refused before any connection: its message is the attempt's recorded error. */
export class RefusedDestinationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RefusedDestinationError';
  }
}

export interface CheckedAddress {
  address: string;
  family: 4 | 6;
}

/**
 * Resolves a delivery URL's host and returns the one address to connect to, or throws
 * RefusedDestinationError: a scheme other than http/https, a host that does not resolve,
 * or (unless allowPrivate) any resolved address that isPrivateAddress. Every address
 * must pass, not only the first: a name resolving to a public and a private address is
 * refused. The first address is used (as dns.lookup's order would be).
 */
export async function checkDestination(url: URL, allowPrivate: boolean): Promise<CheckedAddress> {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new RefusedDestinationError(`refused: only http and https URLs are delivered to, not ${url.protocol.slice(0, 10)}`);
  }
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  let addresses: CheckedAddress[];
  if (net.isIP(host)) {
    addresses = [{ address: host, family: net.isIP(host) as 4 | 6 }];
  } else {
    try {
      const found = await dns.promises.lookup(host, { all: true, verbatim: true });
      addresses = found.map((entry) => ({ address: entry.address, family: entry.family as 4 | 6 }));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'lookup failed';
      throw new RefusedDestinationError(`the host did not resolve (${code})`);
    }
  }
  if (addresses.length === 0) throw new RefusedDestinationError('the host did not resolve to any address');
  if (!allowPrivate) {
    const refused = addresses.find((entry) => isPrivateAddress(entry.address));
    if (refused) {
      throw new RefusedDestinationError(
        `refused: the host resolves to ${refused.address}, which is not a public address (WEBHOOK_ALLOW_PRIVATE_ADDRESSES is false)`,
      );
    }
  }
  return addresses[0];
}
