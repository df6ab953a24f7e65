// The package's timers never keep a finished process alive on their own: with the API down and a
// retry scheduled, a shop process whose server has closed exits by itself.
import { execFile } from 'node:child_process'
import path from 'node:path'

const script = `
const http = require('node:http')
const express = require('express')
const pino = require('pino')
const { transactionaleTouchpoint } = require('./src')
const touchpoint = transactionaleTouchpoint({
  apiKey: 'k', route: '/checkout', endpoint: 'http://127.0.0.1:9/api/v1/transaction',
  logger: pino({ level: 'silent' }), retry: { baseDelayMs: 60000, maxDelayMs: 60000 },
})
const app = express()
app.use(touchpoint)
app.post('/checkout', (req, res) => {
  res.locals.transactionale = { email: 'a@example.org', firstName: 'A', country: 'IT' }
  res.json({ ok: true })
})
const server = app.listen(0, '127.0.0.1', () => {
  const req = http.request({ port: server.address().port, method: 'POST', path: '/checkout', agent: false }, (res) => {
    res.resume()
    res.on('end', () => {
      const wait = setInterval(() => {
        if (touchpoint.stats().state !== 'paused') return
        clearInterval(wait)
        console.log(JSON.stringify(touchpoint.stats()))
        server.close()
      }, 5)
    })
  })
  req.end()
})
`

test('a scheduled retry does not keep the process alive', async () => {
  const root = path.resolve(__dirname, '..')
  const output = await new Promise<string>((resolve, reject) => {
    execFile(
      process.execPath,
      ['-r', 'ts-node/register/transpile-only', '-e', script],
      { cwd: root, timeout: 30_000, env: { ...process.env, TS_NODE_TRANSPILE_ONLY: 'true' } },
      (error, stdout) => (error ? reject(new Error(`child failed: ${error.message}`)) : resolve(stdout)),
    )
  })
  // It exited on its own (execFile would have killed it at the timeout) with the retry still queued.
  expect(JSON.parse(output)).toMatchObject({ state: 'paused', queued: 1, sent: 0, failed: 0 })
}, 40_000)
