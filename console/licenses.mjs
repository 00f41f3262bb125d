// Writes dist/THIRD_PARTY_LICENSES.txt: the license text of every package
// bundled into dist/console.js (all locked packages but the build tools).
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const BUILD_ONLY = /^(esbuild|@esbuild\/)/;
const lock = JSON.parse(readFileSync('package-lock.json', 'utf8'));
const out = ['Fletch web console: third-party software bundled into console.js and console.css.\n'];
for (const [path, meta] of Object.entries(lock.packages).sort()) {
  if (!path.startsWith('node_modules/')) continue;
  const name = path.slice('node_modules/'.length);
  if (BUILD_ONLY.test(name)) continue;
  const file = readdirSync(path).find((f) => /^(licen[cs]e|copying)/i.test(f));
  const text = file ? readFileSync(join(path, file), 'utf8').trim() : `License: ${meta.license}`;
  out.push(`==== ${name} ${meta.version} (${meta.license})\n\n${text}\n`);
}
writeFileSync('dist/THIRD_PARTY_LICENSES.txt', out.join('\n'));
