import type { PeerCertificate } from 'node:tls';
import type { PeerIdentity, PeerIdentitySource } from './identity';
import { type AuthRejection, rejections } from './rejection';

/** SPIFFE IDs are at most 2048 bytes (SPIFFE ID spec, 2.3); longer URIs are never SPIFFE IDs. */
const MAX_SPIFFE_ID = 2048;
const SPIFFE = 'spiffe://';

/**
 * Splits Node's `subjectaltname` string (`DNS:a, URI:spiffe://x, IP Address:1.2.3.4`) into
 * `[type, value]` pairs. Since the fix for CVE-2021-44532, Node writes a value holding a comma,
 * quote or other special character as a JSON string (`URI:"spiffe://a, b"`), so a certificate
 * cannot smuggle a second name into a value. One pass, no regular expression.
 */
export function splitAltNames(altNames: string): [type: string, value: string][] | undefined {
  const out: [string, string][] = [];
  let i = 0;
  const n = altNames.length;
  while (i < n) {
    const colon = altNames.indexOf(':', i);
    if (colon < 0) return undefined;
    const type = altNames.slice(i, colon);
    let value: string;
    i = colon + 1;
    if (altNames.charCodeAt(i) === 34 /* " */) {
      let j = i + 1;
      while (j < n && altNames.charCodeAt(j) !== 34) j += altNames.charCodeAt(j) === 92 /* \ */ ? 2 : 1;
      if (j >= n) return undefined;
      try {
        value = JSON.parse(altNames.slice(i, j + 1)) as string;
      } catch {
        return undefined;
      }
      i = j + 1;
    } else {
      const end = altNames.indexOf(', ', i);
      value = altNames.slice(i, end < 0 ? n : end);
      i = end < 0 ? n : end;
    }
    out.push([type, value]);
    if (i < n) {
      if (altNames.charCodeAt(i) !== 44 /* , */ || altNames.charCodeAt(i + 1) !== 32) return undefined;
      i += 2;
    }
  }
  return out;
}

function isTrustDomainChar(c: number): boolean {
  // a-z 0-9 . - _ (SPIFFE ID spec 2.1: lowercase only)
  return (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 46 || c === 45 || c === 95;
}

function isPathChar(c: number): boolean {
  // A-Z a-z 0-9 . - _ (SPIFFE ID spec 2.2)
  return isTrustDomainChar(c) || (c >= 65 && c <= 90);
}

/**
 * The trust domain of a well-formed SPIFFE ID, `undefined` if `uri` is not one: lowercase scheme
 * and trust domain, no port, user info, query or fragment, path segments of `[A-Za-z0-9._-]`
 * that are neither empty nor `.` / `..`. A character loop rather than a pattern: the input comes
 * from a certificate.
 */
export function spiffeTrustDomain(uri: string): string | undefined {
  if (uri.length > MAX_SPIFFE_ID || !uri.startsWith(SPIFFE)) return undefined;
  const n = uri.length;
  let i = SPIFFE.length;
  while (i < n && isTrustDomainChar(uri.charCodeAt(i))) i++;
  if (i === SPIFFE.length) return undefined;
  const trustDomain = uri.slice(SPIFFE.length, i);
  while (i < n) {
    if (uri.charCodeAt(i) !== 47 /* / */) return undefined;
    const start = ++i;
    while (i < n && isPathChar(uri.charCodeAt(i))) i++;
    const segment = uri.slice(start, i);
    if (segment === '' || segment === '.' || segment === '..') return undefined;
  }
  return trustDomain;
}

/** What a certificate's parts yield for one identity source: a value, nothing, or a refusal. */
function pick(
  source: PeerIdentitySource,
  uris: readonly string[],
  dnsNames: readonly string[],
  commonNames: readonly string[],
): string | AuthRejection | undefined {
  const values = source === 'uri' ? uris : source === 'dns' ? dnsNames : commonNames;
  if (values.length === 0) return undefined;
  // A SPIFFE SVID has exactly one URI SAN; several names of the chosen kind leave "who" unclear.
  if (values.length > 1) return rejections.ambiguousPeer;
  return values[0] as string;
}

/**
 * The workload identity in a verified peer certificate (or why there is none), reading the
 * sources in `order`; the first present wins. A URI SAN that starts `spiffe://` must be a valid
 * SPIFFE ID.
 */
export function identityFromCertificate(
  certificate: PeerCertificate,
  order: readonly PeerIdentitySource[],
): PeerIdentity | AuthRejection {
  const uris: string[] = [];
  const dnsNames: string[] = [];
  const altNames = certificate.subjectaltname;
  if (altNames !== undefined && altNames !== '') {
    const pairs = splitAltNames(altNames);
    if (pairs === undefined) return rejections.badPeerCertificate;
    for (const [type, value] of pairs) {
      if (type === 'URI') uris.push(value);
      else if (type === 'DNS') dnsNames.push(value);
    }
  }
  const cn = (certificate.subject as unknown as Record<string, string | string[] | undefined> | undefined)
    ?.CN;
  const commonNames = cn === undefined ? [] : Array.isArray(cn) ? cn : [cn];
  for (const source of order) {
    const id = pick(source, uris, dnsNames, commonNames);
    if (id === undefined) continue;
    if (typeof id !== 'string') return id;
    let trustDomain: string | undefined;
    if (source === 'uri' && id.toLowerCase().startsWith('spiffe:')) {
      trustDomain = spiffeTrustDomain(id);
      if (trustDomain === undefined) return rejections.badSpiffeId;
    }
    return Object.freeze({
      id,
      source,
      trustDomain,
      uris: Object.freeze(uris),
      dnsNames: Object.freeze(dnsNames),
      commonName: commonNames.length === 1 ? commonNames[0] : undefined,
      fingerprint: certificate.fingerprint256,
      validTo: Date.parse(certificate.valid_to),
    });
  }
  return rejections.noPeerIdentity;
}

/**
 * Identities by certificate fingerprint, so a connection's calls parse its certificate once
 * (grpc-js hands each call a fresh `PeerCertificate` object, so the object itself cannot key it).
 * Bounded: when full, the oldest entry goes.
 */
export class PeerIdentityCache {
  private readonly entries = new Map<string, PeerIdentity | AuthRejection>();

  constructor(
    private readonly order: readonly PeerIdentitySource[],
    private readonly size: number,
  ) {}

  get(certificate: PeerCertificate): PeerIdentity | AuthRejection {
    const key = certificate.fingerprint256;
    let found = this.entries.get(key);
    if (found === undefined) {
      found = identityFromCertificate(certificate, this.order);
      if (this.size > 0) {
        if (this.entries.size >= this.size) {
          const oldest = this.entries.keys().next();
          if (oldest.done !== true) this.entries.delete(oldest.value);
        }
        this.entries.set(key, found);
      }
    }
    return found;
  }
}
