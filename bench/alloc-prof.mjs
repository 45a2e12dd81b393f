// Preload (node --import) that samples every allocation, including objects the GC already collected,
// and writes a .heapprofile on SIGTERM/SIGINT. bench/run.mjs uses it with BENCH_ALLOC_PROF=1; with
// BENCH_ALLOC_PROF=survivors it leaves out what the young-generation GC collected, so the profile shows what
// outlived a scavenge (objects reachable from old space, or in flight).
// The profile also records how many HTTP requests the process served (`requests`, a field of its own), and
// its GC pauses, so heap-top.mjs can print bytes and GC time per request.
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
import { subscribe } from 'node:diagnostics_channel';
import { PerformanceObserver } from 'node:perf_hooks';

let requests = 0;
subscribe('http.server.request.start', () => {
  requests++;
});
const gc = { scavenges: 0, scavengeMs: 0, markCompacts: 0, markCompactMs: 0 };
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    if (entry.detail?.kind === 1) {
      gc.scavenges++;
      gc.scavengeMs += entry.duration;
    } else {
      gc.markCompacts++;
      gc.markCompactMs += entry.duration;
    }
  }
}).observe({ entryTypes: ['gc'] });

const session = new Session();
session.connect();
const post = (method, params) =>
  new Promise((resolve, reject) => session.post(method, params, (error, result) => (error ? reject(error) : resolve(result))));
await post('HeapProfiler.enable');
await post('HeapProfiler.startSampling', { samplingInterval: 32768, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: process.env.BENCH_ALLOC_PROF !== 'survivors' });
const dump = async () => {
  const { profile } = await post('HeapProfiler.stopSampling');
  writeFileSync(process.env.ALLOC_PROF_FILE ?? `alloc-${process.pid}.heapprofile`, JSON.stringify({ ...profile, requests, gc }));
};
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.prependOnceListener(signal, () => {
    dump().finally(() => process.exit(0));
  });
}
