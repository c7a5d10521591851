// The demo's story as a picture: the metric the HPA is served (keda_scaler_metrics_value) and
// that value per replica against the queryValue line, above the replicas over time (the
// StatefulSet's and what the HPA wants), with the phases of the story marked. Pure: samples in,
// one self-contained SVG document out.

export interface StorySample {
  /** Seconds since the story began. */
  t: number;
  /** keda_scaler_metrics_value; undefined while there is none. */
  value?: number;
  replicas: number;
  /** The HPA's desiredReplicas; undefined before its first sync. */
  desired?: number;
}

export interface StoryPhase {
  t: number;
  label: string;
}

export interface StoryChartOptions {
  title: string;
  metricName: string;
  queryValue: number;
  maxReplicas: number;
  phases: readonly StoryPhase[];
}

const WIDTH = 960;
const PLOT_LEFT = 64;
const PLOT_RIGHT = 200;
const TOP_PANEL = { top: 84, height: 250 };
const BOTTOM_PANEL = { top: 396, height: 170 };
const HEIGHT = 620;
/** Roughly how wide one character of a 12 px label is. */
const LABEL_CHAR_WIDTH = 7;
const COLORS = { value: '#1f6feb', perReplica: '#d97706', queryValue: '#cf222e', replicas: '#1a7f37', desired: '#6e7781', grid: '#d0d7de', text: '#24292f' };

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** A round step for an axis that has to reach `max` in about five steps: 1, 2, 5, 10, 20, ... */
export function niceStep(max: number): number {
  const rough = Math.max(max, 1) / 5;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  return [1, 2, 5, 10].map((m) => m * magnitude).find((step) => step >= rough) ?? 10 * magnitude;
}

function fmt(n: number): string {
  return String(Math.round(n * 10) / 10);
}

interface Scale {
  x(t: number): number;
  y(v: number): number;
}

function scale(tMax: number, vMax: number, panel: { top: number; height: number }): Scale {
  const plotWidth = WIDTH - PLOT_LEFT - PLOT_RIGHT;
  return {
    x: (t) => PLOT_LEFT + (t / Math.max(tMax, 1)) * plotWidth,
    y: (v) => panel.top + panel.height - (v / Math.max(vMax, 1e-9)) * panel.height,
  };
}

/** Consecutive points joined into paths; a gap in the data (undefined) ends a path. */
function linePaths(points: ReadonlyArray<[number, number | undefined]>, s: Scale, step: boolean): string[] {
  const paths: string[] = [];
  let current: string[] = [];
  let last: [number, number] | undefined;
  for (const [t, v] of points) {
    if (v === undefined) {
      if (current.length > 0) paths.push(current.join(' '));
      current = [];
      last = undefined;
      continue;
    }
    const x = s.x(t).toFixed(1);
    const y = s.y(v).toFixed(1);
    if (last === undefined) current.push(`M${x},${y}`);
    else if (step) current.push(`H${x}`, `V${y}`);
    else current.push(`L${x},${y}`);
    last = [t, v];
  }
  if (current.length > 0) paths.push(current.join(' '));
  return paths;
}

function axis(panel: { top: number; height: number }, s: Scale, vMax: number, unit: string): string[] {
  const out: string[] = [];
  const step = niceStep(vMax);
  for (let v = 0; v <= vMax + 1e-9; v += step) {
    const y = s.y(v).toFixed(1);
    out.push(`<line x1="${PLOT_LEFT}" y1="${y}" x2="${WIDTH - PLOT_RIGHT}" y2="${y}" stroke="${COLORS.grid}" stroke-width="1"/>`);
    out.push(`<text x="${PLOT_LEFT - 8}" y="${y}" text-anchor="end" dominant-baseline="middle" font-size="12" fill="${COLORS.text}">${fmt(v)}</text>`);
  }
  out.push(`<text x="16" y="${panel.top + panel.height / 2}" font-size="12" fill="${COLORS.text}" transform="rotate(-90 16 ${panel.top + panel.height / 2})" text-anchor="middle">${escapeXml(unit)}</text>`);
  return out;
}

function legend(x: number, y: number, entries: ReadonlyArray<{ color: string; label: string; dash?: string }>): string[] {
  return entries.flatMap((e, i) => {
    const yy = y + i * 20;
    return [
      `<line x1="${x}" y1="${yy}" x2="${x + 22}" y2="${yy}" stroke="${e.color}" stroke-width="3"${e.dash === undefined ? '' : ` stroke-dasharray="${e.dash}"`}/>`,
      `<text x="${x + 28}" y="${yy}" dominant-baseline="middle" font-size="12" fill="${COLORS.text}">${escapeXml(e.label)}</text>`,
    ];
  });
}

export function storyChart(samples: readonly StorySample[], options: StoryChartOptions): string {
  const tMax = Math.max(1, ...samples.map((s) => s.t));
  const perReplica = (s: StorySample): number | undefined => (s.value === undefined || s.replicas === 0 ? undefined : s.value / s.replicas);
  const vMax = Math.max(options.queryValue * 1.2, ...samples.map((s) => s.value ?? 0));
  const rMax = Math.max(options.maxReplicas + 1, ...samples.map((s) => Math.max(s.replicas, s.desired ?? 0)));
  const top = scale(tMax, vMax, TOP_PANEL);
  const bottom = scale(tMax, rMax, BOTTOM_PANEL);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="#ffffff"/>`,
    `<text x="${PLOT_LEFT}" y="30" font-size="18" font-weight="bold" fill="${COLORS.text}">${escapeXml(options.title)}</text>`,
    `<text x="${PLOT_LEFT}" y="${TOP_PANEL.top - 12}" font-size="13" fill="${COLORS.text}">${escapeXml(`${options.metricName}: the HPA wants value per replica at or below queryValue ${fmt(options.queryValue)}`)}</text>`,
    `<text x="${PLOT_LEFT}" y="${BOTTOM_PANEL.top - 12}" font-size="13" fill="${COLORS.text}">replicas</text>`,
    ...axis(TOP_PANEL, top, vMax, 'metric'),
    ...axis(BOTTOM_PANEL, bottom, rMax, 'replicas'),
  ];
  // A label that would run into the one before it goes a line lower.
  let lastEnd = -Infinity;
  let row = 0;
  for (const phase of options.phases) {
    const x = top.x(phase.t);
    row = x + 4 < lastEnd ? row + 1 : 0;
    lastEnd = x + 4 + phase.label.length * LABEL_CHAR_WIDTH;
    out.push(`<line x1="${x.toFixed(1)}" y1="${TOP_PANEL.top}" x2="${x.toFixed(1)}" y2="${BOTTOM_PANEL.top + BOTTOM_PANEL.height}" stroke="${COLORS.desired}" stroke-width="1" stroke-dasharray="2 4"/>`);
    out.push(`<text x="${(x + 4).toFixed(1)}" y="${TOP_PANEL.top + 14 + row * 15}" font-size="12" fill="${COLORS.text}">${escapeXml(phase.label)}</text>`);
  }
  const qy = top.y(options.queryValue).toFixed(1);
  out.push(`<line x1="${PLOT_LEFT}" y1="${qy}" x2="${WIDTH - PLOT_RIGHT}" y2="${qy}" stroke="${COLORS.queryValue}" stroke-width="2" stroke-dasharray="8 5"/>`);
  const my = bottom.y(options.maxReplicas).toFixed(1);
  out.push(`<line x1="${PLOT_LEFT}" y1="${my}" x2="${WIDTH - PLOT_RIGHT}" y2="${my}" stroke="${COLORS.queryValue}" stroke-width="1" stroke-dasharray="3 3"/>`);
  out.push(`<text x="${WIDTH - PLOT_RIGHT - 4}" y="${Number(my) - 6}" text-anchor="end" font-size="11" fill="${COLORS.queryValue}">maxReplicaCount ${options.maxReplicas}</text>`);
  const path = (d: string, color: string, dash?: string): string =>
    `<path d="${d}" fill="none" stroke="${color}" stroke-width="2.5" stroke-linejoin="round"${dash === undefined ? '' : ` stroke-dasharray="${dash}"`}/>`;
  for (const d of linePaths(samples.map((s) => [s.t, s.value]), top, false)) out.push(path(d, COLORS.value));
  for (const d of linePaths(samples.map((s) => [s.t, perReplica(s)]), top, false)) out.push(path(d, COLORS.perReplica));
  for (const d of linePaths(samples.map((s) => [s.t, s.desired]), bottom, true)) out.push(path(d, COLORS.desired, '6 4'));
  for (const d of linePaths(samples.map((s) => [s.t, s.replicas]), bottom, true)) out.push(path(d, COLORS.replicas));
  for (let t = 0; t <= tMax + 1e-9; t += niceStep(tMax)) {
    out.push(`<text x="${bottom.x(t).toFixed(1)}" y="${BOTTOM_PANEL.top + BOTTOM_PANEL.height + 18}" text-anchor="middle" font-size="12" fill="${COLORS.text}">${fmt(t)} s</text>`);
  }
  const legendX = WIDTH - PLOT_RIGHT + 16;
  out.push(
    ...legend(legendX, TOP_PANEL.top + 10, [
      { color: COLORS.value, label: 'metric value' },
      { color: COLORS.perReplica, label: 'value per replica' },
      { color: COLORS.queryValue, label: `queryValue ${fmt(options.queryValue)}`, dash: '8 5' },
    ]),
    ...legend(legendX, BOTTOM_PANEL.top + 10, [
      { color: COLORS.replicas, label: 'StatefulSet replicas' },
      { color: COLORS.desired, label: 'HPA desired', dash: '6 4' },
    ]),
    '</svg>',
  );
  return `${out.join('\n')}\n`;
}
