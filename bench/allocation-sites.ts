/**
 * Where a server process allocates: V8's sampling heap profiler over a window, objects the
 * collector already freed included, summed per allocating function (`npm run bench:alloc --
 * --sites`). Each sample stands for about `SAMPLING_INTERVAL` bytes, and V8 scales the samples so a
 * site's total is an unbiased estimate of the bytes it allocated: the bytes-per-call table says how
 * much, this says by whom.
 */
import type { Session } from 'node:inspector';

/** Bytes between samples on average: ~4000 samples per MB, so a site of 500 bytes per call over a 20000-call window has ~2500. */
const SAMPLING_INTERVAL = 256;

/** One allocating function: `name (file:line)` and its bytes over the window. */
export interface AllocationSite {
  site: string;
  bytes: number;
}

interface ProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: ProfileNode[];
}

/** The package a script belongs to, so sites read `@weft/core/server-stage.js:12`, not a long path. */
function shortUrl(url: string): string {
  const modules = url.lastIndexOf('node_modules/');
  if (modules >= 0) return url.slice(modules + 'node_modules/'.length);
  const packages = url.lastIndexOf('/packages/');
  if (packages >= 0) return `@weft/${url.slice(packages + '/packages/'.length).replace('/dist/', '/')}`;
  return url.replace(/^.*\//, '');
}

// Connected on first use: the servers measured by the other benches never load the inspector.
let session: Session | undefined;

function post<T>(method: string, params?: object): Promise<T> {
  if (session === undefined) {
    const { Session } = require('node:inspector') as typeof import('node:inspector');
    session = new Session();
    session.connect();
  }
  const connected = session;
  return new Promise((resolve, reject) =>
    connected.post(method, params ?? {}, (error, result) => (error ? reject(error) : resolve(result as T))),
  );
}

export async function startSites(): Promise<void> {
  await post('HeapProfiler.startSampling', {
    samplingInterval: SAMPLING_INTERVAL,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
}

/** Stops sampling; returns the sites, largest first. */
export async function stopSites(): Promise<AllocationSite[]> {
  const { profile } = await post<{ profile: { head: ProfileNode } }>('HeapProfiler.stopSampling');
  const bySite = new Map<string, number>();
  const visit = (node: ProfileNode) => {
    if (node.selfSize > 0) {
      const { functionName, url, lineNumber } = node.callFrame;
      const site = url
        ? `${functionName || '(anonymous)'} (${shortUrl(url)}:${lineNumber + 1})`
        : functionName || '(root)';
      bySite.set(site, (bySite.get(site) ?? 0) + node.selfSize);
    }
    for (const child of node.children) visit(child);
  };
  visit(profile.head);
  return [...bySite].map(([site, bytes]) => ({ site, bytes })).sort((a, b) => b.bytes - a.bytes);
}
