/**
 * VS Code's default theme variables for the test pages (Dark Modern, Light Modern, Dark and Light High Contrast,
 * with the defaults of VS Code's colour registry where those themes set nothing), keyed on the body class
 * VS Code sets, so switching the class switches the theme. The variables live on <html> (as in VS Code), so
 * a test can also change them there without touching the class, as switching between two dark themes does.
 */

/** Body classes VS Code gives a webview per theme kind. */
export type ThemeClass = 'vscode-dark' | 'vscode-light' | 'vscode-high-contrast' | 'vscode-high-contrast-light';

const DARK: Record<string, string> = {
  'foreground': '#cccccc', 'editor-foreground': '#d4d4d4', 'editor-background': '#1f1f1f', 'focusBorder': '#0078d4',
  'charts-blue': '#3794ff', 'charts-red': '#f14c4c', 'charts-green': '#89d185', 'charts-yellow': '#cca700',
  'charts-orange': '#d18616', 'charts-purple': '#b180d7', 'badge-background': '#616161', 'badge-foreground': '#f8f8f8',
  'button-background': '#0078d4', 'button-foreground': '#ffffff', 'button-hoverBackground': '#026ec1',
  'button-border': 'rgba(255, 255, 255, 0.07)',
  'button-secondaryBackground': '#313131', 'button-secondaryForeground': '#cccccc', 'button-secondaryHoverBackground': '#3c3c3c',
  'checkbox-background': '#313131', 'checkbox-border': '#3c3c3c', 'checkbox-foreground': '#cccccc',
  'dropdown-background': '#313131', 'dropdown-foreground': '#cccccc', 'dropdown-border': '#3c3c3c',
  'dropdown-listBackground': '#1f1f1f', 'settings-dropdownListBorder': '#454545',
  'input-background': '#313131', 'input-foreground': '#cccccc', 'input-placeholderForeground': '#989898',
  'panelTitle-activeForeground': '#e7e7e7', 'panelTitle-activeBorder': '#0078d4',
  'panelTitle-inactiveForeground': '#9d9d9d', 'panel-background': '#181818', 'panel-border': '#2b2b2b',
  'editorWidget-background': '#202020', 'editorHoverWidget-background': '#202020',
  'editorHoverWidget-foreground': '#cccccc', 'editorHoverWidget-border': '#454545', 'widget-shadow': 'rgba(0, 0, 0, 0.36)',
  'inputValidation-warningBackground': '#352a05', 'inputValidation-warningBorder': '#b89500',
  'inputValidation-errorBackground': '#5a1d1d', 'inputValidation-errorBorder': '#be1100', 'errorForeground': '#f85149',
  'progressBar-background': '#0078d4', 'widget-border': '#313131', 'list-activeSelectionBackground': '#04395e',
  'list-activeSelectionForeground': '#ffffff', 'list-hoverBackground': '#2a2d2e', 'list-inactiveSelectionBackground': '#37373d',
  'textLink-foreground': '#4daafc', 'textLink-activeForeground': '#4daafc',
  'scrollbarSlider-background': 'rgba(121, 121, 121, 0.4)', 'scrollbarSlider-hoverBackground': 'rgba(100, 100, 100, 0.7)',
  'scrollbarSlider-activeBackground': 'rgba(191, 191, 191, 0.4)',
};

const LIGHT: Record<string, string> = {
  'foreground': '#3b3b3b', 'editor-foreground': '#3b3b3b', 'editor-background': '#ffffff', 'focusBorder': '#005fb8',
  'charts-blue': '#1a85ff', 'charts-red': '#e51400', 'charts-green': '#388a34', 'charts-yellow': '#bf8803',
  'charts-orange': '#d18616', 'charts-purple': '#652d90', 'badge-background': '#cccccc', 'badge-foreground': '#3b3b3b',
  'button-background': '#005fb8', 'button-foreground': '#ffffff', 'button-hoverBackground': '#0258a8',
  'button-border': 'rgba(0, 0, 0, 0.1)',
  'button-secondaryBackground': '#e5e5e5', 'button-secondaryForeground': '#3b3b3b', 'button-secondaryHoverBackground': '#cccccc',
  'checkbox-background': '#f8f8f8', 'checkbox-border': '#cecece', 'checkbox-foreground': '#3b3b3b',
  'dropdown-background': '#ffffff', 'dropdown-foreground': '#3b3b3b', 'dropdown-border': '#cecece',
  'dropdown-listBackground': '#ffffff', 'settings-dropdownListBorder': '#c8c8c8',
  'input-background': '#ffffff', 'input-foreground': '#3b3b3b', 'input-placeholderForeground': '#767676',
  'panelTitle-activeForeground': '#3b3b3b', 'panelTitle-activeBorder': '#005fb8',
  'panelTitle-inactiveForeground': '#8b949e', 'panel-background': '#f8f8f8', 'panel-border': '#e5e5e5',
  'editorWidget-background': '#f8f8f8', 'editorHoverWidget-background': '#f8f8f8',
  'editorHoverWidget-foreground': '#3b3b3b', 'editorHoverWidget-border': '#c8c8c8', 'widget-shadow': 'rgba(0, 0, 0, 0.16)',
  'inputValidation-warningBackground': '#f6eedc', 'inputValidation-warningBorder': '#b89500',
  'inputValidation-errorBackground': '#f2dede', 'inputValidation-errorBorder': '#be1100', 'errorForeground': '#f85149',
  'progressBar-background': '#005fb8', 'widget-border': '#e5e5e5', 'list-activeSelectionBackground': '#e8e8e8',
  'list-activeSelectionForeground': '#000000', 'list-hoverBackground': '#f2f2f2', 'list-inactiveSelectionBackground': '#e4e6f1',
  'textLink-foreground': '#005fb8', 'textLink-activeForeground': '#005fb8',
  'scrollbarSlider-background': 'rgba(100, 100, 100, 0.4)', 'scrollbarSlider-hoverBackground': 'rgba(100, 100, 100, 0.7)',
  'scrollbarSlider-activeBackground': 'rgba(0, 0, 0, 0.6)',
};

/** Dark High Contrast: black background, cyan contrast borders, orange active borders and focus. */
const HIGH_CONTRAST: Record<string, string> = {
  'foreground': '#ffffff', 'editor-foreground': '#ffffff', 'editor-background': '#000000', 'focusBorder': '#f38518',
  'contrastBorder': '#6fc3df', 'contrastActiveBorder': '#f38518',
  'charts-blue': '#3794ff', 'charts-red': '#f48771', 'charts-green': '#89d185', 'charts-yellow': '#ffd370',
  'charts-orange': '#d18616', 'charts-purple': '#b180d7', 'badge-background': '#000000', 'badge-foreground': '#ffffff',
  // VS Code leaves button.background and button.secondaryBackground unset in Dark High Contrast.
  'button-foreground': '#ffffff', 'button-border': '#6fc3df', 'button-secondaryForeground': '#ffffff',
  'checkbox-background': '#000000', 'checkbox-border': '#6fc3df', 'checkbox-foreground': '#ffffff',
  'dropdown-background': '#000000', 'dropdown-foreground': '#ffffff', 'dropdown-border': '#6fc3df',
  'dropdown-listBackground': '#000000', 'settings-dropdownListBorder': '#6fc3df',
  'input-background': '#000000', 'input-foreground': '#ffffff', 'input-placeholderForeground': 'rgba(255, 255, 255, 0.7)',
  'panelTitle-activeForeground': '#ffffff', 'panelTitle-activeBorder': '#6fc3df',
  'panelTitle-inactiveForeground': '#ffffff', 'panel-background': '#000000', 'panel-border': '#6fc3df',
  'editorWidget-background': '#0c141f', 'editorHoverWidget-background': '#0c141f',
  'editorHoverWidget-foreground': '#ffffff', 'editorHoverWidget-border': '#6fc3df',
  'inputValidation-warningBackground': '#000000', 'inputValidation-warningBorder': '#6fc3df',
  'inputValidation-errorBackground': '#000000', 'inputValidation-errorBorder': '#6fc3df', 'errorForeground': '#f48771',
  'progressBar-background': '#6fc3df', 'widget-border': '#6fc3df',
  'textLink-foreground': '#21a6ff', 'textLink-activeForeground': '#21a6ff',
  'scrollbarSlider-background': 'rgba(111, 195, 223, 0.6)', 'scrollbarSlider-hoverBackground': 'rgba(111, 195, 223, 0.8)',
  'scrollbarSlider-activeBackground': '#6fc3df',
};

/** Light High Contrast (approximated from VS Code's hcLight defaults): white background, dark blue contrast borders. */
const HIGH_CONTRAST_LIGHT: Record<string, string> = {
  'foreground': '#292929', 'editor-foreground': '#292929', 'editor-background': '#ffffff', 'focusBorder': '#006bbd',
  'contrastBorder': '#0f4a85', 'contrastActiveBorder': '#006bbd',
  'charts-blue': '#0f4a85', 'charts-red': '#b5200d', 'charts-green': '#374e06', 'charts-yellow': '#895503',
  'charts-orange': '#b5200d', 'charts-purple': '#652d90', 'badge-background': '#0f4a85', 'badge-foreground': '#ffffff',
  'button-background': '#0f4a85', 'button-foreground': '#ffffff', 'button-border': '#0f4a85',
  'button-secondaryBackground': '#ffffff', 'button-secondaryForeground': '#292929', 'button-secondaryHoverBackground': '#ffffff',
  'checkbox-background': '#ffffff', 'checkbox-border': '#0f4a85',
  'checkbox-foreground': '#292929', 'dropdown-background': '#ffffff', 'dropdown-foreground': '#292929',
  'dropdown-border': '#0f4a85', 'dropdown-listBackground': '#ffffff', 'settings-dropdownListBorder': '#0f4a85',
  'input-background': '#ffffff', 'input-foreground': '#292929', 'input-placeholderForeground': 'rgba(41, 41, 41, 0.7)',
  'panelTitle-activeForeground': '#292929', 'panelTitle-activeBorder': '#b5200d',
  'panelTitle-inactiveForeground': '#292929', 'panel-background': '#ffffff', 'panel-border': '#0f4a85',
  'editorWidget-background': '#ffffff', 'editorHoverWidget-background': '#ffffff',
  'editorHoverWidget-foreground': '#292929', 'editorHoverWidget-border': '#292929',
  'inputValidation-warningBackground': '#ffffff', 'inputValidation-warningBorder': '#0f4a85',
  'inputValidation-errorBackground': '#ffffff', 'inputValidation-errorBorder': '#0f4a85', 'errorForeground': '#b5200d',
  'progressBar-background': '#0f4a85', 'widget-border': '#0f4a85', 'list-inactiveSelectionBackground': '#ffffff',
  'textLink-foreground': '#0f4a85', 'textLink-activeForeground': '#0f4a85',
  'scrollbarSlider-background': 'rgba(15, 74, 133, 0.4)', 'scrollbarSlider-hoverBackground': 'rgba(15, 74, 133, 0.8)',
  'scrollbarSlider-activeBackground': '#0f4a85',
};

/** The variables (names without `--vscode-`) of each test theme, by body class. */
export const THEME_VARS: Readonly<Record<ThemeClass, Readonly<Record<string, string>>>> = {
  'vscode-dark': DARK, 'vscode-light': LIGHT, 'vscode-high-contrast': HIGH_CONTRAST, 'vscode-high-contrast-light': HIGH_CONTRAST_LIGHT,
};

const COMMON: Record<string, string> = {
  'font-family': 'system-ui, "Segoe UI", "Ubuntu", "Droid Sans", sans-serif', 'font-size': '13px', 'font-weight': 'normal',
  'editor-font-family': '"DejaVu Sans Mono", "Liberation Mono", monospace', 'editor-font-size': '14px',
};

const block = (vars: Record<string, string>): string =>
  Object.entries(vars).map(([k, v]) => `  --vscode-${k}: ${v};`).join('\n');

/** The test stylesheet: common variables on :root, and each theme's set on :root when the body has its class. */
export const THEME_CSS = `:root {\n${block(COMMON)}\n}\n` + Object.entries(THEME_VARS)
  .map(([cls, vars]) => `:root:has(> body.${cls}) {\n${block(vars)}\n}\n`).join('');
