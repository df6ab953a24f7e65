import { Fifo } from '../src/queue'

describe('Fifo', () => {
  test('keeps order across push, shift and unshift, and compacts without losing items', () => {
    const q = new Fifo<number>()
    for (let i = 0; i < 5000; i++) q.push(i)
    const out: number[] = []
    for (let i = 0; i < 3000; i++) out.push(q.shift() as number)
    q.unshift(-1)
    q.unshift(-2)
    expect(q.length).toBe(2002)
    expect(q.shift()).toBe(-2)
    expect(q.shift()).toBe(-1)
    expect(q.shift()).toBe(3000)
    expect(out.slice(0, 3)).toEqual([0, 1, 2])
    expect(q.drain()).toHaveLength(1999)
    expect(q.length).toBe(0)
    expect(q.shift()).toBeUndefined()
    q.unshift(7)
    expect(q.shift()).toBe(7)
  })
})
