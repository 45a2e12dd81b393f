import { accessSync, constants } from 'node:fs';

/** A program from the system's packages that a test drives (Chromium, nginx), found or not. */
export interface SystemTool {
  /** where it is looked for: `TESSERA_<NAME>_PATH` when set, else the default path */
  path: string;
  /** whether the file exists and is executable */
  available: boolean;
}

/** Whether tests needing system software must run (CI): set by `.ci/run`. */
export const REQUIRE_SYSTEM_TESTS = process.env.TESSERA_REQUIRE_SYSTEM_TESTS === '1';

/**
 * Looks for a program a test needs that a fresh machine (Node and Redis only) lacks. When it is there:
 * `available`. When it is missing, the caller skips (`describe.skipIf(!tool.available)`) and one line is
 * printed naming the install command; with `TESSERA_REQUIRE_SYSTEM_TESTS=1` it throws instead, so the
 * test file fails. `TESSERA_<NAME>_PATH` (e.g. `TESSERA_CHROMIUM_PATH`) points the test elsewhere.
 *
 * @param name e.g. `chromium`
 * @param defaultPath e.g. `/usr/bin/chromium`
 * @param install e.g. `apt-get install chromium`
 */
export function systemTool(name: string, defaultPath: string, install: string): SystemTool {
  const path = process.env[`TESSERA_${name.toUpperCase().replace(/\W/g, '_')}_PATH`] || defaultPath;
  let available = true;
  try {
    accessSync(path, constants.X_OK);
  } catch {
    available = false;
  }
  if (!available) {
    if (REQUIRE_SYSTEM_TESTS) {
      throw new Error(`${path} is missing and TESSERA_REQUIRE_SYSTEM_TESTS=1 requires the tests that need ${name}; install it with: ${install}`);
    }
    process.stderr.write(`SKIP ${path} is missing: tests that need ${name} are skipped; install it with: ${install}\n`);
  }
  return { path, available };
}
