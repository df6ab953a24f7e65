import http from 'node:http'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import express from 'express'
import request from 'supertest'
import { hookResponse, type FinishedResponse } from '../src/response-hook'

function appWith(handler: express.RequestHandler, seen: FinishedResponse[]): express.Express {
  const app = express()
  app.use((_req, res, next) => {
    hookResponse(res, true, (finished) => seen.push(finished))
    next()
  })
  app.post('/', handler)
  return app
}

describe('hookResponse', () => {
  test('hands over the object given to res.json, after the response', async () => {
    const seen: FinishedResponse[] = []
    const app = appWith((_req, res) => void res.status(201).json({ id: 1 }), seen)
    await request(app).post('/').expect(201)
    while (seen.length < 1) await new Promise((resolve) => setImmediate(resolve))
    expect(seen).toEqual([{ statusCode: 201, body: { id: 1 } }])
  })

  test('res.send(object) and res.send(html) and res.end()', async () => {
    const seen: FinishedResponse[] = []
    const app = express()
    app.use((_req, res, next) => {
      hookResponse(res, true, (f) => seen.push(f))
      next()
    })
    app.post('/obj', (_req, res) => void res.send({ a: 1 }))
    app.post('/html', (_req, res) => void res.send('<p>thanks</p>'))
    app.post('/end', (_req, res) => void res.status(204).end())
    await request(app).post('/obj')
    await request(app).post('/html')
    await request(app).post('/end')
    while (seen.length < 3) await new Promise((resolve) => setImmediate(resolve))
    expect(seen).toEqual([
      { statusCode: 200, body: { a: 1 } },
      { statusCode: 200, body: undefined },
      { statusCode: 204, body: undefined },
    ])
  })

  test('a client that leaves before the handler answers: called when the handler ends the response', async () => {
    const seen: FinishedResponse[] = []
    let resolveGone: (res: express.Response) => void = () => undefined
    const clientGone = new Promise<express.Response>((resolve) => (resolveGone = resolve))
    // The handler answers only after the client has gone away (as a slow payment provider would).
    const server = http.createServer(appWith((_req, res) => void res.on('close', () => resolveGone(res)), seen))
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const { port } = server.address() as AddressInfo
    const req = http.request({ port, method: 'POST', path: '/' })
    req.on('error', () => undefined)
    req.end()
    req.on('socket', (socket) => socket.on('connect', () => setImmediate(() => req.destroy())))

    const res = await clientGone
    await new Promise((resolve) => setImmediate(resolve))
    expect(seen).toEqual([])
    res.status(201).json({ late: true })
    while (seen.length < 1) await new Promise((resolve) => setImmediate(resolve))
    expect(seen).toEqual([{ statusCode: 201, body: { late: true } }])
    server.close()
  })
})
