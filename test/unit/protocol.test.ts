import assert from 'node:assert/strict';
import { MessageChannel } from 'node:worker_threads';
import {
  assertNever, COMPARE_TO_HOST_TYPES, HOST_TO_COMPARE_TYPES, HOST_TO_PANEL_TYPES, headLabel, isMessage, messageTypes, packAttention,
  PANEL_TO_HOST_TYPES, unpackAttention, type AttentionTensor, type CompareToHost, type HostToCompare, type HostToPanel,
  type MessageTypeSet, type PanelToHost,
} from '../../src/shared/protocol';

/** Receives one message on a fresh channel, transferring the listed buffers. */
function roundTrip<T>(msg: T, transfer: ArrayBuffer[]): Promise<T> {
  const { port1, port2 } = new MessageChannel();
  return new Promise((resolve) => {
    port2.once('message', (m) => { port1.close(); port2.close(); resolve(m as T); });
    port1.postMessage(msg, transfer);
  });
}

describe('message protocol', () => {
  it('sends attention as a transferred ArrayBuffer, not a JSON array', async () => {
    const data = Float32Array.from({ length: 2 * 3 * 4 * 4 }, (_, i) => i / 100);
    const expected = Array.from(data);
    const tensor = packAttention(data, 2, 3, 4, false);
    const msg: PanelToHost = { type: 'result', runId: 7, backendUsed: 'wasm', attention: tensor, timings: {} };
    const got = await roundTrip(msg, [tensor.data]);
    assert.equal(tensor.data.byteLength, 0, 'the sender\'s buffer was transferred (detached), not copied');
    assert.ok(got.type === 'result');
    const view = unpackAttention(got.attention);
    assert.deepEqual(Array.from(view), expected);
  });

  it('packs a sub-view into its own buffer so unrelated bytes are not sent', () => {
    const big = new Float32Array(100);
    const view = big.subarray(10, 26);
    const t = packAttention(view, 1, 1, 4, true);
    assert.equal(t.data.byteLength, 16 * 4);
  });

  it('rejects attention whose size does not match its shape', () => {
    assert.throws(() => packAttention(new Float32Array(10), 1, 1, 4, true), /expected 1×1×4×4/);
    const bad: AttentionTensor = { layers: 1, heads: 2, tokens: 3, data: new ArrayBuffer(8), causal: true };
    assert.throws(() => unpackAttention(bad), /expected/);
    assert.throws(() => unpackAttention({ ...bad, tokens: 0 }), /malformed/);
  });

  it('guards untyped messages by tag', () => {
    assert.ok(isMessage<PanelToHost>({ type: 'ready' }, ['ready', 'result']));
    assert.ok(!isMessage<PanelToHost>({ type: 'bogus' }, ['ready', 'result']));
    assert.ok(!isMessage<PanelToHost>(null, ['ready']));
    assert.ok(!isMessage<PanelToHost>('ready', ['ready']));
  });

  it('derives each guard\'s list of accepted types from a Record over the union', () => {
    // Compile-time half: a set that leaves out a type of the union, or names one it lacks, does not compile.
    // @ts-expect-error -- 'runError', 'focus', 'pinHead', 'reveal' (and any later type) are missing
    const missing: MessageTypeSet<PanelToHost> = { ready: true, result: true };
    // @ts-expect-error -- 'bogus' is not a CompareToHost type
    const extra: MessageTypeSet<CompareToHost> = { ready: true, focusHead: true, unpin: true, pin: true, bogus: true };
    assert.deepEqual(messageTypes(missing), ['ready', 'result'], 'the list is the set\'s keys');
    assert.equal(messageTypes(extra).length, 5);
    // Runtime half: the exported lists hold exactly the unions' types, once each, and the guards accept them.
    const sorted = (l: readonly string[]) => [...l].sort();
    assert.deepEqual(sorted(PANEL_TO_HOST_TYPES), ['focus', 'pinHead', 'probe', 'ready', 'result', 'reveal', 'runError', 'selectModel']);
    assert.deepEqual(sorted(HOST_TO_PANEL_TYPES), ['editorHover', 'error', 'focusHead', 'show', 'stale']);
    assert.deepEqual(sorted(COMPARE_TO_HOST_TYPES), ['focusHead', 'pin', 'ready', 'unpin']);
    assert.deepEqual(sorted(HOST_TO_COMPARE_TYPES), ['clear', 'compare']);
    for (const t of PANEL_TO_HOST_TYPES) assert.ok(isMessage<PanelToHost>({ type: t }, PANEL_TO_HOST_TYPES), t);
    for (const t of HOST_TO_PANEL_TYPES) assert.ok(isMessage<HostToPanel>({ type: t }, HOST_TO_PANEL_TYPES), t);
    for (const t of HOST_TO_COMPARE_TYPES) assert.ok(isMessage<HostToCompare>({ type: t }, HOST_TO_COMPARE_TYPES), t);
    for (const t of ['bogus', 'toString', '__proto__', 'constructor']) {
      assert.ok(!isMessage<PanelToHost>({ type: t }, PANEL_TO_HOST_TYPES), `${t} is refused`);
    }
    assert.ok(Object.isFrozen(PANEL_TO_HOST_TYPES), 'a receiver cannot widen the shared list');
  });

  it('fails loudly on a message no case handles', () => {
    assert.throws(() => assertNever({ type: 'new' } as never), /Unhandled message: {"type":"new"}/);
  });

  it('labels heads', () => {
    assert.equal(headLabel({ stack: 'self', layer: 2, head: 3 }), 'L2 H3');
    assert.equal(headLabel({ stack: 'cross', layer: 0, head: 'mean' }), 'cross L0 mean');
  });
});
