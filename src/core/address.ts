// Parsing of "host:port" strings used by listeners and endpoint files.

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/**
 * Parses "host:port", "[v6]:port" or ":port" (all interfaces). Returns an error message
 * instead of throwing so that config validation can report every bad field at once.
 */
export function parseHostPort(value: string, defaultHost = '0.0.0.0'): HostPort | string {
  let host: string;
  let portText: string;
  if (value.startsWith('[')) {
    const end = value.indexOf(']');
    if (end < 0 || value[end + 1] !== ':') return `expected "[ipv6]:port", got "${value}"`;
    host = value.slice(1, end);
    portText = value.slice(end + 2);
  } else {
    const colon = value.lastIndexOf(':');
    if (colon < 0) return `expected "host:port", got "${value}"`;
    host = value.slice(0, colon) || defaultHost;
    portText = value.slice(colon + 1);
    if (host.includes(':')) return `IPv6 hosts must be bracketed, as in "[::1]:8080"; got "${value}"`;
  }
  if (!/^\d{1,5}$/.test(portText)) return `port must be a number from 0 to 65535; got "${value}"`;
  const port = Number(portText);
  if (port > 65535) return `port must be a number from 0 to 65535; got "${value}"`;
  if (host.length === 0) return `host is empty in "${value}"`;
  return { host, port };
}
