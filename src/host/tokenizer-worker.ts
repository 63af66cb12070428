/**
 * The tokenizer thread (a Node worker_threads worker, dist/tokenizer-worker.js): reads tokenizer.json with
 * progress, hashes it, builds the tokenizer (JSON parse, vocabulary and merges: seconds for Llama 3 or Gemma 3)
 * and tokenizes texts, so the extension host's thread never waits on any of it. Tokenizers are kept by the
 * file's SHA-256, so the same file in another folder or after a touch is not built again.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { UnsupportedTokenizerError } from '../shared/token-ranges';
import { jsonErrorReason } from './model-files';
import { createTokenizer, decodeContinuation, TokenizeError, tokenizeWithLimit, type HostTokenizer } from './tokenize';
import type { TokenizerReply, TokenizerRequest } from './tokenizer-thread';

/** Files at least this large report their reading progress. */
const PROGRESS_BYTES = 4 * 2 ** 20;
/** Tokenizers kept at once (least recently used dropped first): a big one holds a few hundred MB. */
const KEEP = 3;
const built = new Map<string, HostTokenizer>();

const post = (reply: TokenizerReply) => parentPort!.postMessage(reply);

/** Reads a file in chunks, hashing as it goes, with progress for big files. */
async function readHashed(id: number, file: string): Promise<{ text: Buffer; sha256: string }> {
  const total = (await fs.promises.stat(file)).size;
  const hash = createHash('sha256');
  const chunks: Buffer[] = [];
  let read = 0;
  let reported = 0;
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 2 ** 20 })) {
    const b = chunk as Buffer;
    hash.update(b);
    chunks.push(b);
    read += b.length;
    if (total >= PROGRESS_BYTES && read - reported >= total / 10) {
      reported = read;
      post({ id, type: 'progress', message: `reading tokenizer.json (${Math.round((100 * read) / total)} % of ${(total / 2 ** 20).toFixed(0)} MB)` });
    }
  }
  return { text: Buffer.concat(chunks), sha256: hash.digest('hex') };
}

async function load(id: number, file: string, config: object): Promise<void> {
  const { text, sha256 } = await readHashed(id, file);
  const key = `${sha256}:${JSON.stringify(config)}`;
  let tok = built.get(key);
  const reused = !!tok;
  if (!tok) {
    if (text.length >= PROGRESS_BYTES) post({ id, type: 'progress', message: 'building the tokenizer' });
    let json: unknown;
    try {
      json = JSON.parse(text.toString('utf8'));
    } catch (e) {
      post({ id, type: 'error', kind: 'json', message: jsonErrorReason(e) }); // without quoting the file
      return;
    }
    tok = createTokenizer(json as object, config);
  }
  built.delete(key); // re-inserted last: the most recently used
  built.set(key, tok);
  for (const old of built.keys()) if (built.size > KEEP) built.delete(old);
  const facts = tok.facts!;
  post({ id, type: 'loaded', key, sha256, reused, facts: { kind: facts.kind, modelType: facts.modelType, maxId: facts.maxId } });
}

/** Answers a tokenize or decode request with the tokenizer built under its key ('gone' when it was dropped). */
function use(msg: Extract<TokenizerRequest, { type: 'tokenize' | 'decode' }>): void {
  const tok = built.get(msg.key);
  if (!tok) return post({ id: msg.id, type: 'error', kind: 'gone', message: 'the tokenizer was unloaded; load it again' });
  if (msg.type === 'tokenize') post({ id: msg.id, type: 'tokenized', result: tokenizeWithLimit(tok, msg.text, msg.maxTokens) });
  else post({ id: msg.id, type: 'decoded', text: decodeContinuation(tok, msg.prefix, msg.ids) });
}

parentPort?.on('message', (msg: TokenizerRequest) => {
  void (async () => {
    try {
      if (msg.type === 'load') await load(msg.id, msg.file, msg.config);
      else use(msg);
    } catch (e) {
      const kind = e instanceof UnsupportedTokenizerError ? 'unsupported' : e instanceof TokenizeError ? 'tokenize' : 'other';
      post({ id: msg.id, type: 'error', kind, message: e instanceof Error ? e.message : String(e) });
    }
  })();
});
