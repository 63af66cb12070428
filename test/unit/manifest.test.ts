import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

interface ColorContribution { id: string; defaults: Record<string, string | null> }

const manifest = JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../../package.json'), 'utf8'));

describe('manifest: contributed colours', () => {
  const colors: ColorContribution[] = manifest.contributes.colors;
  const ids = new Set(colors.map((c) => c.id));
  it('declares the five weight levels the editor decorations use', () => {
    for (let i = 1; i <= 5; i++) assert.ok(ids.has(`attentionLens.weight${i}`), `attentionLens.weight${i}`);
  });
  // VS Code parses a colour default only as #RGB, #RGBA, #RRGGBB, #RRGGBBAA or another colour's id;
  // anything else (rgba(…), names) silently becomes transparent and the editor shows no highlight.
  it('gives every theme kind a default VS Code can parse, with a visible alpha', () => {
    for (const c of colors) {
      for (const kind of ['dark', 'light', 'highContrast', 'highContrastLight']) {
        const v = c.defaults[kind];
        assert.equal(typeof v, 'string', `${c.id}.${kind} is set`);
        const hex = /^#([0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$/.exec(v!);
        assert.ok(hex || /^[A-Za-z][\w.-]*$/.test(v!), `${c.id}.${kind} = ${v} is a hex colour or a colour id`);
        if (hex && hex[1].length === 8) assert.ok(parseInt(hex[1].slice(6), 16) > 0, `${c.id}.${kind} is not fully transparent`);
      }
    }
  });
});
