/**
 * Mocha runner that VS Code's extension host loads (`extensionTestsPath`), under @vscode/test-electron or
 * code-server (scripts/run-vscode-tests.mjs). Adds out/test/vscode/suite/*.test.js, runs them with the
 * spec reporter (no colours, so the log is parseable), and writes the counts to
 * $ATTENTION_LENS_TEST_RESULTS when that is set. ATTENTION_LENS_GREP filters tests by title (`/…/`: a regular expression).
 */
import fs from 'node:fs';
import path from 'node:path';
import util from 'node:util';
import Mocha from 'mocha';
import * as vscode from 'vscode';

export function run(): Promise<void> {
  // Reporters print through Base.consoleLog(format, ...args). VS Code forwards the extension host's console
  // without applying format strings under code-server, so format here: one finished line per call.
  const base = Mocha.reporters.Base as unknown as { consoleLog: (...a: unknown[]) => void };
  base.consoleLog = (...a: unknown[]) => console.log(util.format(...a));
  const mocha = new Mocha({
    ui: 'bdd',
    reporter: 'spec',
    color: false,
    // Generous: the first run loads the model into onnxruntime-web inside the webview. No test asserts
    // on time; these only stop a hung run from hanging CI forever.
    timeout: 150_000,
    slow: 30_000,
  });
  const grep = process.env.ATTENTION_LENS_GREP;
  const pattern = grep && /^\/(.+)\/$/.exec(grep);
  if (grep) mocha.grep(pattern ? new RegExp(pattern[1]) : grep);
  const dir = path.resolve(__dirname, 'suite');
  const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.test.js')).sort() : [];
  for (const f of files) mocha.addFile(path.join(dir, f));
  console.log(`[attention-lens tests] ${files.length} suite file(s) in ${dir}; VS Code ${vscode.version}; ` +
    `remote: ${vscode.env.remoteName ?? 'none'}`);

  return new Promise((resolve, reject) => {
    try {
      const runner = mocha.run((failures) => {
        const stats = runner.stats ?? { passes: 0, failures, pending: 0, tests: 0 };
        const result = { passes: stats.passes, failures: stats.failures, pending: stats.pending, tests: stats.tests };
        console.log(`ATTENTION_LENS_RESULT ${JSON.stringify(result)}`);
        const out = process.env.ATTENTION_LENS_TEST_RESULTS;
        if (out) {
          try { fs.writeFileSync(out, JSON.stringify(result)); } catch (e) { console.error(`cannot write ${out}: ${String(e)}`); }
        }
        if (failures > 0) reject(new Error(`${failures} test(s) failed.`));
        else resolve();
      });
    } catch (err) {
      console.error(err);
      reject(err instanceof Error ? err : new Error(String(err)));
    }
  });
}
