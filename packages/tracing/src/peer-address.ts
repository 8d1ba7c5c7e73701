import { isIP } from 'node:net';

export interface PeerAddress {
  readonly address: string;
  readonly port: number | undefined;
}

/**
 * Splits the peer string grpc-js reports (`127.0.0.1:5555`, `::1:5555` unbracketed on the server,
 * `[::1]:5555`, optionally `ipv4:`/`ipv6:`-prefixed) into address and port. `undefined` for
 * `unknown` or an empty string.
 */
export function parsePeer(peer: string): PeerAddress | undefined {
  let rest = peer;
  if (rest.startsWith('ipv4:') || rest.startsWith('ipv6:')) rest = rest.slice(5);
  if (rest === '' || rest === 'unknown') return undefined;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close > 0) {
      const port = toPort(rest.slice(close + 2));
      return { address: rest.slice(1, close), port };
    }
  }
  // grpc-js appends the port whenever the socket has one, IPv6 unbracketed (`::1:5555`, itself a
  // valid IPv6 literal): so try `address:port` first, the whole string as an address second.
  const colon = rest.lastIndexOf(':');
  if (colon > 0) {
    const port = toPort(rest.slice(colon + 1));
    const address = rest.slice(0, colon);
    if (port !== undefined && isIP(address) !== 0) return { address, port };
  }
  if (isIP(rest) !== 0) return { address: rest, port: undefined };
  // A unix socket path or a name: record it as the address, without a port.
  return { address: rest, port: undefined };
}

function toPort(text: string): number | undefined {
  if (text === '' || text.length > 5) return undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return undefined;
  }
  const port = Number(text);
  return port <= 65535 ? port : undefined;
}
