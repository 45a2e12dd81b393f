// Preload (node --import) that samples every allocation, including objects the GC already collected,
// and writes a .heapprofile on SIGTERM/SIGINT. bench/run.mjs uses it with BENCH_ALLOC_PROF=1.
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';

const session = new Session();
session.connect();
const post = (method, params) =>
  new Promise((resolve, reject) => session.post(method, params, (error, result) => (error ? reject(error) : resolve(result))));
await post('HeapProfiler.enable');
await post('HeapProfiler.startSampling', { samplingInterval: 32768, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
const dump = async () => {
  const { profile } = await post('HeapProfiler.stopSampling');
  writeFileSync(process.env.ALLOC_PROF_FILE ?? `alloc-${process.pid}.heapprofile`, JSON.stringify(profile));
};
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.prependOnceListener(signal, () => {
    dump().finally(() => process.exit(0));
  });
}
