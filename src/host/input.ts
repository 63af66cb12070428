/**
 * Pure checks and wording for the text a Show Attention run starts from: which documents we refuse,
 * binary-looking text, whitespace-only text, and the notice shown when a selection is cut to the model's
 * context. Imports neither `vscode` nor the DOM, so unit tests run it in plain Node.
 */

/** URI schemes that are not text the user wrote (output channels, debug views, VS Code internals). */
const REFUSED_SCHEMES = new Set(['output', 'debug']);
/** `vscode-*` schemes that are still ordinary text documents (settings files, notebook cells, remote files). */
const ALLOWED_VSCODE_SCHEMES = new Set(['vscode-userdata', 'vscode-notebook-cell', 'vscode-remote', 'vscode-vfs']);

/** Why a document with this URI scheme is refused, or undefined when Attention Lens can run on it. */
export function refusalForScheme(scheme: string): string | undefined {
  const refused = REFUSED_SCHEMES.has(scheme) || (scheme.startsWith('vscode-') && !ALLOWED_VSCODE_SCHEMES.has(scheme));
  if (!refused) return undefined;
  return `Attention Lens works on text editors, not on "${scheme}" views. Open a file or an untitled editor, ` +
    'select some text and run "Attention Lens: Show Attention" again.';
}

/** How many characters `looksBinary` inspects; a prefix is enough to tell text from binary. */
export const BINARY_SCAN_CHARS = 64 * 1024;

/** True when text looks binary: it contains NUL, or more than 10% control characters other than \t \r \n. */
export function looksBinary(text: string): boolean {
  const n = Math.min(text.length, BINARY_SCAN_CHARS);
  if (n === 0) return false;
  let control = 0;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0) return true;
    if ((c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || c === 0x7f) control++;
  }
  return control / n > 0.1;
}

/** True when the text is empty or only whitespace. */
export function isBlank(text: string): boolean {
  return text.trim().length === 0;
}

/** "50,000": integers with thousands separators, independent of the machine's locale. */
export function formatCount(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** What a truncation kept, for the notice. Lines are 1-based document lines. */
export interface TruncationFacts {
  readonly keptTokens: number;
  readonly keptChars: number;
  readonly totalChars: number;
  readonly firstLine: number;
  readonly lastLine: number;
}

/** "Showing the first 128 tokens: 412 of 50,000 characters, lines 1–5." */
export function truncationNotice(f: TruncationFacts): string {
  const lines = f.firstLine === f.lastLine ? `line ${f.firstLine}` : `lines ${f.firstLine}–${f.lastLine}`;
  return `Showing the first ${formatCount(f.keptTokens)} tokens: ${formatCount(f.keptChars)} of ` +
    `${formatCount(f.totalChars)} characters, ${lines}.`;
}

/**
 * Most tokens in one run, whatever config.json claims as context. Past a few hundred tokens the worker keeps each
 * layer's Q and K (T × d) and recomputes attention on demand (attentionLens.recomputeAttention), so memory grows
 * with T·d per layer, not T² per head; what still grows as T² is the model's own computation of one layer's
 * attention inside onnxruntime (16 heads at 8 192 tokens: 4 GiB per intermediate tensor), which bounds this.
 */
export const MAX_RUN_TOKENS = 8192;

/**
 * Most characters of a selection read for one run (64 Ki): MAX_RUN_TOKENS tokens at 8 characters a token, so
 * real text nearly always reaches the token limit first and is tokenized in one pass (tokenize.ts starts with that
 * prefix). It also stays under the ~125,000 characters at which the tokenizer library exhausts the stack on
 * one long run of characters it cannot split (a Unigram tokenizer on 'Ω' × 125,000).
 */
export const MAX_SELECTION_CHARS = 64 * 1024;

/** The tokens a run may use: the `attentionLens.maxTokens` setting (0 = the model's context), never above the context or MAX_RUN_TOKENS. */
export function effectiveMaxTokens(setting: unknown, context: number): number {
  return runTokenLimit(setting, context).maxTokens;
}

/** effectiveMaxTokens, and whether MAX_RUN_TOKENS is what limits it (the setting and the context both allow more). */
export function runTokenLimit(setting: unknown, context: number): { maxTokens: number; byCap: boolean } {
  const n = typeof setting === 'number' && Number.isFinite(setting) ? Math.floor(setting) : 0;
  const asked = n <= 0 ? context : Math.min(n, context);
  return asked > MAX_RUN_TOKENS ? { maxTokens: MAX_RUN_TOKENS, byCap: true } : { maxTokens: asked, byCap: false };
}

/** Said after a truncation notice when MAX_RUN_TOKENS cut the text (runTokenLimit's byCap). */
export function tokenCapNotice(): string {
  return `Attention Lens analyses at most ${formatCount(MAX_RUN_TOKENS)} tokens per run, whatever the model's context; ` +
    '"attentionLens.maxTokens" can lower that. Select less text to see the rest.';
}

/**
 * The part of a selection one run reads: all of it, or its first MAX_SELECTION_CHARS characters (a surrogate
 * pair is never split), with `clipped` set.
 */
export function clipSelection(text: string, max = MAX_SELECTION_CHARS): { text: string; clipped: boolean } {
  if (text.length <= max) return { text, clipped: false };
  let end = max;
  const c = text.charCodeAt(end - 1);
  if (c >= 0xd800 && c <= 0xdbff) end--;
  return { text: text.slice(0, end), clipped: true };
}

/** The notice when a selection was clipped to MAX_SELECTION_CHARS but the tokens that fit did not cut it further. */
export function selectionCapNotice(keptChars: number, totalChars: number): string {
  return `Showing the first ${formatCount(keptChars)} of ${formatCount(totalChars)} characters: Attention Lens reads at most ` +
    `${formatCount(MAX_SELECTION_CHARS)} characters of a selection per run. Select less text to see the rest.`;
}

/** A short label for a document in the panel title, e.g. "notes.md" or "Untitled-1". */
export function documentLabel(path: string): string {
  const parts = path.split(/[\\/]/).filter((p) => p.length > 0);
  return parts.length ? parts[parts.length - 1] : path;
}

/** FNV-1a hash of a string, as 8 hex digits: a cheap fingerprint to tell if restored text is unchanged. */
export function fingerprint(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}
