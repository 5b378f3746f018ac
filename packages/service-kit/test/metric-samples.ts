import type { Registry } from 'prom-client';

export interface Sample {
  labels: Record<string, string | number>;
  value: number;
}

/**
 * Every sample of one metric as a scrape would see it (collect functions run), e.g.
 * `harombe_job_duration_seconds_count` for a histogram's counts. Labels set on the registry
 * (service) are left out.
 */
export async function samples(registry: Registry, name: string): Promise<Sample[]> {
  const metrics = await registry.getMetricsAsJSON();
  const family = metrics.find((metric) => metric.name === name || name.startsWith(`${metric.name}_`));
  if (!family) return [];
  return (family.values as { labels: Record<string, string | number>; value: number; metricName?: string }[])
    .filter((sample) => (sample.metricName ?? family.name) === name)
    .map(({ labels, value }) => ({
      labels: Object.fromEntries(Object.entries(labels).filter(([key]) => key !== 'service')),
      value,
    }));
}

/** The value of the sample with exactly these labels (besides service), or undefined when there is none. */
export async function sampleValue(
  registry: Registry,
  name: string,
  labels: Record<string, string> = {},
): Promise<number | undefined> {
  const wanted = JSON.stringify(Object.entries(labels).sort());
  return (await samples(registry, name)).find(
    (sample) =>
      JSON.stringify(
        Object.entries(sample.labels)
          .map(([k, v]) => [k, String(v)])
          .sort(),
      ) === wanted,
  )?.value;
}
