/** The value of one sample of a Prometheus text exposition, by name and (some of) its labels; 0 when absent. */
export function metricSample(text: string, name: string, labels: Record<string, string>): number {
  const wanted = Object.entries(labels).map(([key, value]) => `${key}="${value}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const inner = line.slice(name.length + 1, line.indexOf('}'));
    if (wanted.every((pair) => inner.split(',').includes(pair))) return Number(line.slice(line.indexOf('}') + 1));
  }
  return 0;
}
