import { runCli } from './cli/run.js';

/** The ops CLI (README "Ops CLI"): `npm run cli -- keys list|rotate [--force]|revoke <kid>`, `clients create|list|delete`. */
process.exitCode = await runCli(process.argv.slice(2), {
  env: process.env,
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
});
