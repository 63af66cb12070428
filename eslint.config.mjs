// ESLint for the whole repository, run by `npm run lint` and in `npm test`'s typecheck stage.
// TypeScript files get typescript-eslint's type-checked recommended rules (each file is checked against the
// tsconfig nearest to it: webview/tsconfig.json for webview/, tsconfig.json for src/ and test/); the .mjs
// scripts get ESLint's recommended rules. @stylistic holds the code to its existing style without reflowing it.
import js from '@eslint/js';
import stylistic from '@stylistic/eslint-plugin';
import { defineConfig } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

const style = stylistic.configs.customize({ indent: 2, quotes: 'single', semi: true, commaDangle: 'always-multiline',
  braceStyle: '1tbs', arrowParens: true, jsx: false });
const [, , indentOptions] = style.rules['@stylistic/indent'];

export default defineConfig(
  {
    ignores: ['dist/', 'out/', '.vscode-test/', '.cache/', 'test-output/', 'models/', 'test/models/',
      // Inputs the tests tokenize byte for byte (tabs and all), not code to lint.
      'test/fixtures/'],
  },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
  },
  {
    files: ['**/*.mjs'],
    languageOptions: { globals: globals.node },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      // Tests drive a browser page, untyped onnxruntime sessions, posted messages and JSON fixtures; the assertions check them.
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      // Modules under test are required after the vscode stub is installed (imports would be hoisted above it),
      // and optional runtimes (onnxruntime-node, tokenizers) are required where a test needs them.
      '@typescript-eslint/no-require-imports': 'off',
      // Stubs of async APIs (Memento.update, showQuickPick) are async functions with nothing to await.
      '@typescript-eslint/require-await': 'off',
    },
  },
  style,
  {
    rules: {
      // Chained conditions (`: c ? d` starting a line) stay at the chain's level instead of stepping in.
      '@stylistic/indent': ['error', 2, { ...indentOptions, flatTernaryExpressions: true,
        // An object type in a union is laid out under its `| {`; a return type too long for the signature's line
        // continues on the next one, indented once.
        ignoredNodes: [...indentOptions.ignoredNodes, 'TSUnionType > TSTypeLiteral', 'FunctionDeclaration > TSTypeAnnotation'] }],
      '@stylistic/quotes': ['error', 'single', { avoidEscape: true, allowTemplateLiterals: 'always' }],
      // The longest code lines today, not counting lines that hold a long string or message.
      '@stylistic/max-len': ['error', { code: 160, ignoreUrls: true, ignoreStrings: true, ignoreTemplateLiterals: true,
        ignoreRegExpLiterals: true }],
      // `+` ends a line that a string continues on the next; `&&`, `||` and `?:` start theirs; `=` ends its line.
      '@stylistic/operator-linebreak': ['error', 'before', { overrides: { '+': 'after', '=': 'after' } }],
      // Continuation lines are indented once from the statement, which this rule reads as misaligned.
      '@stylistic/indent-binary-ops': 'off',
      // Tables of CSS variables quote every name; other objects quote only the names that need it.
      '@stylistic/quote-props': 'off',
      // Short bodies sit on one line on purpose: `{ const t0 = now(); await run(); ms.push(now() - t0); }`.
      '@stylistic/max-statements-per-line': 'off',
      // Argument and property lists wrap where the line is full, not one item per line.
      '@stylistic/list-style': 'off',
      // Chained conditions read `a ? b` / `: c ? d` / `: e`, with the test and its value on one line.
      '@stylistic/multiline-ternary': 'off',
    },
  },
);
