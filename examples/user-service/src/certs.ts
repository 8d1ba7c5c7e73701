/**
 * `npm run certs [-- --out certs --hosts localhost,127.0.0.1 --trust-domain weft.demo]`: a
 * development CA and the certificates the demo uses, made with Debian's `openssl` (nothing is
 * downloaded). Prints the variables that turn TLS on. Never use these outside a laptop or a test.
 *
 *   ca.crt / ca.key          the development CA (clients and server trust it)
 *   server.crt / server.key  the demo server (DNS and IP SANs from --hosts)
 *   client.crt / client.key  the demo client: spiffe://<trust domain>/ns/demo/sa/client
 *   load.crt / load.key      the load generator: spiffe://<trust domain>/ns/demo/sa/load
 */
import { mkdirSync } from 'node:fs';
import { isIP } from 'node:net';
import { relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DevCa } from './dev-certs';

const { values } = parseArgs({
  options: {
    out: { type: 'string', default: 'certs' },
    hosts: { type: 'string', default: 'localhost,127.0.0.1,::1' },
    'trust-domain': { type: 'string', default: 'weft.demo' },
    days: { type: 'string', default: '30' },
  },
});

const out = resolve(values.out);
const hosts = values.hosts
  .split(',')
  .map((h) => h.trim())
  .filter((h) => h !== '');
const days = Number(values.days);
if (!Number.isInteger(days) || days < 1) {
  process.stderr.write(`--days must be a positive integer, got "${values.days}"\n`);
  process.exit(2);
}
const trustDomain = values['trust-domain'];

mkdirSync(out, { recursive: true });
const ca = DevCa.create(out, 'ca');
ca.issue('server', {
  commonName: hosts[0],
  dnsNames: hosts.filter((h) => isIP(h) === 0),
  ips: hosts.filter((h) => isIP(h) !== 0),
  usage: 'server',
  days,
});
for (const name of ['client', 'load']) {
  ca.issue(name, { uris: [`spiffe://${trustDomain}/ns/demo/sa/${name}`], usage: 'client', days });
}

const shown = relative(process.cwd(), out);
const dir = shown === '' ? '.' : shown.startsWith('..') ? out : shown;
process.stdout.write(`development CA and certificates in ${dir}/ (valid ${days} days)

server (TLS + mTLS):
  TLS_CERT=${dir}/server.crt TLS_KEY=${dir}/server.key TLS_CA=${dir}/ca.crt npm run demo
client and load generator:
  TLS_CA=${dir}/ca.crt TLS_CLIENT_CERT=${dir}/client.crt TLS_CLIENT_KEY=${dir}/client.key npm run demo:client
  TLS_CA=${dir}/ca.crt TLS_CLIENT_CERT=${dir}/load.crt TLS_CLIENT_KEY=${dir}/load.key npm run demo:load
`);
