/**
 * `npm run token -- --sub alice --scope "users:read users:write" [--ttl 3600]`: prints a token the
 * demo accepts, signed with JWT_SECRET (or the development secret, with a warning).
 */
import { parseArgs } from 'node:util';
import { loadConfig } from './config';
import { mintToken, READ_SCOPE, WRITE_SCOPE } from './tokens';

const { values } = parseArgs({
  options: {
    sub: { type: 'string', default: 'demo-user' },
    scope: { type: 'string', default: `${READ_SCOPE} ${WRITE_SCOPE}` },
    ttl: { type: 'string', default: '3600' },
  },
});

const ttlSeconds = Number(values.ttl);
if (!Number.isInteger(ttlSeconds) || ttlSeconds <= 0) {
  process.stderr.write(`--ttl must be a positive number of seconds, got "${values.ttl}"\n`);
  process.exit(2);
}
const config = loadConfig();
if (config.jwt.insecureDevSecret) {
  process.stderr.write('warning: JWT_SECRET is unset; signing with the public development secret\n');
}
process.stdout.write(`${mintToken(config.jwt, { subject: values.sub, scope: values.scope, ttlSeconds })}\n`);
