import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildModel } from '../support/onnx-builder';
import { testModelsDir } from '../support/test-models';
import { repoRoot } from '../support/model';
import { installVscodeStub, Uri, type VscodeStub } from './host-vscode-stub';

// add-model.ts imports `vscode`: the stub is installed first, then the module is required.
const stub: VscodeStub = installVscodeStub();
const { addModelCommand } = require('../../src/host/add-model') as typeof import('../../src/host/add-model');
const { Notifier } = require('../../src/host/notify') as typeof import('../../src/host/notify');
const { ModelSettings, selectModel } = require('../../src/host/models') as typeof import('../../src/host/models');

describe('Attention Lens: Add Model… (stubbed VS Code)', () => {
  let settings: Record<string, unknown>;
  let dialogs: number;
  beforeEach(() => {
    settings = { models: ['/already/there'] };
    dialogs = 0;
    const ws = stub.module.workspace as Record<string, unknown>;
    ws.getConfiguration = () => ({
      get: (k: string) => settings[k],
      update: async (k: string, v: unknown) => { settings[k] = v; },
      inspect: (k: string) => ({ globalValue: settings[k] }),
    });
    (stub.module.window as Record<string, unknown>).showOpenDialog = async () => { dialogs++; return undefined; };
  });

  it('inspects the picked folder, reports what it found and adds it to attentionLens.models', async () => {
    const notifier = new Notifier();
    const dir = path.join(testModelsDir, 'tiny-bert');
    const report = await addModelCommand(notifier, dir);
    assert.equal(report?.architecture, 'BertModel');
    assert.deepEqual(settings.models, ['/already/there', dir]);
    const info = notifier.messages().at(-1)!;
    assert.equal(info.kind, 'info');
    assert.match(info.text, /Added: "tiny-bert"\. BertModel: 2 layers, 4 heads, bidirectional attention .*feeds input_ids, attention_mask, token_type_ids/);
    await addModelCommand(notifier, dir);
    assert.deepEqual(settings.models, ['/already/there', dir], 'not listed twice');
    assert.match(notifier.messages().at(-1)!.text, /^Already listed/);
  });

  it('adds a folder whose graph fixes no layer order, with a warning that names the tensors', async () => {
    const notifier = new Notifier();
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'al-add-'));
    try {
      for (const f of ['config.json', 'tokenizer.json']) fs.copyFileSync(path.join(testModelsDir, 'tiny-bert', f), path.join(tmp, f));
      fs.mkdirSync(path.join(tmp, 'onnx'));
      fs.writeFileSync(path.join(tmp, 'onnx', 'model.onnx'), buildModel([
        { op: 'Softmax', inputs: ['input_ids'], outputs: ['left'] }, { op: 'Softmax', inputs: ['input_ids'], outputs: ['right'] },
        { op: 'Add', inputs: ['left', 'right'], outputs: ['y'] }], ['input_ids'], ['y']));
      await addModelCommand(notifier, tmp);
      assert.deepEqual(settings.models, ['/already/there', tmp], 'added: the model runs, only its layer order is unsure');
      const [info, warning] = notifier.messages().slice(-2);
      assert.equal(info.kind, 'info');
      assert.equal(warning.kind, 'warning');
      assert.match(warning.text, /^onnx\/model\.onnx in \S+: the attention Softmax outputs "left" and "right" do not depend on each other/);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('adds a T5-shaped folder whose tokenizer has SentencePiece\'s Precompiled normalizer (nmt_nfkc), with no warning', async () => {
    const notifier = new Notifier();
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'al-add-'));
    try {
      const t5 = path.join(testModelsDir, 'tiny-t5');
      const tokenizer = fs.readFileSync(path.join(testModelsDir, 'spm-t5', 'tokenizer.json'), 'utf8');
      const pieces = (JSON.parse(tokenizer) as { model: { vocab: unknown[] } }).model.vocab.length;
      const config = JSON.parse(fs.readFileSync(path.join(t5, 'config.json'), 'utf8')) as Record<string, unknown>;
      fs.writeFileSync(path.join(tmp, 'config.json'), JSON.stringify({ ...config, vocab_size: pieces }));
      fs.writeFileSync(path.join(tmp, 'tokenizer.json'), tokenizer);
      fs.mkdirSync(path.join(tmp, 'onnx'));
      for (const f of ['encoder_model.onnx', 'decoder_model.onnx']) fs.copyFileSync(path.join(t5, 'onnx', f), path.join(tmp, 'onnx', f));
      const report = await addModelCommand(notifier, tmp);
      assert.deepEqual(report?.tokenizer, { kind: 'sentencepiece', modelType: 'Unigram' });
      assert.deepEqual(settings.models, ['/already/there', tmp]);
      assert.deepEqual(notifier.messages().map((m) => m.kind), ['info'], notifier.messages().map((m) => m.text).join('\n'));
      assert.match(notifier.messages()[0].text, /^Added: .*T5ForConditionalGeneration.*Unigram tokenizer/);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('shows the error and adds nothing when the folder fails a check', async () => {
    const notifier = new Notifier();
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'al-add-'));
    try {
      fs.copyFileSync(path.join(testModelsDir, 'tiny-bert', 'config.json'), path.join(tmp, 'config.json'));
      await addModelCommand(notifier, tmp);
      const err = notifier.messages().at(-1)!;
      assert.equal(err.kind, 'error');
      assert.match(err.text, /cannot add the model folder .*has no tokenizer\.json/);
      assert.deepEqual(settings.models, ['/already/there']);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('opens a folder picker when called without a folder, and does nothing when it is cancelled', async () => {
    const notifier = new Notifier();
    assert.equal(await addModelCommand(notifier), undefined);
    assert.equal(dialogs, 1);
    assert.equal(notifier.messages().length, 0);
  });

  it('Select Model offers Add Model… and Download Model… below the folders, and runs the one picked', async () => {
    const ran: string[] = [];
    stub.state.commands.set('attentionLens.addModel', () => { ran.push('add'); });
    let offered: { label: string }[] = [];
    (stub.module.window as Record<string, unknown>).showQuickPick = async (items: { label: string }[]) => {
      offered = items;
      return items.find((i) => i.label.includes('Add Model'));
    };
    await selectModel(new ModelSettings(Uri.file(repoRoot) as never), new Notifier());
    assert.deepEqual(offered.map((i) => i.label), ['lens-gpt (bundled)', 'there', '$(add) Add Model…', '$(cloud-download) Download Model…']);
    assert.deepEqual(ran, ['add']);
  });
});
