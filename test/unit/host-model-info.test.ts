import assert from 'node:assert/strict';
import path from 'node:path';
import { loadModelFolder } from '../../src/host/model-folder';
import { bundledModelDir } from '../support/model';
import { testModelsDir } from '../support/test-models';
import { installVscodeStub } from './host-vscode-stub';

// run-input.ts imports `vscode` (through notify.ts): the stub must be installed before it loads, hence require().
installVscodeStub();
const { modelInfo } = require('../../src/host/run-input') as typeof import('../../src/host/run-input');

describe('the model facts the host sends the panel (run-input.ts modelInfo)', () => {
  it('carries config.json\'s sliding windows per layer to the worker (tiny-window), and none for a model without', async () => {
    const uri = (f: string) => `webview:${f}`;
    const windowed = modelInfo(await loadModelFolder(path.join(testModelsDir, 'tiny-window'), { bundled: false }), 128, uri, undefined);
    assert.deepEqual(windowed.slidingWindows, [8, null, 8]);
    assert.equal(windowed.context, 128);
    const plain = modelInfo(await loadModelFolder(bundledModelDir, { bundled: true }), 128, uri, undefined);
    assert.equal('slidingWindows' in plain, false);
  });

  it('carries config.json\'s relative_attention_max_distance to the worker (tiny-t5: 128), and none for a model without a relative position bias', async () => {
    const uri = (f: string) => `webview:${f}`;
    const t5 = modelInfo(await loadModelFolder(path.join(testModelsDir, 'tiny-t5'), { bundled: false }), 128, uri, undefined);
    assert.equal(t5.relativeMaxDistance, 128);
    const plain = modelInfo(await loadModelFolder(bundledModelDir, { bundled: true }), 128, uri, undefined);
    assert.equal('relativeMaxDistance' in plain, false);
    const { relativeMaxDistanceOf } = require('../../src/shared/relative-bias') as typeof import('../../src/shared/relative-bias');
    assert.equal(relativeMaxDistanceOf({ model_type: 't5', relative_attention_max_distance: 64 }), 64);
    assert.equal(relativeMaxDistanceOf({ model_type: 'mt5' }), 128, 'transformers\' default when a T5 config does not say');
    assert.equal(relativeMaxDistanceOf({ model_type: 'bloom' }), undefined);
  });
});
