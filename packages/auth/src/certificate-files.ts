import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { experimental } from '@grpc/grpc-js';

type CertificateProvider = experimental.CertificateProvider;
type CaListener = experimental.CaCertificateUpdateListener;
type IdentityListener = experimental.IdentityCertificateUpdateListener;

export interface CertificateFilesOptions {
  /** PEM certificate (chain, leaf first) this side presents. Set with `keyFile`, or neither (a client without a certificate). */
  certFile?: string;
  /** PEM private key of `certFile`. */
  keyFile?: string;
  /** PEM CA bundle that peers' certificates must chain to. */
  caFile?: string;
  /** How often the files are read again, ms. Default 60000; `reload()` reads them at once. */
  refreshIntervalMs?: number;
  /**
   * Told when a reload fails: a file missing or unreadable, a key that does not match its
   * certificate. The certificates last loaded stay in use. Default: ignored.
   */
  onError?: (error: Error) => void;
  /** Told after a reload found new content and handed it to grpc-js. Default: nothing. */
  onUpdate?: () => void;
}

interface Loaded {
  readonly cert: Buffer | undefined;
  readonly key: Buffer | undefined;
  readonly ca: Buffer | undefined;
}

/**
 * Certificate, key and CA read from files and read again every `refreshIntervalMs` (or on
 * `reload()`), for grpc-js's certificate-provider credentials: new content applies to new
 * connections without a restart, connections already open keep theirs.
 *
 * Why not grpc-js's `FileWatcherCertificateProvider`: it hands grpc-js whatever it read, so a
 * rotation caught half-way (the new certificate beside the old key) or a file briefly missing
 * makes the server refuse every new connection until the next refresh. This one publishes only a
 * set that fits together (the key matches the certificate, every PEM parses) and otherwise keeps
 * the last good one and reports the error. It also publishes only when the content changed.
 */
export class CertificateFiles implements CertificateProvider {
  private current: Loaded;
  private readonly caListeners = new Set<CaListener>();
  private readonly identityListeners = new Set<IdentityListener>();
  private timer: NodeJS.Timeout | undefined;
  private reading: Promise<boolean> | undefined;
  private readonly refreshIntervalMs: number;
  private generationCount = 0;
  private trusted: { readonly generation: number; readonly cas: readonly X509Certificate[] } | undefined;

  /** Reads the files once, synchronously: a bad set is an error at startup, not a server that refuses all. */
  constructor(private readonly options: CertificateFilesOptions) {
    if ((options.certFile === undefined) !== (options.keyFile === undefined)) {
      throw new Error('weft/auth: certFile and keyFile go together');
    }
    if (options.certFile === undefined && options.caFile === undefined) {
      throw new Error('weft/auth: give certFile and keyFile, caFile, or all three');
    }
    this.refreshIntervalMs = options.refreshIntervalMs ?? 60_000;
    const read = (file: string | undefined) => (file === undefined ? undefined : readFileSync(file));
    this.current = check({
      cert: read(options.certFile),
      key: read(options.keyFile),
      ca: read(options.caFile),
    });
  }

  get hasIdentity(): boolean {
    return this.current.cert !== undefined;
  }

  get hasCa(): boolean {
    return this.current.ca !== undefined;
  }

  /** Counts the sets published so far: it changes whenever the certificate, key or CA did. */
  get generation(): number {
    return this.generationCount;
  }

  /** The certificates of the current CA bundle, parsed once per generation. */
  get caCertificates(): readonly X509Certificate[] {
    if (this.trusted?.generation !== this.generationCount) {
      this.trusted = { generation: this.generationCount, cas: splitPem(this.current.ca) };
    }
    return this.trusted.cas;
  }

  /**
   * Reads the files now. Resolves `true` when they changed and the new set was handed to grpc-js,
   * `false` when nothing changed or the new set was refused (see `onError`). Never rejects.
   */
  reload(): Promise<boolean> {
    this.reading ??= this.read().finally(() => {
      this.reading = undefined;
    });
    return this.reading;
  }

  private async read(): Promise<boolean> {
    const o = this.options;
    const read = (file: string | undefined) => (file === undefined ? undefined : readFile(file));
    let next: Loaded;
    try {
      const [cert, key, ca] = await Promise.all([read(o.certFile), read(o.keyFile), read(o.caFile)]);
      next = check({ cert, key, ca });
    } catch (error) {
      o.onError?.(error instanceof Error ? error : new Error(String(error)));
      return false;
    }
    const previous = this.current;
    if (same(previous.cert, next.cert) && same(previous.key, next.key) && same(previous.ca, next.ca))
      return false;
    this.current = next;
    this.generationCount++;
    // Identity first, then CA: grpc-js builds a secure context on each, and both are set by the end of this turn.
    for (const listener of this.identityListeners) listener(this.identityUpdate());
    for (const listener of this.caListeners) listener(this.caUpdate());
    o.onUpdate?.();
    return true;
  }

  private identityUpdate(): experimental.IdentityCertificateUpdate | null {
    const { cert, key } = this.current;
    return cert === undefined || key === undefined ? null : { certificate: cert, privateKey: key };
  }

  private caUpdate(): experimental.CaCertificateUpdate | null {
    return this.current.ca === undefined ? null : { caCertificate: this.current.ca };
  }

  // --- grpc-js's CertificateProvider ---

  addCaCertificateListener(listener: CaListener): void {
    this.caListeners.add(listener);
    this.watch();
    // Asynchronously, as grpc-js's own provider: its server registers its watcher after this returns.
    process.nextTick(() => {
      if (this.caListeners.has(listener)) listener(this.caUpdate());
    });
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.caListeners.delete(listener);
    this.unwatch();
  }

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.add(listener);
    this.watch();
    process.nextTick(() => {
      if (this.identityListeners.has(listener)) listener(this.identityUpdate());
    });
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.delete(listener);
    this.unwatch();
  }

  /** Stops reading the files (grpc-js also stops it when the last server or channel using it closes). */
  close(): void {
    this.caListeners.clear();
    this.identityListeners.clear();
    this.unwatch();
  }

  private watch(): void {
    if (this.timer !== undefined || this.refreshIntervalMs <= 0) return;
    this.timer = setInterval(() => void this.reload(), this.refreshIntervalMs);
    // The files are read for the servers and channels that use them; they keep the process alive.
    this.timer.unref();
  }

  private unwatch(): void {
    if (this.caListeners.size > 0 || this.identityListeners.size > 0 || this.timer === undefined) return;
    clearInterval(this.timer);
    this.timer = undefined;
  }
}

function same(a: Buffer | undefined, b: Buffer | undefined): boolean {
  return a === undefined || b === undefined ? a === b : a.equals(b);
}

/** Throws unless the set fits together: PEMs parse and the key belongs to the (first) certificate. */
function check(loaded: Loaded): Loaded {
  if (loaded.cert !== undefined && loaded.key !== undefined) {
    const cert = new X509Certificate(loaded.cert);
    if (!cert.checkPrivateKey(createPrivateKey(loaded.key))) {
      throw new Error('weft/auth: the private key does not belong to the certificate (rotation half-way?)');
    }
  }
  if (loaded.ca !== undefined && splitPem(loaded.ca).length === 0) {
    throw new Error('weft/auth: the CA file holds no certificate');
  }
  return loaded;
}

const PEM_END = '-----END CERTIFICATE-----';

/** Every certificate of a PEM bundle (throws on one that does not parse). */
function splitPem(pem: Buffer | undefined): X509Certificate[] {
  if (pem === undefined) return [];
  const text = pem.toString('latin1');
  const out: X509Certificate[] = [];
  let start = text.indexOf('-----BEGIN CERTIFICATE-----');
  while (start >= 0) {
    const end = text.indexOf(PEM_END, start);
    if (end < 0) break;
    out.push(new X509Certificate(text.slice(start, end + PEM_END.length)));
    start = text.indexOf('-----BEGIN CERTIFICATE-----', end);
  }
  return out;
}
