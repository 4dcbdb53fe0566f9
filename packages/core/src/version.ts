import { readFileSync } from 'node:fs';
import { join } from 'node:path';

// Read at run time from the package's own manifest, so the version a plugin's `core`
// range is checked against can never drift from what npm installed.
export const CORE_VERSION: string = JSON.parse(
  readFileSync(join(__dirname, '..', 'package.json'), 'utf8'),
).version;
