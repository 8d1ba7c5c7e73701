/**
 * Overhead targets, as ratios of CPU time per call against bare grpc-js in the same run (issue 8).
 * Variants without a target (the peers) are measured for comparison.
 */
export const TARGETS = {
  singleInterceptor: 1.05,
  tracingWithSdk: 1.1,
  fullPreset: 1.2,
} as const;

export function targetFor(side: 'server' | 'client', variant: string): number | undefined {
  if (
    variant === 'bare' ||
    variant.startsWith('ref:') ||
    variant.startsWith('otel-') ||
    variant.startsWith('nice-grpc')
  ) {
    return undefined;
  }
  if (variant.startsWith('preset')) return TARGETS.fullPreset;
  if (variant.startsWith('tracing')) return TARGETS.tracingWithSdk;
  void side;
  return TARGETS.singleInterceptor;
}
