import { type AdaptiveConcurrencyState, signals } from '@weft/core';
import type { Registry, RegistryContentType } from 'prom-client';
import { ComputedFamily, type MetricValue } from './computed-family';

/**
 * The `weft_adaptive_concurrency_*` families: the state of every `adaptiveConcurrency` limiter that
 * announced itself on `signals.adaptiveConcurrency`, read at scrape time (nothing is recorded per
 * call). A limiter is keyed by its name; a second limiter with the same name replaces the first.
 * Returns the unsubscribe function.
 */
export function adaptiveConcurrencyMetrics(
  registry: Registry<RegistryContentType>,
  prefix: string,
): () => void {
  const limiters = new Map<string, AdaptiveConcurrencyState>();
  const listener = (state: AdaptiveConcurrencyState) => {
    if (limiters.get(state.name) !== state) limiters.set(state.name, state);
  };
  signals.adaptiveConcurrency.subscribe(listener);

  const perLimiter = (read: (s: AdaptiveConcurrencyState) => number) => (): MetricValue[] =>
    Array.from(limiters.values(), (s) => ({ labels: { limiter: s.name }, value: read(s) }));
  const perPartition =
    (read: (p: AdaptiveConcurrencyState['partitions'][number]) => number) => (): MetricValue[] => {
      const out: MetricValue[] = [];
      for (const s of limiters.values()) {
        for (const p of s.partitions)
          out.push({ labels: { limiter: s.name, partition: p.name }, value: read(p) });
      }
      return out;
    };
  const family = (name: string, help: string, type: 'counter' | 'gauge', collect: () => MetricValue[]) =>
    new ComputedFamily(registry, `${prefix}weft_adaptive_concurrency_${name}`, help, type, collect);

  family(
    'limit',
    'Current concurrency limit of each adaptiveConcurrency limiter (Gradient2).',
    'gauge',
    perLimiter((s) => s.limit),
  );
  family(
    'in_flight',
    'Calls in flight through each adaptiveConcurrency limiter.',
    'gauge',
    perLimiter((s) => s.inFlight),
  );
  family(
    'min_rtt_seconds',
    "Baseline latency of each adaptiveConcurrency limiter: Gradient2's long-term average RTT.",
    'gauge',
    perLimiter((s) => s.minRttSeconds),
  );
  family(
    'baseline_rtt_seconds',
    "Baseline latency of each adaptiveConcurrency limiter measured at low concurrency (Envoy's minRTT); 0 before the first measurement or without the probe.",
    'gauge',
    perLimiter((s) => s.baselineRttSeconds),
  );
  family(
    'baseline_measuring',
    'Whether each adaptiveConcurrency limiter is measuring its baseline (1: the limit is held at the probe concurrency).',
    'gauge',
    perLimiter((s) => (s.measuringBaseline ? 1 : 0)),
  );
  family(
    'sample_rtt_seconds',
    'RTT that each adaptiveConcurrency limiter last updated its limit from: the average of the calls that ended in one update interval.',
    'gauge',
    perLimiter((s) => s.sampleRttSeconds),
  );
  family(
    'partition_limit',
    "Each partition's guaranteed share of its adaptiveConcurrency limit, in calls.",
    'gauge',
    perPartition((p) => p.limit),
  );
  family(
    'partition_in_flight',
    'Calls in flight per adaptiveConcurrency partition.',
    'gauge',
    perPartition((p) => p.inFlight),
  );
  family(
    'rejections_total',
    'Calls refused (UNAVAILABLE) by each adaptiveConcurrency limiter, by partition.',
    'counter',
    perPartition((p) => p.rejections),
  );
  return () => signals.adaptiveConcurrency.unsubscribe(listener);
}
