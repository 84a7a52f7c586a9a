// Plots for the reports: Observable Plot (the project's plotting library, also used by the webview)
// rendered to standalone SVG files in Node, with linkedom as the DOM (no browser needed).
import * as Plot from '@observablehq/plot';
import { parseHTML } from 'linkedom';

export type PlotOptions = Plot.PlotOptions;
export { Plot };

/** Renders Plot options to an SVG document string (no legends: they are HTML; label marks instead). */
export function renderSvg(options: PlotOptions): string {
  const { document } = parseHTML('<!doctype html><html><body></body></html>');
  const el = Plot.plot({ ...options, document: document as unknown as Document, style: { background: 'white', color: 'black' } }) as unknown as Element;
  if (el.tagName.toLowerCase() !== 'svg') throw new Error(`Plot returned <${el.tagName}>, not <svg> (legend: true makes a figure; use label marks)`);
  el.setAttribute('xmlns', 'http://www.w3.org/2000/svg');
  return `<?xml version="1.0" encoding="UTF-8"?>\n${el.outerHTML}\n`;
}
