import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { RESTRICTED_SETTINGS } from '../../src/host/model-choice';
import { repoRoot } from '../support/model';

interface ColorContribution { id: string; defaults: Record<string, string | null> }

const manifest = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8'));

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

describe('manifest: activation', () => {
  // Commands and the contributed view activate the extension by themselves (VS Code ≥ 1.74 infers onCommand and
  // onView); only the panel serializer needs an event. Nothing loads the extension at startup.
  it('activates only to restore the panel (commands and the view are implicit), never on startup', () => {
    assert.deepEqual(manifest.activationEvents, ['onWebviewPanel:attentionLens.panel']);
    assert.match(manifest.engines.vscode, /^\^1\.(9\d|\d{3,})\./, 'an engine that infers onCommand/onView');
  });
});

describe('manifest: keybindings', () => {
  // Ctrl+Alt is AltGr on Windows for Polish, German, French and other layouts: Ctrl+Alt+letter would take a
  // character (ą, @, €…) away from the user, which is why VS Code's own defaults avoid it.
  it('binds Show Attention in the editor with no Ctrl+Alt chord on Windows or Linux', () => {
    const kbs: { command: string; key: string; mac?: string; win?: string; linux?: string; when?: string }[] = manifest.contributes.keybindings;
    const show = kbs.find((k) => k.command === 'attentionLens.showAttention');
    assert.ok(show, 'Show Attention has a keybinding');
    assert.equal(show.when, 'editorTextFocus');
    for (const kb of kbs) {
      for (const combo of [kb.key, kb.win, kb.linux].filter((k): k is string => !!k)) {
        for (const part of combo.toLowerCase().split(' ')) {
          const mods = part.split('+').slice(0, -1);
          assert.ok(!(mods.includes('ctrl') && mods.includes('alt')), `${kb.command}: "${combo}" presses Ctrl+Alt (AltGr)`);
        }
      }
      if (kb.mac) assert.ok(!/\bctrl\+alt\b|\balt\+ctrl\b/.test(kb.mac.toLowerCase()), `${kb.command}: mac "${kb.mac}"`);
    }
  });
});

describe('manifest: menus', () => {
  // A context menu shows a command's title without its category: "Show Attention" alone did not say whose it was.
  it('names the extension in every editor context menu entry, and the palette shows no doubled prefix', () => {
    const nls: Record<string, string> = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.nls.json'), 'utf8'));
    const text = (v: string) => nls[/^%([^%]+)%$/.exec(v)?.[1] ?? ''] ?? v;
    const commands: { command: string; title: string; category?: string }[] = manifest.contributes.commands;
    const entries: { command: string }[] = manifest.contributes.menus['editor/context'];
    assert.ok(entries.some((e) => e.command === 'attentionLens.showAttention'));
    for (const e of entries) {
      const c = commands.find((x) => x.command === e.command)!;
      assert.match(text(c.title), /^Attention Lens: /, `${e.command} in the context menu reads "${text(c.title)}"`);
      assert.equal(c.category, undefined, `${e.command}: a category would show "Attention Lens: Attention Lens: …" in the palette`);
    }
  });

  // Typing a command's full title in the palette and pressing Enter must run it, not another that starts the same way.
  it('gives no command a palette label that starts with another\'s', () => {
    const nls: Record<string, string> = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.nls.json'), 'utf8'));
    const text = (v: string) => nls[/^%([^%]+)%$/.exec(v)?.[1] ?? ''] ?? v;
    const labels = (manifest.contributes.commands as { title: string; category?: string }[])
      .map((c) => `${c.category ? `${text(c.category)}: ` : ''}${text(c.title)}`);
    for (const a of labels) for (const b of labels) if (a !== b) assert.ok(!b.startsWith(a), `"${b}" starts with "${a}"`);
    assert.equal(new Set(labels).size, labels.length);
  });
});

describe('manifest: localised strings, icon, repository, changelog', () => {
  const raw = fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8');
  const placeholders = [...raw.matchAll(/"%([^"%]+)%"/g)].map((m) => m[1]);

  it('resolves every %key% of package.json in package.nls.json, and package.nls.json has no unused key', () => {
    const nls: Record<string, string> = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.nls.json'), 'utf8'));
    assert.ok(placeholders.length > 0);
    for (const k of placeholders) assert.equal(typeof nls[k], 'string', `%${k}% is in package.nls.json`);
    assert.deepEqual(Object.keys(nls).filter((k) => !placeholders.includes(k)), []);
  });

  it('takes every user-visible string (titles, categories, names, descriptions) from package.nls.json', () => {
    const visible = new Set(['displayName', 'description', 'title', 'category', 'name', 'markdownDescription',
      'enumDescriptions', 'markdownEnumDescriptions', 'deprecationMessage', 'markdownDeprecationMessage']);
    const literal: string[] = [];
    const walk = (v: unknown, at: string, field?: string) => {
      if (typeof v === 'string') {
        if (field && visible.has(field) && !/^%[^%]+%$/.test(v)) literal.push(`${at} = ${JSON.stringify(v)}`);
      } else if (Array.isArray(v)) {
        v.forEach((x, i) => walk(x, `${at}[${i}]`, field));
      } else if (v && typeof v === 'object') {
        for (const [k, x] of Object.entries(v)) walk(x, `${at}.${k}`, k === 'properties' ? undefined : k);
      }
    };
    walk(manifest.contributes, 'contributes');
    walk({ displayName: manifest.displayName, description: manifest.description }, '');
    assert.deepEqual(literal, []);
  });

  it('has a 128×128 or 256×256 PNG icon in media/', () => {
    assert.match(manifest.icon, /^media\/[^/]+\.png$/);
    const png = fs.readFileSync(path.join(repoRoot, manifest.icon));
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'PNG signature');
    assert.equal(png.toString('latin1', 12, 16), 'IHDR', 'IHDR is the first chunk');
    const [w, h] = [png.readUInt32BE(16), png.readUInt32BE(20)];
    assert.ok(w === h && (w === 128 || w === 256), `${w}×${h}`);
  });

  it('names its repository', () => {
    const url = typeof manifest.repository === 'string' ? manifest.repository : manifest.repository?.url;
    assert.match(String(url), /^https:\/\/\S+$/);
  });

  it('has a CHANGELOG.md with an entry for the manifest version', () => {
    const changelog = fs.readFileSync(path.join(repoRoot, 'CHANGELOG.md'), 'utf8');
    assert.match(changelog, new RegExp(`^## \\[?${manifest.version.replace(/\./g, '\\.')}\\]?`, 'm'));
  });
});

describe('manifest: workspace trust', () => {
  // Restricted Mode: the bundled model works, but a workspace's settings cannot point the extension at files.
  it('supports untrusted workspaces in a limited way, restricting exactly the settings that name model folders', () => {
    const trust = manifest.capabilities?.untrustedWorkspaces;
    assert.equal(trust?.supported, 'limited');
    assert.deepEqual(trust.restrictedConfigurations, RESTRICTED_SETTINGS.map((k) => `attentionLens.${k}`));
    for (const key of trust.restrictedConfigurations) assert.ok(manifest.contributes.configuration.properties[key], `${key} is a setting`);
    const nls: Record<string, string> = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.nls.json'), 'utf8'));
    const key = /^%([^%]+)%$/.exec(trust.description)?.[1];
    assert.ok(key && /Restricted Mode/.test(nls[key]), 'the description is a localised string that mentions Restricted Mode');
  });
});
