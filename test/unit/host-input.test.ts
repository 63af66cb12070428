import assert from 'node:assert/strict';
import {
  clipSelection, documentLabel, effectiveMaxTokens, fingerprint, formatCount, isBlank, looksBinary, MAX_RUN_TOKENS, MAX_SELECTION_CHARS,
  refusalForScheme, runTokenLimit, selectionCapNotice, tokenCapNotice, truncationNotice,
} from '../../src/host/input';
import { chooseModel, listedModels, resolveFolderPath } from '../../src/host/model-choice';

describe('host input checks', () => {
  it('refuses output, debug and internal vscode-* documents but not files, untitled or settings', () => {
    for (const s of ['output', 'debug', 'vscode-settings', 'vscode-terminal']) {
      assert.match(refusalForScheme(s) ?? '', /works on text editors/, s);
    }
    for (const s of ['file', 'untitled', 'vscode-userdata', 'vscode-notebook-cell', 'vscode-remote', 'git']) {
      assert.equal(refusalForScheme(s), undefined, s);
    }
  });

  it('tells binary from text', () => {
    assert.equal(looksBinary('plain text\twith tabs\r\nand lines\n'), false);
    assert.equal(looksBinary(''), false);
    assert.equal(looksBinary('abc\u0000def'), true, 'NUL');
    assert.equal(looksBinary('PK\u0003\u0004' + 'x'.repeat(10)), true, '2 of 14 are control characters');
    assert.equal(looksBinary('\u0001' + 'x'.repeat(30)), false, 'one control character in 31 is below 10%');
    assert.equal(looksBinary('😀 emoji and ümlauts'), false);
  });

  it('treats empty and whitespace-only text as blank', () => {
    assert.ok(isBlank(''));
    assert.ok(isBlank('  \n\t \r\n '));
    assert.ok(!isBlank(' a '));
  });

  it('words the truncation notice with counts, characters and lines', () => {
    assert.equal(truncationNotice({ keptTokens: 128, keptChars: 412, totalChars: 50000, firstLine: 1, lastLine: 5 }),
      'Showing the first 128 tokens: 412 of 50,000 characters, lines 1–5.');
    assert.match(truncationNotice({ keptTokens: 4, keptChars: 9, totalChars: 1234, firstLine: 3, lastLine: 3 }), /, line 3\.$/);
    assert.equal(formatCount(1234567), '1,234,567');
  });

  it('uses the model context unless maxTokens is a smaller positive number', () => {
    assert.equal(effectiveMaxTokens(0, 128), 128);
    assert.equal(effectiveMaxTokens(undefined, 128), 128);
    assert.equal(effectiveMaxTokens('12', 128), 128);
    assert.equal(effectiveMaxTokens(-3, 128), 128);
    assert.equal(effectiveMaxTokens(32.7, 128), 32);
    assert.equal(effectiveMaxTokens(4096, 128), 128);
  });

  it(`caps a run at ${MAX_RUN_TOKENS} tokens whatever config.json claims, and says so only when the cap is what cut`, () => {
    assert.equal(effectiveMaxTokens(0, 1e8), MAX_RUN_TOKENS, 'n_positions: 1e8 in config.json');
    assert.equal(effectiveMaxTokens(1e6, 1e8), MAX_RUN_TOKENS, 'nor can the setting raise it');
    assert.deepEqual(runTokenLimit(0, 1e8), { maxTokens: MAX_RUN_TOKENS, byCap: true });
    assert.deepEqual(runTokenLimit(100, 1e8), { maxTokens: 100, byCap: false }, 'the setting lowers it');
    assert.deepEqual(runTokenLimit(0, 1024), { maxTokens: 1024, byCap: false }, 'the context is what cuts');
    assert.deepEqual(runTokenLimit(0, MAX_RUN_TOKENS), { maxTokens: MAX_RUN_TOKENS, byCap: false });
    assert.ok(tokenCapNotice().includes(`at most ${formatCount(MAX_RUN_TOKENS)} tokens per run, whatever the model's context; "attentionLens.maxTokens" can lower that`));
  });

  it(`reads at most ${formatCount(MAX_SELECTION_CHARS)} characters of a selection, never splitting a surrogate pair`, () => {
    assert.equal(MAX_SELECTION_CHARS, 65_536);
    assert.deepEqual(clipSelection('short'), { text: 'short', clipped: false });
    const exact = 'a'.repeat(MAX_SELECTION_CHARS);
    assert.equal(clipSelection(exact).clipped, false);
    const big = clipSelection(`${exact}b`);
    assert.equal(big.clipped, true);
    assert.equal(big.text.length, MAX_SELECTION_CHARS);
    const emoji = clipSelection(`${'a'.repeat(MAX_SELECTION_CHARS - 1)}😀tail`);
    assert.equal(emoji.text.length, MAX_SELECTION_CHARS - 1, 'the emoji\'s high surrogate is not kept alone');
    assert.equal(selectionCapNotice(65_536, 10_000_000), 'Showing the first 65,536 of 10,000,000 characters: Attention Lens reads ' +
      'at most 65,536 characters of a selection per run. Select less text to see the rest.');
  });

  it('labels documents and fingerprints text', () => {
    assert.equal(documentLabel('/home/u/notes.md'), 'notes.md');
    assert.equal(documentLabel('Untitled-1'), 'Untitled-1');
    assert.equal(fingerprint('abc'), fingerprint('abc'));
    assert.notEqual(fingerprint('abc'), fingerprint('abd'));
  });
});

describe('host model choice', () => {
  const ctx = { bundledDir: '/ext/models/lens-gpt', workspaceFolder: '/ws', home: '/home/u' };
  it('empty or missing defaultModel means the bundled model', () => {
    assert.deepEqual(chooseModel('', ctx), { dir: '/ext/models/lens-gpt', bundled: true });
    assert.deepEqual(chooseModel(undefined, ctx), { dir: '/ext/models/lens-gpt', bundled: true });
    assert.deepEqual(chooseModel('/m/gpt2', ctx), { dir: '/m/gpt2', bundled: false });
  });
  it('resolves ~, ${workspaceFolder} and relative paths', () => {
    assert.equal(resolveFolderPath('~/models/a', ctx), '/home/u/models/a');
    assert.equal(resolveFolderPath('${workspaceFolder}/m', ctx), '/ws/m');
    assert.equal(resolveFolderPath('models/b', ctx), '/ws/models/b');
    assert.deepEqual(listedModels(['a', '', 7, '/ws/a', '/x'], ctx), ['/ws/a', '/x']);
    assert.deepEqual(listedModels('nope', ctx), []);
  });
});
