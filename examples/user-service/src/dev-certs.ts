/**
 * Development certificates made with Debian's `openssl` (nothing downloaded): a CA and the server
 * and client certificates it signs. `npm run certs` and the TLS tests both use it. EC P-256 keys,
 * because they are fast to make; `openssl ca` signs so that any validity window (an expired or a
 * not-yet-valid certificate for a test) can be set: openssl 3.0's `x509 -days` cannot go back in time.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A certificate and its key, as PEM text and as the files holding them. */
export interface IssuedCertificate {
  readonly certFile: string;
  readonly keyFile: string;
  readonly cert: Buffer;
  readonly key: Buffer;
}

export interface CertificateRequest {
  /** Subject common name. Default: none (the subject is then just `O=weft dev`). */
  commonName?: string;
  /** URI SANs, e.g. `spiffe://example.org/ns/demo/sa/client`. */
  uris?: readonly string[];
  /** DNS SANs. */
  dnsNames?: readonly string[];
  /** IP SANs. */
  ips?: readonly string[];
  /** Start of validity. Default: one minute ago. */
  notBefore?: Date;
  /** End of validity. Default: `days` after now. */
  notAfter?: Date;
  /** Validity when `notAfter` is not given. Default 30. */
  days?: number;
  /** Extended key usages. Default both `serverAuth` and `clientAuth`. */
  usage?: 'server' | 'client' | 'both';
}

const OPENSSL = process.env.OPENSSL || 'openssl';

function openssl(args: readonly string[], cwd: string): void {
  execFileSync(OPENSSL, args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** `YYYYMMDDHHMMSSZ`, the form `openssl ca -startdate/-enddate` reads. */
function asn1Time(date: Date): string {
  return `${date.toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`;
}

let counter = 0;

/** `openssl req` arguments for a new unencrypted P-256 key, for the CA and for each certificate. */
const NEW_P256_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** A development CA in `dir` (created if missing): `issue()` signs certificates with it. */
export class DevCa {
  readonly certFile: string;
  readonly keyFile: string;
  private readonly home: string;

  private constructor(
    readonly dir: string,
    readonly name: string,
  ) {
    this.home = join(dir, `.ca-${name.replace(/[^a-z0-9]+/gi, '-')}`);
    this.certFile = join(dir, `${name}.crt`);
    this.keyFile = join(dir, `${name}.key`);
  }

  /** Makes a new CA (self-signed, 10 years unless `days` says otherwise) named `name` in `dir`. */
  static create(dir: string, name = 'ca', options: { commonName?: string; days?: number } = {}): DevCa {
    const ca = new DevCa(dir, name);
    mkdirSync(join(ca.home, 'issued'), { recursive: true });
    writeFileSync(join(ca.home, 'index.txt'), '');
    writeFileSync(join(ca.home, 'index.txt.attr'), 'unique_subject = no\n');
    writeFileSync(join(ca.home, 'serial'), `${(Date.now() % 1e12).toString(16).padStart(16, '0')}\n`);
    writeFileSync(join(ca.home, 'ca.cnf'), caConfig(ca));
    openssl(
      [
        'req',
        '-x509',
        ...NEW_P256_KEY,
        '-keyout',
        ca.keyFile,
        '-out',
        ca.certFile,
        '-days',
        String(options.days ?? 3650),
        '-subj',
        `/O=weft dev/CN=${options.commonName ?? `weft development CA (${name})`}`,
        '-addext',
        'basicConstraints=critical,CA:TRUE',
        '-addext',
        'keyUsage=critical,keyCertSign,cRLSign',
      ],
      dir,
    );
    return ca;
  }

  get cert(): Buffer {
    return readFileSync(this.certFile);
  }

  /**
   * Signs a new key pair for `request`, written to `<name>.crt` / `<name>.key` in the CA's
   * directory. The files are replaced by rename, so a reader never sees half a file.
   */
  issue(name: string, request: CertificateRequest = {}): IssuedCertificate {
    const id = `${process.pid}-${++counter}`;
    const csr = join(this.home, `${id}.csr`);
    const ext = join(this.home, `${id}.ext`);
    const tmpKey = join(this.home, `${id}.key`);
    const tmpCert = join(this.home, `${id}.crt`);
    const subject = request.commonName === undefined ? '/O=weft dev' : `/O=weft dev/CN=${request.commonName}`;
    openssl(['req', '-new', ...NEW_P256_KEY, '-keyout', tmpKey, '-out', csr, '-subj', subject], this.dir);
    writeFileSync(ext, extensions(request));
    const now = Date.now();
    const notBefore = request.notBefore ?? new Date(now - 60_000);
    const notAfter = request.notAfter ?? new Date(now + (request.days ?? 30) * 86_400_000);
    openssl(
      [
        'ca',
        '-config',
        join(this.home, 'ca.cnf'),
        '-batch',
        '-notext',
        '-in',
        csr,
        '-out',
        tmpCert,
        '-startdate',
        asn1Time(notBefore),
        '-enddate',
        asn1Time(notAfter),
        '-extfile',
        ext,
        '-extensions',
        'leaf',
      ],
      this.dir,
    );
    const certFile = join(this.dir, `${name}.crt`);
    const keyFile = join(this.dir, `${name}.key`);
    renameSync(tmpKey, keyFile);
    renameSync(tmpCert, certFile);
    return { certFile, keyFile, cert: readFileSync(certFile), key: readFileSync(keyFile) };
  }
}

function caConfig(ca: DevCa): string {
  const home = join(ca.dir, `.ca-${ca.name.replace(/[^a-z0-9]+/gi, '-')}`);
  return `[ca]
default_ca = dev
[dev]
dir = ${home}
database = $dir/index.txt
new_certs_dir = $dir/issued
serial = $dir/serial
certificate = ${ca.certFile}
private_key = ${ca.keyFile}
default_md = sha256
policy = anything
unique_subject = no
copy_extensions = none
[anything]
organizationName = optional
commonName = optional
`;
}

function extensions(request: CertificateRequest): string {
  const names = [
    ...(request.uris ?? []).map((uri) => `URI:${uri}`),
    ...(request.dnsNames ?? []).map((dns) => `DNS:${dns}`),
    ...(request.ips ?? []).map((ip) => `IP:${ip}`),
  ];
  const usage = request.usage ?? 'both';
  const eku = usage === 'server' ? 'serverAuth' : usage === 'client' ? 'clientAuth' : 'serverAuth,clientAuth';
  return [
    '[leaf]',
    'basicConstraints = critical,CA:FALSE',
    'keyUsage = critical,digitalSignature,keyEncipherment',
    `extendedKeyUsage = ${eku}`,
    ...(names.length > 0 ? [`subjectAltName = ${names.join(',')}`] : []),
    '',
  ].join('\n');
}
