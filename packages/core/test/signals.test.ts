import { describe, expect, it } from 'vitest';
import { type AuthFailure, methodInfo, signals } from '../src/index';

describe('signals', () => {
  it('delivers published messages to subscribers and reports whether anyone listens', () => {
    const seen: AuthFailure[] = [];
    const listener = (m: AuthFailure) => seen.push(m);
    expect(signals.authFailure.hasSubscribers).toBe(false);
    signals.authFailure.subscribe(listener);
    expect(signals.authFailure.hasSubscribers).toBe(true);
    const method = methodInfo({ path: '/a.B/C', requestStream: false, responseStream: false });
    signals.authFailure.publish({ method, reason: 'expired', code: 16 });
    signals.authFailure.unsubscribe(listener);
    signals.authFailure.publish({ method, reason: 'missing', code: 16 });
    expect(seen.map((m) => m.reason)).toEqual(['expired']);
  });
});
