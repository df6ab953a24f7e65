/**
 * The progress bar of long operations (`outbox retry --all`): cli-progress on stderr, only when
 * stderr is a terminal and the output is not `--json`; otherwise it does nothing.
 */
import { Presets, SingleBar } from 'cli-progress'
import type { Output } from './output'

export interface Progress {
  /** `done` more items finished (the total grows if the work turns out bigger than announced). */
  advance(done: number): void
  /** Removes nothing: leaves the finished bar on its line. Idempotent. */
  stop(): void
}

const SILENT: Progress = { advance: () => {}, stop: () => {} }

export function progressBar(output: Output, total: number, label: string): Progress {
  if (output.json || output.io.stderr.isTTY !== true) return SILENT
  const bar = new SingleBar(
    {
      stream: output.io.stderr,
      format: `{bar} {value}/{total} ${label} ({percentage}%, {eta_formatted} left)`,
      hideCursor: true,
      etaBuffer: 20,
    },
    Presets.shades_classic,
  )
  let value = 0
  let shown = Math.max(total, 0)
  let stopped = false
  bar.start(shown, 0)
  return {
    advance(done) {
      value += done
      if (value > shown) {
        shown = value
        bar.setTotal(shown)
      }
      bar.update(value)
    },
    stop() {
      if (stopped) return
      stopped = true
      bar.stop()
    },
  }
}
