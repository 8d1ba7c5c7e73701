import type { IncomingMessage, ServerResponse } from 'node:http';
import { Registry, type RegistryContentType } from 'prom-client';

type AnyRegistry = Registry<RegistryContentType>;

/** Whether the scraper asked for OpenMetrics (Prometheus does by default; curl does not). */
export function wantsOpenMetrics(accept: string | undefined): boolean {
  return accept?.includes('application/openmetrics-text') === true;
}

/**
 * Renders `registry` in the format asked for. prom-client formats by the registry's content type
 * (`setContentType`), so scrapes run one at a time and the registry's own type is put back after
 * each. weft's families choose their names from that type and need nothing more; but
 * prom-client's own counters (a user's `Counter`s on the same registry) are renamed in place
 * (`x_total` -> `x`) by an OpenMetrics rendering and never renamed back, so their names are put
 * back after each OpenMetrics scrape weft serves, lest it change the user's text output.
 */
export class ScrapeRenderer {
  private queue: Promise<unknown> = Promise.resolve();
  constructor(private readonly registry: AnyRegistry) {}

  render(openMetrics: boolean): Promise<{ contentType: string; body: string }> {
    const next = this.queue.then(() => this.renderNow(openMetrics));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async renderNow(openMetrics: boolean) {
    const registry = this.registry;
    const original = registry.contentType;
    const type = openMetrics ? Registry.OPENMETRICS_CONTENT_TYPE : Registry.PROMETHEUS_CONTENT_TYPE;
    const names = openMetrics ? registry.getMetricsAsArray().map((m) => [m, m.name] as const) : [];
    registry.setContentType(type);
    try {
      return { contentType: type, body: await registry.metrics() };
    } finally {
      registry.setContentType(original);
      for (const [metric, name] of names) (metric as { name: string }).name = name;
    }
  }
}

/**
 * A Node.js `http` request handler serving `registry`: Prometheus text by default, OpenMetrics
 * (with exemplars) when the `Accept` header asks for it. Mount it on any path of an existing server.
 */
export function metricsHandler(registry: AnyRegistry) {
  const renderer = new ScrapeRenderer(registry);
  return (req: IncomingMessage, res: ServerResponse): void => {
    renderer.render(wantsOpenMetrics(req.headers.accept)).then(
      ({ contentType, body }) => {
        res.writeHead(200, { 'content-type': contentType }).end(body);
      },
      (error: unknown) => {
        res
          .writeHead(500, { 'content-type': 'text/plain' })
          .end(`# metrics collection failed: ${String(error)}\n`);
      },
    );
  };
}
