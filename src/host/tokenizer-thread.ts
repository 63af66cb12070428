/**
 * The extension host's side of the tokenizer thread (tokenizer-worker.ts): loads a tokenizer.json there, with
 * progress, and tokenizes texts there, so reading, parsing and building a tokenizer of tens of MB never blocks
 * the extension host. One worker serves every model; it keeps built tokenizers by the file's hash. Node only.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { TokenizerKind } from '../shared/token-ranges';
import { TokenizeError, type TokenizedText } from './tokenize';

/** What the tokenizer thread is asked to do. */
export type TokenizerRequest =
  | { readonly id: number; readonly type: 'load'; readonly file: string; readonly config: object }
  | { readonly id: number; readonly type: 'tokenize'; readonly key: string; readonly text: string; readonly maxTokens: number }
  | { readonly id: number; readonly type: 'decode'; readonly key: string; readonly prefix: readonly number[]; readonly ids: readonly number[] };

/** The facts of a loaded tokenizer the host needs. */
export interface TokenizerSummary {
  readonly kind: TokenizerKind;
  readonly modelType: string;
  /** The largest id it can produce. */
  readonly maxId: number;
}

/** What the tokenizer thread answers. */
export type TokenizerReply =
  | { readonly id: number; readonly type: 'progress'; readonly message: string }
  | { readonly id: number; readonly type: 'loaded'; readonly key: string; readonly sha256: string; readonly reused: boolean; readonly facts: TokenizerSummary }
  | { readonly id: number; readonly type: 'tokenized'; readonly result: TokenizedText }
  | { readonly id: number; readonly type: 'decoded'; readonly text: string }
  | { readonly id: number; readonly type: 'error'; readonly kind: 'json' | 'unsupported' | 'tokenize' | 'gone' | 'other'; readonly message: string };

/** A tokenizer that lives on the tokenizer thread. */
export interface ThreadTokenizer {
  /** SHA-256 of the tokenizer.json it was built from. */
  readonly sha256: string;
  /** True when a tokenizer built from a file with the same hash (and tokenizer_config.json) was reused. */
  readonly reused: boolean;
  readonly facts: TokenizerSummary;
  /** tokenizeWithLimit (tokenize.ts) on the tokenizer thread; rejects with TokenizeError as it throws. */
  tokenize(text: string, maxTokens: number): Promise<TokenizedText>;
  /** The text `ids` add after `prefix` (decodeContinuation in tokenize.ts), on the tokenizer thread. */
  decodeAfter(prefix: readonly number[], ids: readonly number[]): Promise<string>;
}

/** A failure to load: the file is not JSON, its tokenizer is not supported, or anything else, with the library's message. */
export class TokenizerLoadError extends Error {
  constructor(readonly kind: 'json' | 'unsupported' | 'other', message: string) {
    super(message);
  }
}

let worker: Worker | undefined;
let nextId = 1;
const pending = new Map<number, { resolve: (r: TokenizerReply) => void; reject: (e: Error) => void; progress?: (m: string) => void }>();

/** dist/tokenizer-worker.js: beside this bundle (dist/extension.js), or in the repository's dist/ for the test bundles. */
export function tokenizerWorkerPath(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    for (const p of [path.join(dir, 'tokenizer-worker.js'), path.join(dir, 'dist', 'tokenizer-worker.js')]) if (fs.existsSync(p)) return p;
    if (path.dirname(dir) === dir) throw new Error(`dist/tokenizer-worker.js was not found from ${__dirname}: build first (npm run build)`);
  }
}

function thread(): Worker {
  if (worker) return worker;
  const w = new Worker(tokenizerWorkerPath());
  w.on('message', (reply: TokenizerReply) => {
    const p = pending.get(reply.id);
    if (!p) return;
    if (reply.type === 'progress') { p.progress?.(reply.message); return; }
    pending.delete(reply.id);
    if (pending.size === 0) w.unref();
    p.resolve(reply);
  });
  const fail = (e: Error) => {
    if (worker === w) worker = undefined;
    for (const p of pending.values()) p.reject(new Error(`The tokenizer thread stopped: ${e.message}`));
    pending.clear();
  };
  w.on('error', fail);
  w.on('exit', (code) => fail(new Error(`exit code ${code}`)));
  w.unref(); // after the listeners, which ref it again: an idle tokenizer thread never keeps the process alive
  worker = w;
  return w;
}

/** A request before it is given its id. */
type Unnumbered<T> = T extends unknown ? Omit<T, 'id'> : never;

function ask(request: Unnumbered<TokenizerRequest>, progress?: (m: string) => void): Promise<TokenizerReply> {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    const w = thread();
    w.ref(); // while an answer is awaited
    pending.set(id, { resolve, reject, progress });
    w.postMessage({ ...request, id });
  });
}

/** Loads (or finds, by the file's hash) the tokenizer of `file` on the tokenizer thread; rejects with TokenizerLoadError. */
export async function loadTokenizer(file: string, config: object = {}, progress?: (message: string) => void): Promise<ThreadTokenizer> {
  const reply = await ask({ type: 'load', file, config }, progress);
  if (reply.type === 'error') throw new TokenizerLoadError(reply.kind === 'json' || reply.kind === 'unsupported' ? reply.kind : 'other', reply.message);
  if (reply.type !== 'loaded') throw new Error(`unexpected reply ${reply.type} from the tokenizer thread`);
  const { sha256, facts, reused } = reply;
  let key = reply.key;
  /** Asks about this tokenizer; one dropped for newer ones is built again (from the file as it is now) and asked again. */
  const askLoaded = async (request: { type: 'tokenize'; text: string; maxTokens: number } | { type: 'decode'; prefix: readonly number[]; ids: readonly number[] }) => {
    let r = await ask({ ...request, key });
    if (r.type === 'error' && r.kind === 'gone') {
      const again = await ask({ type: 'load', file, config });
      if (again.type !== 'loaded') throw new Error(`tokenizer.json could not be loaded again (${again.type === 'error' ? again.message : again.type})`);
      key = again.key;
      r = await ask({ ...request, key });
    }
    return r;
  };
  return {
    sha256,
    reused,
    facts,
    tokenize: async (text, maxTokens) => {
      const r = await askLoaded({ type: 'tokenize', text, maxTokens });
      if (r.type === 'tokenized') return r.result;
      const message = r.type === 'error' ? r.message : `unexpected reply ${r.type}`;
      throw r.type === 'error' && r.kind === 'tokenize' ? new TokenizeError(message) : new Error(message);
    },
    decodeAfter: async (prefix, ids) => {
      const r = await askLoaded({ type: 'decode', prefix, ids });
      if (r.type === 'decoded') return r.text;
      throw new Error(r.type === 'error' ? r.message : `unexpected reply ${r.type}`);
    },
  };
}

/** Stops the tokenizer thread (tests, extension deactivation); the next load starts a new one. */
export async function stopTokenizerThread(): Promise<void> {
  const w = worker;
  worker = undefined;
  if (w) await w.terminate();
}
