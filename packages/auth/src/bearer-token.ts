import { InterceptingCall, type Interceptor, Metadata, type Requester, status } from '@grpc/grpc-js';
import { check, OptionError, resolveOptions } from '@weft/core';
import jwt from 'jsonwebtoken';
import { systemClock } from './options';

/** What an async token provider may return: the token, and when it expires if it knows. */
export interface IssuedToken {
  token: string;
  /** Expiry in ms since epoch. Default: the JWT's `exp`, else `defaultTtlSeconds` from now. */
  expiresAt?: number;
}

/** A fixed token, or a provider called when a token is needed (single-flight). */
export type TokenSource = string | (() => string | IssuedToken | Promise<string | IssuedToken>);

export interface BearerTokenOptions {
  /** Metadata key to set. Default `authorization`. */
  header?: string;
  /** A provider's token is refreshed this long before it expires, in the background. Default 60 s. */
  refreshBeforeSeconds?: number;
  /** Lifetime assumed for a provided token with neither `expiresAt` nor a JWT `exp`. Default 300 s. */
  defaultTtlSeconds?: number;
  /**
   * Told why no token could be had (the call fails with a fixed message, since provider errors
   * can carry client ids or URLs into logs and spans). Default: nothing.
   */
  onError?: (error: unknown) => void;
  /** The clock (ms since epoch) that decides when a token is due for refresh or expired. Default: `Date.now()`, read at each use. */
  now?: () => number;
}

type ResolvedBearer = Readonly<Required<BearerTokenOptions>>;

/** `bearerToken()`'s defaults. */
export const BEARER_TOKEN_DEFAULTS: ResolvedBearer = Object.freeze({
  header: 'authorization',
  /** Refresh a minute early, in the background. */
  refreshBeforeSeconds: 60,
  defaultTtlSeconds: 300,
  /** Nothing: the call fails with a fixed message either way. */
  onError: () => undefined,
  now: systemClock,
});

interface Held {
  readonly value: string;
  readonly refreshAt: number;
  readonly expiresAt: number;
}

/**
 * Keeps the current token: callers get it synchronously while it is fresh; near expiry one
 * background refresh runs while calls keep using the old token; once expired, calls wait for the
 * one refresh in flight (never one provider call per waiting call).
 */
class TokenHolder {
  private held: Held | undefined;
  private pending: Promise<string> | undefined;

  constructor(
    private readonly provide: () => string | IssuedToken | Promise<string | IssuedToken>,
    private readonly o: ResolvedBearer,
  ) {}

  current(): string | Promise<string> {
    const held = this.held;
    const now = this.o.now();
    if (held !== undefined && now < held.expiresAt) {
      if (now >= held.refreshAt) this.refresh().catch(() => undefined); // the old token still works
      return held.value;
    }
    return this.refresh();
  }

  private refresh(): Promise<string> {
    if (this.pending === undefined) {
      const pending = Promise.resolve()
        .then(this.provide)
        .then((issued) => this.store(issued))
        .finally(() => {
          if (this.pending === pending) this.pending = undefined;
        });
      this.pending = pending;
    }
    return this.pending;
  }

  private store(issued: string | IssuedToken): string {
    const token = typeof issued === 'string' ? issued : issued?.token;
    if (typeof token !== 'string' || token.length === 0) throw new Error('token provider returned no token');
    const now = this.o.now();
    let expiresAt = typeof issued === 'string' ? undefined : issued.expiresAt;
    if (expiresAt === undefined) {
      const decoded = jwt.decode(token, { json: true });
      expiresAt =
        typeof decoded?.exp === 'number' ? decoded.exp * 1000 : now + this.o.defaultTtlSeconds * 1000;
    }
    const value = `Bearer ${token}`;
    const refreshAt = Math.max(now, expiresAt - this.o.refreshBeforeSeconds * 1000);
    this.held = { value, refreshAt, expiresAt };
    return value;
  }
}

function failWithoutToken(listener: Parameters<NonNullable<Requester['start']>>[1]): void {
  listener.onReceiveStatus({
    code: status.UNAUTHENTICATED,
    details: 'could not obtain a token',
    metadata: new Metadata(),
  });
}

/**
 * Client interceptor adding `authorization: Bearer <token>` to every call that does not carry one
 * already. With a provider, a call that cannot get a token fails with UNAUTHENTICATED and never
 * reaches the server.
 */
export function bearerToken(source: TokenSource, options?: BearerTokenOptions): Interceptor {
  const given = resolveOptions('bearerToken', BEARER_TOKEN_DEFAULTS, options, {
    header: check.nonEmptyString,
    refreshBeforeSeconds: check.nonNegative,
    defaultTtlSeconds: check.positive,
    onError: check.function,
    now: check.function,
  });
  const o: ResolvedBearer = Object.freeze({ ...given, header: given.header.toLowerCase() });
  // An options object in the source's place would otherwise fail every call, long after setup.
  if (typeof source !== 'string' && typeof source !== 'function')
    throw new OptionError(
      'bearerToken',
      'source',
      'must be a token string or a function returning one',
      source,
    );
  if (typeof source === 'string') {
    if (source.length === 0) throw new Error('weft/auth: bearerToken needs a non-empty token');
    const value = `Bearer ${source}`;
    // Stateless, so one requester serves every call.
    const requester: Requester = {
      start(metadata, listener, next) {
        if (metadata.get(o.header).length === 0) metadata.set(o.header, value);
        next(metadata, listener);
      },
    };
    return (callOptions, nextCall) => new InterceptingCall(nextCall(callOptions), requester);
  }
  const holder = new TokenHolder(source, o);
  return (callOptions, nextCall) =>
    new InterceptingCall(nextCall(callOptions), {
      start(metadata, listener, next) {
        // A token the caller set on this call wins (a per-call override, or a test of a bad one).
        if (metadata.get(o.header).length > 0) {
          next(metadata, listener);
          return;
        }
        const token = holder.current();
        if (typeof token === 'string') {
          metadata.set(o.header, token);
          next(metadata, listener);
          return;
        }
        token.then(
          (value) => {
            metadata.set(o.header, value);
            next(metadata, listener);
          },
          (error: unknown) => {
            try {
              o.onError(error);
            } catch {
              // a broken callback must not leave the call hanging
            }
            // On a macrotask: a provider failure settles on a microtask, and a caller looping
            // `await call()` over failing calls would otherwise never let timers or I/O run.
            setImmediate(failWithoutToken, listener);
          },
        );
      },
    });
}
