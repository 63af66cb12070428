/**
 * Approximations of VS Code's Dark Modern and Light Modern theme variables for the test pages, keyed on
 * the body class VS Code sets (vscode-dark / vscode-light), so switching the class switches the theme.
 */

const DARK: Record<string, string> = {
  'foreground': '#cccccc', 'editor-foreground': '#d4d4d4', 'editor-background': '#1f1f1f', 'focusBorder': '#0078d4',
  'charts-blue': '#3794ff', 'charts-red': '#f14c4c', 'charts-green': '#89d185', 'charts-yellow': '#cca700',
  'charts-orange': '#d18616', 'charts-purple': '#b180d7', 'badge-background': '#616161', 'badge-foreground': '#f8f8f8',
  'button-background': '#0078d4', 'button-foreground': '#ffffff', 'button-hoverBackground': '#026ec1',
  'button-secondaryBackground': '#313131', 'button-secondaryForeground': '#cccccc', 'button-secondaryHoverBackground': '#3c3c3c',
  'dropdown-background': '#313131', 'dropdown-foreground': '#cccccc', 'dropdown-border': '#3c3c3c',
  'dropdown-listBackground': '#1f1f1f', 'panelTitle-activeForeground': '#e7e7e7', 'panelTitle-activeBorder': '#0078d4',
  'panelTitle-inactiveForeground': '#9d9d9d', 'panel-background': '#181818', 'editorHoverWidget-background': '#202020',
  'editorHoverWidget-foreground': '#cccccc', 'editorHoverWidget-border': '#454545', 'widget-shadow': 'rgba(0, 0, 0, 0.36)',
  'inputValidation-warningBackground': '#352a05', 'inputValidation-warningBorder': '#b89500',
  'inputValidation-errorBackground': '#5a1d1d', 'inputValidation-errorBorder': '#be1100', 'errorForeground': '#f85149',
  'progressBar-background': '#0078d4', 'widget-border': '#313131', 'list-activeSelectionBackground': '#04395e',
};

const LIGHT: Record<string, string> = {
  'foreground': '#3b3b3b', 'editor-foreground': '#3b3b3b', 'editor-background': '#ffffff', 'focusBorder': '#005fb8',
  'charts-blue': '#1a85ff', 'charts-red': '#e51400', 'charts-green': '#388a34', 'charts-yellow': '#bf8803',
  'charts-orange': '#d18616', 'charts-purple': '#652d90', 'badge-background': '#cccccc', 'badge-foreground': '#3b3b3b',
  'button-background': '#005fb8', 'button-foreground': '#ffffff', 'button-hoverBackground': '#0258a8',
  'button-secondaryBackground': '#e5e5e5', 'button-secondaryForeground': '#3b3b3b', 'button-secondaryHoverBackground': '#cccccc',
  'dropdown-background': '#ffffff', 'dropdown-foreground': '#3b3b3b', 'dropdown-border': '#cecece',
  'dropdown-listBackground': '#ffffff', 'panelTitle-activeForeground': '#3b3b3b', 'panelTitle-activeBorder': '#005fb8',
  'panelTitle-inactiveForeground': '#8b949e', 'panel-background': '#f8f8f8', 'editorHoverWidget-background': '#f8f8f8',
  'editorHoverWidget-foreground': '#3b3b3b', 'editorHoverWidget-border': '#c8c8c8', 'widget-shadow': 'rgba(0, 0, 0, 0.16)',
  'inputValidation-warningBackground': '#f6eedc', 'inputValidation-warningBorder': '#b89500',
  'inputValidation-errorBackground': '#f2dede', 'inputValidation-errorBorder': '#be1100', 'errorForeground': '#f85149',
  'progressBar-background': '#005fb8', 'widget-border': '#e5e5e5', 'list-activeSelectionBackground': '#e8e8e8',
};

const COMMON: Record<string, string> = {
  'font-family': 'system-ui, "Segoe UI", "Ubuntu", "Droid Sans", sans-serif', 'font-size': '13px', 'font-weight': 'normal',
  'editor-font-family': '"DejaVu Sans Mono", "Liberation Mono", monospace', 'editor-font-size': '14px',
};

const block = (vars: Record<string, string>): string =>
  Object.entries(vars).map(([k, v]) => `  --vscode-${k}: ${v};`).join('\n');

/** The test stylesheet: common variables on :root, dark and light sets on the body class. */
export const THEME_CSS = `:root {\n${block(COMMON)}\n}\nbody.vscode-dark {\n${block(DARK)}\n}\nbody.vscode-light {\n${block(LIGHT)}\n}\n`;
