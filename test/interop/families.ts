/** Prometheus text exposition read family by family: HELP, TYPE and every sample by its labels. */
export interface Family {
  readonly name: string;
  help: string;
  type: string;
  /** `sample_name{a="1",b="2"}` (labels sorted) -> value. */
  readonly samples: Map<string, number>;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: \S+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** A sample's key: its name and its labels in name order, so both sides compare as strings. */
export function sampleKey(name: string, labels: Record<string, string>): string {
  const sorted = Object.keys(labels)
    .sort()
    .map((k) => `${k}="${labels[k]}"`);
  return `${name}{${sorted.join(',')}}`;
}

/** The families whose name starts with `prefix`, by name. */
export function families(text: string, prefix: string): Map<string, Family> {
  const out = new Map<string, Family>();
  const family = (name: string) => {
    let f = out.get(name);
    if (f === undefined) {
      f = { name, help: '', type: '', samples: new Map() };
      out.set(name, f);
    }
    return f;
  };
  let current: Family | undefined;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const meta = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
    if (meta !== null) {
      const [, kind, name = '', rest = ''] = meta;
      current = name.startsWith(prefix) ? family(name) : undefined;
      if (current !== undefined) {
        if (kind === 'HELP') current.help = rest;
        else current.type = rest;
      }
      continue;
    }
    if (line.startsWith('#')) continue;
    const match = SAMPLE.exec(line);
    if (match === null) throw new Error(`unparseable exposition line: ${line}`);
    const [, name = '', labelText = '', value = ''] = match;
    if (!name.startsWith(prefix)) continue;
    if (current === undefined || !name.startsWith(current.name))
      throw new Error(`sample ${name} outside its family`);
    const labels: Record<string, string> = {};
    for (const [, k, v] of labelText.matchAll(LABEL)) labels[k as string] = v as string;
    current.samples.set(sampleKey(name, labels), Number(value));
  }
  return out;
}
