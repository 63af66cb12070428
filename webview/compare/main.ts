/**
 * The compare side view: posts `ready`, renders pinned heads side by side on 'compare', shows the reason
 * on 'clear', and re-renders when the theme or the width changes.
 */
import { provideVSCodeDesignSystem, vsCodeButton, vsCodeDropdown, vsCodeOption } from '@vscode/webview-ui-toolkit';
import { assertNever, HOST_TO_COMPARE_TYPES, isMessage, type CompareToHost, type HostToCompare } from '../../src/shared/protocol';
import { readTheme, watchTheme } from '../common/theme';
import { vscodeApi } from '../common/vscode-api';
import { renderCompare, type CompareData } from './render';

provideVSCodeDesignSystem().register(vsCodeButton(), vsCodeDropdown(), vsCodeOption());

const vscode = vscodeApi();
const post = (m: CompareToHost): void => vscode.postMessage(m);
let data: CompareData | undefined;

const tip = document.createElement('div');
tip.id = 'compare-tip';
tip.className = 'tip';
tip.setAttribute('role', 'tooltip');
// Read out as the keyboard cursor moves over a thumbnail.
tip.setAttribute('aria-live', 'polite');
tip.hidden = true;
document.body.append(tip);

function render(): void {
  if (!data) return;
  renderCompare(data, readTheme(), {
    focus: (head) => post({ type: 'focusHead', head }),
    unpin: (head) => post({ type: 'unpin', head }),
    pin: (head) => post({ type: 'pin', head }),
    redraw: render,
  });
}

function clear(reason: string): void {
  data = undefined;
  document.getElementById('compare-status')!.textContent = reason;
  document.getElementById('pinned')!.replaceChildren();
  document.getElementById('difference')!.hidden = true;
  document.getElementById('divergence')!.hidden = true;
  document.body.classList.remove('has-data');
}

window.addEventListener('message', (ev: MessageEvent) => {
  const msg: unknown = ev.data;
  if (!isMessage<HostToCompare>(msg, HOST_TO_COMPARE_TYPES)) return;
  switch (msg.type) {
    case 'compare': {
      const T = msg.tokens.length;
      const stack = new Float32Array(msg.matrices);
      if (stack.length !== msg.pinned.length * T * T) {
        clear(`Cannot compare: expected ${msg.pinned.length} × ${T} × ${T} values, got ${stack.length}.`);
        break;
      }
      data = { tokens: msg.tokens, pinned: msg.pinned, stack, related: msg.related };
      document.body.classList.add('has-data');
      render();
      break;
    }
    case 'clear':
      clear(msg.reason);
      break;
    default:
      assertNever(msg);
  }
});

watchTheme(render);
let lastWidth = 0;
new ResizeObserver(() => {
  const w = document.body.clientWidth;
  if (Math.abs(w - lastWidth) > 8) {
    lastWidth = w;
    render();
  }
}).observe(document.body);

post({ type: 'ready' });
