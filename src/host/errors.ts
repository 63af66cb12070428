/** Error text helpers for user-facing messages. Pure: no `vscode`. */

/** The message of any thrown value. */
export function errorText(e: unknown): string {
  if (e instanceof Error) return e.message;
  return typeof e === 'string' ? e : JSON.stringify(e);
}

/** The text with a final full stop, so messages can be joined into sentences. */
export function sentence(text: string): string {
  const t = text.trim();
  return /[.!?)]$/.test(t) ? t : `${t}.`;
}
