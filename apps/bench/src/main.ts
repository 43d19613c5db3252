import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Report, type Section } from './report.js';

// Each section is a file in sections/ whose default export is a Section; `pnpm bench redis`
// runs one, `pnpm bench` runs them all in name order.
const dir = path.join(path.dirname(path.resolve(process.argv[1]!)), 'sections');
const sections: Record<string, () => Promise<{ default: Section }>> = Object.fromEntries(
  fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.js'))
    .sort()
    .map((f) => [f.slice(0, -3), () => import(pathToFileURL(path.join(dir, f)).href)]),
);

async function main(): Promise<void> {
  const only = process.argv.slice(2);
  const names = only.length ? only : Object.keys(sections);
  const report = new Report();
  for (const name of names) {
    const load = sections[name];
    if (!load)
      throw new Error(
        `Unknown benchmark section "${name}"; known: ${Object.keys(sections).join(', ')}`,
      );
    console.log(`\n== ${name} ==`);
    await (await load()).default(report);
  }
  report.print();
  const out = path.resolve(
    process.cwd(),
    'results',
    `bench-${names.length === Object.keys(sections).length ? 'all' : names.join('-')}.json`,
  );
  report.write(out);
  console.log(`\nwrote ${out}`);
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
