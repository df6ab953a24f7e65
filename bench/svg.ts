/** Two hand-drawn SVG charts (no dependency): grouped bars and a line chart. */
const esc = (s: string): string => s.replace(/[&<>]/g, (c) => `&#${c.charCodeAt(0)};`)
const COLORS = ['#8a8f98', '#1f6feb', '#d1242f', '#9a6700']
// One frame for both charts: 720×360, plot area inset by these margins.
const WIDTH = 720
const HEIGHT = 360
const LEFT = 70
const RIGHT = 20
const TOP = 50
const BOTTOM = 60
const PLOT_W = WIDTH - LEFT - RIGHT
const PLOT_H = HEIGHT - TOP - BOTTOM

/** Maps a value to the plot's y coordinate, with 0 at the bottom and `max` at the top. */
const yScale =
  (max: number) =>
  (v: number): number =>
    TOP + PLOT_H - (v / max) * PLOT_H

/** Horizontal grid lines with their labels, and the legend entries. */
function grid(max: number, digits: (v: number) => number): string[] {
  const y = yScale(max)
  const parts: string[] = []
  for (let t = 0; t <= 4; t++) {
    const v = (max * t) / 4
    parts.push(
      `<line x1="${LEFT}" x2="${WIDTH - RIGHT}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`,
      `<text x="${LEFT - 8}" y="${y(v) + 4}" text-anchor="end" font-size="11">${v.toFixed(digits(v))}</text>`,
    )
  }
  return parts
}

function legend(names: string[], colorOffset: number): string[] {
  return names.flatMap((name, i) => [
    `<rect x="${LEFT + i * 190}" y="${HEIGHT - 22}" width="12" height="12" fill="${COLORS[(i + colorOffset) % COLORS.length]}"/>`,
    `<text x="${LEFT + i * 190 + 18}" y="${HEIGHT - 12}" font-size="12">${esc(name)}</text>`,
  ])
}

export function barChart(
  title: string,
  unit: string,
  groups: string[],
  series: { name: string; values: number[] }[],
): string {
  const max = Math.max(...series.flatMap((s) => s.values.filter(Number.isFinite)), 1)
  const groupW = PLOT_W / groups.length
  const barW = (groupW * 0.8) / series.length
  const y = yScale(max)
  const parts = grid(max, (v) => (v < 10 ? 1 : 0))
  groups.forEach((group, g) => {
    const x0 = LEFT + g * groupW + groupW * 0.1
    series.forEach((s, i) => {
      const v = s.values[g] ?? NaN
      if (!Number.isFinite(v)) return
      const x = x0 + i * barW
      parts.push(
        `<rect x="${x}" y="${y(v)}" width="${barW - 2}" height="${TOP + PLOT_H - y(v)}" fill="${COLORS[i % COLORS.length]}"/>`,
        `<text x="${x + barW / 2}" y="${y(v) - 4}" text-anchor="middle" font-size="10">${v.toFixed(v < 10 ? 2 : 0)}</text>`,
      )
    })
    parts.push(
      `<text x="${LEFT + g * groupW + groupW / 2}" y="${HEIGHT - BOTTOM + 18}" text-anchor="middle" font-size="12">${esc(group)}</text>`,
    )
  })
  parts.push(
    ...legend(
      series.map((s) => s.name),
      0,
    ),
  )
  return svg(title, unit, parts)
}

export function lineChart(
  title: string,
  unit: string,
  xLabel: string,
  series: { name: string; points: [number, number][] }[],
): string {
  const all = series.flatMap((s) => s.points)
  const maxX = Math.max(...all.map((p) => p[0]), 1)
  const maxY = Math.max(...all.map((p) => p[1]), 1)
  const x = (v: number): number => LEFT + (v / maxX) * PLOT_W
  const y = yScale(maxY)
  const parts = grid(maxY, () => 0)
  for (let t = 0; t <= 4; t++) {
    const v = (maxX * t) / 4
    parts.push(
      `<text x="${x(v)}" y="${HEIGHT - BOTTOM + 18}" text-anchor="middle" font-size="11">${v.toFixed(0)}</text>`,
    )
  }
  parts.push(
    `<text x="${LEFT + PLOT_W / 2}" y="${HEIGHT - BOTTOM + 36}" text-anchor="middle" font-size="12">${esc(xLabel)}</text>`,
  )
  series.forEach((s, i) => {
    const d = s.points.map((p, k) => `${k === 0 ? 'M' : 'L'}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(' ')
    parts.push(`<path d="${d}" fill="none" stroke="${COLORS[(i + 1) % COLORS.length]}" stroke-width="2"/>`)
  })
  parts.push(
    ...legend(
      series.map((s) => s.name),
      1,
    ),
  )
  return svg(title, unit, parts)
}

function svg(title: string, unit: string, parts: string[]): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="system-ui, sans-serif">
<rect width="100%" height="100%" fill="#fff"/>
<text x="${WIDTH / 2}" y="24" text-anchor="middle" font-size="15" font-weight="600">${esc(title)}</text>
<text x="14" y="${HEIGHT / 2}" transform="rotate(-90 14 ${HEIGHT / 2})" text-anchor="middle" font-size="12">${esc(unit)}</text>
${parts.join('\n')}
</svg>
`
}

/** One series of a {@link timeChart} panel. */
export interface TimeSeries {
  name: string
  points: [number, number][]
  /** An index into the palette (grey, blue, red, amber). */
  color: number
  dashed?: boolean
}

const PANEL_H = 190
const PANEL_GAP = 46

/**
 * Line charts stacked over one time axis (e.g. the concurrency limit above, latency below), each
 * panel with its own y scale, unit and legend; `markers` draw labelled vertical lines across all.
 */
export function timeChart(
  title: string,
  xLabel: string,
  panels: { unit: string; series: TimeSeries[]; log?: boolean }[],
  markers: { x: number; label: string }[] = [],
): string {
  const height = TOP + panels.length * (PANEL_H + PANEL_GAP) + 20
  const { max: maxX, steps: xSteps } = niceCeiling(
    Math.max(...panels.flatMap((p) => p.series.flatMap((s) => s.points.map((q) => q[0]))), 1),
  )
  const x = (v: number): number => LEFT + (v / maxX) * PLOT_W
  const parts: string[] = []
  panels.forEach((panel, i) => {
    const top = TOP + i * (PANEL_H + PANEL_GAP)
    const values = panel.series.flatMap((s) => s.points.map((q) => q[1])).filter(Number.isFinite)
    let y: (v: number) => number
    let ticks: number[]
    if (panel.log === true) {
      // Decades from just below the smallest positive value to just above the largest.
      const positive = values.filter((v) => v > 0)
      const low = 10 ** Math.floor(Math.log10(Math.min(...positive, 1)))
      const high = 10 ** Math.ceil(Math.log10(Math.max(...positive, low * 10)))
      const span = Math.log10(high / low)
      y = (v) => top + PANEL_H - (Math.log10(Math.min(Math.max(v, low), high) / low) / span) * PANEL_H
      ticks = []
      for (let v = low; v <= high * 1.001; v *= 10) ticks.push(v, ...(v < high ? [v * 3] : []))
    } else {
      const { max: maxY, steps } = niceCeiling(Math.max(...values, 1))
      y = (v) => top + PANEL_H - (Math.min(v, maxY) / maxY) * PANEL_H
      ticks = Array.from({ length: steps + 1 }, (_, t) => (maxY * t) / steps)
    }
    for (const v of ticks) {
      parts.push(
        `<line x1="${LEFT}" x2="${WIDTH - RIGHT}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`,
        `<text x="${LEFT - 8}" y="${y(v) + 4}" text-anchor="end" font-size="11">${formatTick(v)}</text>`,
      )
    }
    for (let t = 0; t <= xSteps; t++) {
      const v = (maxX * t) / xSteps
      parts.push(
        `<text x="${x(v)}" y="${top + PANEL_H + 16}" text-anchor="middle" font-size="11">${v.toFixed(0)}</text>`,
      )
    }
    parts.push(
      `<text x="14" y="${top + PANEL_H / 2}" transform="rotate(-90 14 ${top + PANEL_H / 2})" text-anchor="middle" font-size="12">${esc(panel.unit)}</text>`,
    )
    for (const s of panel.series) {
      if (s.points.length === 0) continue
      const d = s.points.map((p, k) => `${k === 0 ? 'M' : 'L'}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(' ')
      parts.push(
        `<path d="${d}" fill="none" stroke="${COLORS[s.color % COLORS.length]}" stroke-width="${s.dashed ? 1.5 : 2}"${s.dashed ? ' stroke-dasharray="5 3"' : ''}/>`,
      )
    }
    // Legend along the top edge of the panel.
    let lx = LEFT
    for (const s of panel.series) {
      parts.push(
        `<line x1="${lx}" x2="${lx + 18}" y1="${top - 8}" y2="${top - 8}" stroke="${COLORS[s.color % COLORS.length]}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5 3"' : ''}/>`,
        `<text x="${lx + 23}" y="${top - 4}" font-size="11">${esc(s.name)}</text>`,
      )
      lx += 30 + s.name.length * 6
    }
    for (const [k, m] of markers.entries()) {
      parts.push(
        `<line x1="${x(m.x)}" x2="${x(m.x)}" y1="${top}" y2="${top + PANEL_H}" stroke="#555" stroke-dasharray="2 3"/>`,
      )
      if (i === 0) {
        // Staggered, so the labels of markers close together do not overlap.
        parts.push(
          `<text x="${x(m.x) + 4}" y="${top + 12 + (k % 3) * 12}" font-size="10" fill="#555">${esc(m.label)}</text>`,
        )
      }
    }
  })
  parts.push(
    `<text x="${LEFT + PLOT_W / 2}" y="${height - 8}" text-anchor="middle" font-size="12">${esc(xLabel)}</text>`,
  )
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="system-ui, sans-serif">
<rect width="100%" height="100%" fill="#fff"/>
<text x="${WIDTH / 2}" y="22" text-anchor="middle" font-size="15" font-weight="600">${esc(title)}</text>
${parts.join('\n')}
</svg>
`
}

/** The next round number (1, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 × 10ⁿ) at or above `v`, and how many grid steps divide it. */
const ROUND: readonly (readonly [number, number])[] = [
  [1, 5],
  [1.5, 3],
  [2, 4],
  [2.5, 5],
  [3, 3],
  [4, 4],
  [5, 5],
  [6, 3],
  [8, 4],
]
function niceCeiling(v: number): { max: number; steps: number } {
  const power = 10 ** Math.floor(Math.log10(v))
  for (const [step, steps] of ROUND) if (v <= step * power) return { max: step * power, steps }
  return { max: 10 * power, steps: 5 }
}

const formatTick = (v: number): string => (v >= 10 ? v.toFixed(0) : String(Number(v.toPrecision(2))))
