import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

/** Scavenges and the bytes they promoted out of the young generation in a node process running `script`. */
async function promotion(script: string): Promise<{ scavenges: number; bytes: number }> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--max-semi-space-size=8', '--trace-gc-nvp', '--input-type=module', '-e', script], {
    maxBuffer: 64 * 2 ** 20,
  });
  const scavenges = [...stdout.matchAll(/ gc=s .*? promoted=(\d+)/g)];
  return { scavenges: scavenges.length, bytes: scavenges.reduce((sum, m) => sum + Number(m[1]), 0) };
}

/**
 * Bytes V8 promotes out of its young generation per call of `call`: two node processes of their own (an
 * 8 MiB semi-space, as the image runs, and `--trace-gc-nvp`, whose scavenge lines count what each
 * promoted), one running `setup` and then `call` `calls` times (`i` is the call's index), one running
 * `setup` and a loop as long that calls nothing; the difference, per call. `setup` is ES module code
 * (top-level await allowed). What a request leaves behind past a scavenge goes to old space and grows the
 * heap until a full GC: a per-request path should promote next to nothing.
 */
export async function promotedBytesPerCall(setup: string, call: string, calls = 40_000): Promise<number> {
  const [measured, baseline] = await Promise.all([
    promotion(`${setup}\nfor (let i = 0; i < ${calls}; i++) { ${call} }`),
    promotion(`${setup}\nlet sink = 0;\nfor (let i = 0; i < ${calls}; i++) { sink += [i, { i }].length; }`),
  ]);
  if (measured.scavenges < 5) throw new Error(`${calls} calls ran ${measured.scavenges} scavenges: too few to count what they promote; make more calls`);
  return (measured.bytes - baseline.bytes) / calls;
}
