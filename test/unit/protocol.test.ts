import assert from 'node:assert/strict';
import {
  assertNever, COMPARE_TO_HOST_TYPES, HOST_TO_COMPARE_TYPES, HOST_TO_PANEL_TYPES, headLabel, isMessage, messageTypes,
  PANEL_TO_HOST_TYPES, type CompareToHost, type HostToCompare, type HostToPanel,
  type MessageTypeSet, type PanelToHost,
} from '../../src/shared/protocol';

describe('message protocol', () => {
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
    assert.deepEqual(sorted(PANEL_TO_HOST_TYPES), ['answer', 'compared', 'exportData', 'exportView', 'focus', 'insertGenerated', 'pinHead', 'probe', 'ready', 'result', 'reveal', 'revealWindow', 'runError', 'saveImage', 'selectModel']);
    assert.deepEqual(sorted(HOST_TO_PANEL_TYPES), ['compareText', 'editorHover', 'error', 'exportView', 'focusHead', 'headAggregate', 'prepare', 'query', 'refusal', 'show', 'showView', 'stale']);
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
