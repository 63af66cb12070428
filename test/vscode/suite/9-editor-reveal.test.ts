import assert from 'node:assert/strict';
import { getApi, openFile, selectOffsets, showAttentionRun, waitFor } from '../helpers';

// In a real VS Code: a run scrolls the analysed text into view (EditorLink.setRun's revealRange), which a
// selection set from code (or made and then scrolled away from) does not do by itself.
describe('the editor reveals what a run analyses', () => {
  it('scrolls a selection far down the document into view when the run starts', async () => {
    const api = await getApi();
    const lines = Array.from({ length: 400 }, (_, i) => `Line ${i + 1}: every token attends to the ones before it.`);
    const content = `${lines.join('\n')}\n`;
    const editor = await openFile(content, 'reveal.txt');
    const target = 299; // 0-based: line 300
    const start = content.indexOf(`Line ${target + 1}:`);
    selectOffsets(editor, start, start + lines[target].length);
    const shows = (line: number) => editor.visibleRanges.some((r) => r.start.line <= line && r.end.line >= line);
    assert.equal(shows(target), false, `fixture: line ${target + 1} is off-screen before the run (visible: ` +
      `${editor.visibleRanges.map((r) => `${r.start.line + 1}–${r.end.line + 1}`).join(', ')})`);
    const run = await showAttentionRun(api);
    assert.equal(run.documentOffset, start);
    await waitFor(() => shows(target), `line ${target + 1} to be scrolled into view`, 30_000);
  });
});
