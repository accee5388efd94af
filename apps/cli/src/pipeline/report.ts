/** One row of report.json: a model of the pipeline and its figures. */
export interface ReportRow {
  name: string;
  parameters: number;
  /** Parameters that are not 0, for a model pruned by magnitude whose zeros are still stored. */
  nonzeroParameters?: number;
  modelBytes: number;
  testAccuracy?: number;
  testErrors?: number;
  valLoss?: number;
  latencyMsBatch1: number;
  samplesPerSecBatch256: number;
  tokensPerSec?: number;
  /** Training time; absent for rows made without training, such as a quantised copy. */
  trainWallSeconds?: number;
}

/** report.json: the models of a pipeline, teacher first, with how they were measured. */
export interface Report {
  models: ReportRow[];
  /** onnxruntime threads of the latency and throughput measurements. */
  threads: number;
}

const fmt = (value: number | undefined, digits: number) => (value === undefined ? '' : value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }));

/** Renders the report as a Markdown table, one row per model. */
export function reportMarkdown(report: Report): string {
  const lm = report.models.some((r) => r.valLoss !== undefined && r.testErrors === undefined);
  const head = lm
    ? '| model | parameters | model bytes | val loss | latency ms, batch 1 | tokens/s, batch 256 | training s |'
    : '| model | parameters | model bytes | test errors | test accuracy | latency ms, batch 1 | samples/s, batch 256 | training s |';
  const lines = [
    '# Large against small',
    '',
    `Latency and throughput of each exported model.onnx with ${report.threads} onnxruntime thread(s), medians of repeated runs.`,
    '',
    head,
    head.replace(/[^|]+/g, ' --- '),
  ];
  for (const r of report.models) {
    const nonzero = r.nonzeroParameters === undefined ? '' : ` (${r.nonzeroParameters.toLocaleString('en-US')} nonzero)`;
    // A | inside a cell would end it, so the name escapes it as Markdown tables require.
    const common = `| ${r.name.replace(/\|/g, '\\|')} | ${r.parameters.toLocaleString('en-US')}${nonzero} | ${r.modelBytes.toLocaleString('en-US')} |`;
    lines.push(
      lm
        ? `${common} ${fmt(r.valLoss, 4)} | ${fmt(r.latencyMsBatch1, 3)} | ${fmt(r.tokensPerSec, 0)} | ${fmt(r.trainWallSeconds, 1)} |`
        : `${common} ${r.testErrors ?? ''} | ${fmt(r.testAccuracy === undefined ? undefined : r.testAccuracy * 100, 2)}% | ${fmt(r.latencyMsBatch1, 3)} | ${fmt(r.samplesPerSecBatch256, 0)} | ${fmt(r.trainWallSeconds, 1)} |`,
    );
  }
  return lines.join('\n') + '\n';
}

/**
 * Renders a scatter plot of test errors (or validation loss) against model bytes, on a log axis
 * for the size, as a standalone SVG. Bytes, not parameters, so that a quantised copy sits left
 * of its float original.
 */
export function reportSvg(report: Report): string {
  const [w, h, pad] = [640, 400, 60];
  const metric = (r: ReportRow) => r.testErrors ?? r.valLoss ?? 0;
  const label = report.models.some((r) => r.testErrors !== undefined) ? 'test errors' : 'validation loss';
  const xs = report.models.map((r) => Math.log10(Math.max(1, r.modelBytes)));
  const ys = report.models.map(metric);
  const [x0, x1] = [Math.min(...xs) - 0.1, Math.max(...xs) + 0.1];
  const [y0, y1] = [Math.min(0, ...ys), Math.max(...ys) * 1.15 || 1];
  const px = (x: number) => pad + ((x - x0) / (x1 - x0)) * (w - 2 * pad);
  const py = (y: number) => h - pad - ((y - y0) / (y1 - y0)) * (h - 2 * pad);
  const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const points = report.models
    .map((r, i) => {
      const [cx, cy] = [px(xs[i]!), py(ys[i]!)];
      // Models of the same size (a student and its distilled twin) get their labels stacked.
      const above = xs.slice(0, i).filter((x) => x === xs[i]).length;
      return `<circle cx="${cx.toFixed(1)}" cy="${cy.toFixed(1)}" r="5" fill="#1f77b4"/>` +
        `<text x="${(cx + 8).toFixed(1)}" y="${(cy - 8 - 14 * above).toFixed(1)}" font-size="12">${escape(r.name)} (${metric(r)})</text>`;
    })
    .join('\n  ');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" font-family="sans-serif">
  <rect width="${w}" height="${h}" fill="white"/>
  <line x1="${pad}" y1="${h - pad}" x2="${w - pad}" y2="${h - pad}" stroke="black"/>
  <line x1="${pad}" y1="${pad}" x2="${pad}" y2="${h - pad}" stroke="black"/>
  <text x="${w / 2}" y="${h - 20}" text-anchor="middle" font-size="13">model bytes (log scale)</text>
  <text x="20" y="${h / 2}" transform="rotate(-90 20 ${h / 2})" text-anchor="middle" font-size="13">${label}</text>
  ${points}
</svg>
`;
}
