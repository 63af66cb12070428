/**
 * Sliding-window attention as config.json declares it (Mistral, Qwen2, Gemma 2/3 and the like), and what it means
 * for the check run that identifies each layer's score form (attention-paths.ts): a window shows in the check's
 * Softmax only when the check is longer than it, so the check is lengthened past small declared windows, and a layer
 * whose declared window the check cannot show, but a run can exceed, is not recomputed. Pure: no `vscode`, no DOM.
 */

/** Per layer (in layer order), the sliding window config.json declares in tokens, or null for full attention. */
export type DeclaredWindows = readonly (number | null)[];

/** The longest check run lengthened to show a declared window (the check holds its Softmax, [L, H, T, T]). */
export const MAX_WINDOW_CHECK_TOKENS = 514;

/**
 * The windows a declared `sliding_window` w may mean in a graph: w keys (transformers' eager and sdpa masks, and the
 * exports made from them), or w + 1 where a kernel counts w keys before the query's own (flash-attention's
 * window_size). A check run shows a window only when it is longer than the window, so it must cover both.
 */
const meanings = (w: number): number[] => [w, w + 1];

const posInt = (v: unknown): number | undefined => (typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : undefined);

/**
 * The sliding window of each layer that a parsed config.json declares, following transformers' configs: `layer_types`
 * ("sliding_attention" / "full_attention") with `sliding_window`; else Qwen2's `use_sliding_window` (false: none;
 * true: layers from `max_window_layers` on); else `sliding_window_pattern` p (Gemma 3, Cohere 2: layer i slides
 * unless (i + 1) % p is 0; Gemma 3 defaults p to 6, Gemma 2 alternates, p = 2); else `sliding_window` on every layer
 * (Mistral, Mixtral, Starcoder2, Phi-3). A multimodal config's `text_config` is read instead when it has the layers.
 * Undefined when it declares no window.
 */
export function declaredWindows(config: unknown): DeclaredWindows | undefined {
  if (typeof config !== 'object' || config === null || Array.isArray(config)) return undefined;
  const top = config as Record<string, unknown>;
  const text = top.text_config;
  const o = typeof text === 'object' && text !== null && !Array.isArray(text) && posInt((text as Record<string, unknown>).num_hidden_layers)
    ? text as Record<string, unknown> : top;
  const window = posInt(o.sliding_window);
  const layers = posInt(o.num_hidden_layers) ?? posInt(o.n_layer) ?? posInt(o.num_layers);
  if (window === undefined || layers === undefined) return undefined;
  const each = (slides: (i: number) => boolean): DeclaredWindows => Array.from({ length: layers }, (_, i) => (slides(i) ? window : null));
  const types: unknown = o.layer_types;
  if (Array.isArray(types) && types.length === layers) return each((i) => types[i] === 'sliding_attention');
  if (typeof o.use_sliding_window === 'boolean') {
    if (!o.use_sliding_window) return undefined;
    const from = typeof o.max_window_layers === 'number' && o.max_window_layers >= 0 ? o.max_window_layers : 0;
    return each((i) => i >= from);
  }
  const type = typeof o.model_type === 'string' ? o.model_type : typeof top.model_type === 'string' ? top.model_type : '';
  const pattern = posInt(o.sliding_window_pattern) ?? (type.startsWith('gemma3') ? 6 : type === 'gemma2' ? 2 : undefined);
  if (pattern !== undefined) return each((i) => (i + 1) % pattern !== 0);
  return each(() => true);
}

/** The declared window of stack layer l of `layers` (when the counts differ, the widest declared, to be safe). */
function windowOf(declared: DeclaredWindows, l: number, layers: number): number | null {
  if (declared.length === layers) return declared[l] ?? null;
  const ws = declared.filter((w): w is number => w !== null);
  return ws.length ? Math.max(...ws) : null;
}

/**
 * How many tokens the check run takes: `base`, or more to show every declared window a run of up to `context`
 * tokens can exceed (w + 2 tokens: either meaning of w), as long as that stays within MAX_WINDOW_CHECK_TOKENS and the
 * context.
 */
export function checkTokens(base: number, context: number, declared?: DeclaredWindows): number {
  let n = base;
  for (const w of declared ?? []) if (w !== null && w < context && w + 2 > n && w + 2 <= MAX_WINDOW_CHECK_TOKENS) n = w + 2;
  return Math.min(n, Math.max(base, context));
}

/**
 * Why stack layer l (of `layers`) cannot be recomputed: config.json declares it a sliding window that a run of up to
 * `context` tokens can exceed but the `tokens`-token check run could not show; undefined when nothing stands in the way.
 */
export function unshownWindow(declared: DeclaredWindows | undefined, l: number, layers: number, tokens: number, context: number): string | undefined {
  const w = declared ? windowOf(declared, l, layers) : null;
  // Unshown: a meaning of w that some run is longer than (it matters) but the check is not (it did not show).
  if (w === null || !meanings(w).some((v) => v < context && tokens <= v)) return undefined;
  return `config.json declares a sliding window of ${w} tokens, which the ${tokens}-token check run cannot show ` +
    `(a check past ${MAX_WINDOW_CHECK_TOKENS} tokens would hold too much), so runs longer than ${w} tokens could not be recomputed with the right mask`;
}
