// Command-line options for the benches: --name value / --name=value, numbers checked, --help printed.
import { parseArgs } from 'node:util';

export interface OptionSpec {
  /** Default; a number option is parsed and checked to be > 0 (an integer unless `float`). */
  default: number | string;
  float?: boolean;
  /** 0 is a valid value too. */
  zero?: boolean;
  help: string;
}

export function readOptions<K extends string>(usage: string, specs: Record<K, OptionSpec>): Record<K, number | string> {
  const options: Record<string, { type: 'string' | 'boolean' }> = { help: { type: 'boolean' } };
  for (const name of Object.keys(specs)) options[name] = { type: 'string' };
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({ options, allowPositionals: false }).values as Record<string, string | boolean | undefined>;
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n\n${help(usage, specs)}`);
    process.exit(2);
  }
  if (values['help']) {
    process.stdout.write(help(usage, specs));
    process.exit(0);
  }
  const out = {} as Record<K, number | string>;
  for (const [name, spec] of Object.entries(specs) as [K, OptionSpec][]) {
    const raw = values[name];
    if (typeof spec.default === 'string') {
      out[name] = typeof raw === 'string' ? raw : spec.default;
      continue;
    }
    const n = typeof raw === 'string' ? Number(raw) : spec.default;
    if (!Number.isFinite(n) || n < 0 || (n === 0 && !spec.zero) || (!spec.float && !Number.isInteger(n))) {
      const what = `${spec.zero ? 'non-negative' : 'positive'} ${spec.float ? 'number' : 'integer'}`;
      process.stderr.write(`--${name} must be a ${what}, not ${JSON.stringify(raw)}\n`);
      process.exit(2);
    }
    out[name] = n;
  }
  return out;
}

function help(usage: string, specs: Record<string, OptionSpec>): string {
  const lines = Object.entries(specs).map(([name, s]) => `  --${name.padEnd(18)} ${s.help} (default: ${s.default})`);
  return `${usage}\n\nOptions:\n${lines.join('\n')}\n  --help               this text\n`;
}

/** The command line as typed, for the report. */
export function commandLine(): string {
  const script = process.argv[1] ?? '';
  const rel = script.startsWith(process.cwd() + '/') ? script.slice(process.cwd().length + 1) : script;
  return ['node_modules/.bin/node', rel, ...process.argv.slice(2)].join(' ');
}
