/**
 * The one check for the file names an ONNX graph gives its external data (TensorProto.external_data
 * `location`): they must be plain relative names inside the model's folder on every platform, whatever the
 * platform that reads them. The download (host/hub.ts) checks them before it fetches anything, and the
 * loader may call the same function before it opens one. Pure: no `node:path` (the webview imports shared code).
 */

/** Device names Windows reserves in every folder, with or without an extension (`NUL`, `con.txt`, `COM1.bin`). */
const WINDOWS_RESERVED = /^(?:con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])(?:\..*)?$/i;

/**
 * Why `name` is not a plain relative file name, or undefined when it is one: forward-slash separated
 * segments, none empty, `.` or `..`; no backslash (a separator on Windows: `..\..\x` would climb out of the
 * folder there), no `:` (drive letters, NTFS streams), no leading `/` (absolute), no control characters,
 * none of `<>"|?*`, no segment ending in a dot or a space (Windows drops those, so `.. ` would become `..`),
 * and no Windows device name.
 */
export function externalDataNameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string' || name.length === 0) return 'it is empty';
  if (name.length > 1024) return 'it is too long';
  if ([...name].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)) return 'it contains a control character';
  if (name.includes('\\')) return 'it contains a backslash';
  if (name.includes(':')) return 'it contains a colon (a drive or a stream)';
  if (/[<>"|?*]/.test(name)) return 'it contains a wildcard or another character Windows does not allow in file names';
  if (name.startsWith('/')) return 'it is an absolute path';
  for (const seg of name.split('/')) {
    if (seg === '') return 'it has an empty path segment';
    if (seg === '.' || seg === '..') return `it has a "${seg}" segment`;
    if (/[. ]$/.test(seg)) return 'a segment ends in a dot or a space';
    if (WINDOWS_RESERVED.test(seg)) return `"${seg}" is a device name on Windows`;
  }
  return undefined;
}

/** True when `name` is a plain relative file name (externalDataNameProblem finds nothing). */
export function isPlainRelativeName(name: unknown): name is string {
  return externalDataNameProblem(name) === undefined;
}
