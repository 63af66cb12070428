/** The webview side of the VS Code API (acquireVsCodeApi), typed, acquired once per document. */

/** What acquireVsCodeApi() returns inside a VS Code webview. */
export interface VsCodeApi {
  postMessage(message: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
}

declare function acquireVsCodeApi(): VsCodeApi;

let api: VsCodeApi | undefined;

/** The VS Code API; outside VS Code (a plain page) a stand-in that logs posts and keeps state in memory. */
export function vscodeApi(): VsCodeApi {
  if (api) return api;
  if (typeof acquireVsCodeApi === 'function') {
    api = acquireVsCodeApi();
  } else {
    let state: unknown;
    api = {
      postMessage: (m) => console.debug('[attention-lens] post', m),
      getState: () => state,
      setState: (s) => { state = s; },
    };
  }
  return api;
}
