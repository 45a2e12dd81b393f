// Prints the top allocation sites (self size) of a .heapprofile. Usage: node bench/heap-top.mjs <file> [rows]
import { readFileSync } from 'node:fs';

const [file, rowsArg] = process.argv.slice(2);
const { head, requests, gc } = JSON.parse(readFileSync(file, 'utf8'));
const sites = new Map();
let total = 0;
const walk = (node) => {
  const cf = node.callFrame;
  const key = `${cf.functionName || '(anonymous)'} ${cf.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/(apps|packages)\//, '$1/')}:${cf.lineNumber + 1}`;
  sites.set(key, (sites.get(key) ?? 0) + node.selfSize);
  total += node.selfSize;
  for (const child of node.children) walk(child);
};
walk(head);
console.log(`total sampled ${(total / 2 ** 20).toFixed(0)} MiB`);
if (requests) {
  const perRequest = (ms) => `${((ms * 1000) / requests).toFixed(0)} µs/request`;
  console.log(`${requests} requests: ${(total / requests / 1024).toFixed(1)} KiB allocated per request`);
  if (gc) console.log(`GC pauses: ${gc.scavenges} scavenges (${perRequest(gc.scavengeMs)}), ${gc.markCompacts} mark-compacts (${perRequest(gc.markCompactMs)})`);
}
for (const [k, v] of [...sites].sort((a, b) => b[1] - a[1]).slice(0, Number(rowsArg ?? 30))) console.log(`${((100 * v) / total).toFixed(1).padStart(5)}%  ${k}`);
