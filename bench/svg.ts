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
