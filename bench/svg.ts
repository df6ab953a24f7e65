/** Two hand-drawn SVG charts (no dependency): grouped bars and a line chart. */
const esc = (s: string): string => s.replace(/[&<>]/g, (c) => `&#${c.charCodeAt(0)};`)
const COLORS = ['#8a8f98', '#1f6feb', '#d1242f', '#9a6700']

export function barChart(
  title: string,
  unit: string,
  groups: string[],
  series: { name: string; values: number[] }[],
): string {
  const width = 720
  const height = 360
  const left = 70
  const bottom = 60
  const top = 50
  const plotH = height - top - bottom
  const max = Math.max(...series.flatMap((s) => s.values.filter(Number.isFinite)), 1)
  const groupW = (width - left - 20) / groups.length
  const barW = (groupW * 0.8) / series.length
  const y = (v: number): number => top + plotH - (v / max) * plotH
  const parts: string[] = []
  for (let t = 0; t <= 4; t++) {
    const v = (max * t) / 4
    parts.push(
      `<line x1="${left}" x2="${width - 20}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`,
      `<text x="${left - 8}" y="${y(v) + 4}" text-anchor="end" font-size="11">${v.toFixed(v < 10 ? 1 : 0)}</text>`,
    )
  }
  groups.forEach((group, g) => {
    const x0 = left + g * groupW + groupW * 0.1
    series.forEach((s, i) => {
      const v = s.values[g] ?? NaN
      if (!Number.isFinite(v)) return
      const x = x0 + i * barW
      parts.push(
        `<rect x="${x}" y="${y(v)}" width="${barW - 2}" height="${top + plotH - y(v)}" fill="${COLORS[i % COLORS.length]}"/>`,
        `<text x="${x + barW / 2}" y="${y(v) - 4}" text-anchor="middle" font-size="10">${v.toFixed(v < 10 ? 2 : 0)}</text>`,
      )
    })
    parts.push(
      `<text x="${left + g * groupW + groupW / 2}" y="${height - bottom + 18}" text-anchor="middle" font-size="12">${esc(group)}</text>`,
    )
  })
  series.forEach((s, i) => {
    parts.push(
      `<rect x="${left + i * 190}" y="${height - 22}" width="12" height="12" fill="${COLORS[i % COLORS.length]}"/>`,
      `<text x="${left + i * 190 + 18}" y="${height - 12}" font-size="12">${esc(s.name)}</text>`,
    )
  })
  return svg(width, height, title, unit, parts)
}

export function lineChart(
  title: string,
  unit: string,
  xLabel: string,
  series: { name: string; points: [number, number][] }[],
): string {
  const width = 720
  const height = 360
  const left = 70
  const bottom = 60
  const top = 50
  const plotW = width - left - 20
  const plotH = height - top - bottom
  const all = series.flatMap((s) => s.points)
  const maxX = Math.max(...all.map((p) => p[0]), 1)
  const maxY = Math.max(...all.map((p) => p[1]), 1)
  const x = (v: number): number => left + (v / maxX) * plotW
  const y = (v: number): number => top + plotH - (v / maxY) * plotH
  const parts: string[] = []
  for (let t = 0; t <= 4; t++) {
    const v = (maxY * t) / 4
    parts.push(
      `<line x1="${left}" x2="${width - 20}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`,
      `<text x="${left - 8}" y="${y(v) + 4}" text-anchor="end" font-size="11">${v.toFixed(0)}</text>`,
      `<text x="${x((maxX * t) / 4)}" y="${height - bottom + 18}" text-anchor="middle" font-size="11">${((maxX * t) / 4).toFixed(0)}</text>`,
    )
  }
  parts.push(
    `<text x="${left + plotW / 2}" y="${height - bottom + 36}" text-anchor="middle" font-size="12">${esc(xLabel)}</text>`,
  )
  series.forEach((s, i) => {
    const d = s.points.map((p, k) => `${k === 0 ? 'M' : 'L'}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(' ')
    parts.push(
      `<path d="${d}" fill="none" stroke="${COLORS[(i + 1) % COLORS.length]}" stroke-width="2"/>`,
      `<rect x="${left + i * 190}" y="${height - 22}" width="12" height="12" fill="${COLORS[(i + 1) % COLORS.length]}"/>`,
      `<text x="${left + i * 190 + 18}" y="${height - 12}" font-size="12">${esc(s.name)}</text>`,
    )
  })
  return svg(width, height, title, unit, parts)
}

function svg(width: number, height: number, title: string, unit: string, parts: string[]): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif">
<rect width="100%" height="100%" fill="#fff"/>
<text x="${width / 2}" y="24" text-anchor="middle" font-size="15" font-weight="600">${esc(title)}</text>
<text x="14" y="${height / 2}" transform="rotate(-90 14 ${height / 2})" text-anchor="middle" font-size="12">${esc(unit)}</text>
${parts.join('\n')}
</svg>
`
}
