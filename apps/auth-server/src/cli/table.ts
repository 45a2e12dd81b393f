/** Renders rows as a plain-text table with a header line; `-` stands for an empty cell. */
export function table(columns: [header: string, value: (row: Record<string, unknown>) => unknown][], rows: Record<string, unknown>[]): string {
  const cells = rows.map((row) => columns.map(([, value]) => format(value(row))));
  const widths = columns.map(([header], i) => Math.max(header.length, ...cells.map((c) => c[i]!.length)));
  const line = (values: string[]) => values.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(columns.map(([header]) => header)), ...cells.map(line)].join('\n') + '\n';
}

/** Renders one record as aligned `name: value` lines. */
export function record(fields: [name: string, value: unknown][]): string {
  const width = Math.max(...fields.map(([name]) => name.length));
  return fields.map(([name, value]) => `${`${name}:`.padEnd(width + 1)} ${format(value)}`).join('\n') + '\n';
}

function format(value: unknown): string {
  if (value === undefined || value === null || value === '') return '-';
  if (Array.isArray(value)) return value.length ? value.join(',') : '-';
  return String(value);
}
