/** `server.address` and `server.port` of a client span, from the channel's target. */
export interface ServerAddress {
  readonly address: string;
  readonly port: number | undefined;
}

const PORT = /^\d{1,5}$/;

/** `host:port`, `[v6]:port`, `host` or a bare IPv6 literal. */
function hostPort(authority: string): ServerAddress {
  if (authority.startsWith('[')) {
    const close = authority.indexOf(']');
    if (close > 0) {
      const rest = authority.slice(close + 1);
      const port = rest.startsWith(':') && PORT.test(rest.slice(1)) ? Number(rest.slice(1)) : undefined;
      return {
        address: authority.slice(1, close),
        port: port !== undefined && port <= 65535 ? port : undefined,
      };
    }
  }
  const colon = authority.indexOf(':');
  // No colon: a bare name. Several: an unbracketed IPv6 literal, which has no port.
  if (colon < 0 || colon !== authority.lastIndexOf(':')) return { address: authority, port: undefined };
  const text = authority.slice(colon + 1);
  const port = PORT.test(text) ? Number(text) : undefined;
  if (port === undefined || port > 65535) return { address: authority, port: undefined };
  return { address: authority.slice(0, colon), port };
}

/**
 * Parses a gRPC channel target as the OpenTelemetry gRPC conventions ask (docs/rpc/grpc.md,
 * `server.address`): `grpc.io:50051` and `dns://1.2.3.4/grpc.io:50051` give `grpc.io` and `50051`;
 * `unix:///run/x.sock` gives the path and no port; a target it cannot read a host from (another
 * scheme such as `xds:///users` or `etcd:///users`, an `ipv4:` list) is kept whole, without a port.
 * Done once, at setup: the interceptor is made per client, with its target.
 */
export function serverAddressOf(target: string): ServerAddress | undefined {
  if (target === '') return undefined;
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(target)?.[1]?.toLowerCase();
  if (scheme === 'dns') {
    // dns:host:port, dns:///host:port, dns://resolver/host:port
    let rest = target.slice(4);
    if (rest.startsWith('//')) {
      const slash = rest.indexOf('/', 2);
      rest = slash < 0 ? '' : rest.slice(slash + 1);
    }
    return rest === '' ? { address: target, port: undefined } : hostPort(rest);
  }
  if (scheme === 'unix') {
    // unix:relative/path, unix:/abs, unix:///abs
    const rest = target.slice(5);
    return { address: rest.startsWith('//') ? rest.slice(2) : rest, port: undefined };
  }
  if ((scheme === 'ipv4' || scheme === 'ipv6') && !target.includes(',')) return hostPort(target.slice(5));
  // `localhost:50051` also starts like a scheme: a scheme proper is followed by `//` or is one
  // grpc-js knows; anything else is `host:port`.
  if (
    scheme !== undefined &&
    (target.startsWith('//', scheme.length + 1) ||
      scheme === 'ipv4' ||
      scheme === 'ipv6' ||
      scheme === 'unix-abstract')
  )
    return { address: target, port: undefined };
  return hostPort(target);
}
