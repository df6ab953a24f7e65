import { normalizeCountry } from '../src/country'

describe('normalizeCountry', () => {
  test.each([
    ['Germany', 'DE'],
    ['germania', 'DE'],
    ['Deutschland', 'DE'],
    ['DEU', 'DE'],
    ['de', 'DE'],
    [' it ', 'IT'],
    ['Italia', 'IT'],
    ['italy', 'IT'],
    ['Allemagne', 'DE'],
    ['España', 'ES'],
    ['espana', 'ES'],
    ['United Kingdom', 'GB'],
    ['UK', 'GB'],
    ['gbr', 'GB'],
    ['Frankreich', 'FR'],
    ["Côte d'Ivoire", 'CI'],
    ['IT', 'IT'],
    ['iT', 'IT'],
    ['Deu', 'DE'],
    ['GERMANY', 'DE'],
    ['ITALIA', 'IT'],
    ['U.K.', 'GB'],
    ['united  kingdom', 'GB'],
    ['ÖSTERREICH', 'AT'],
  ])('%j → %s', (input, code) => {
    expect(normalizeCountry(input)).toBe(code)
  })

  test.each([['Space'], [''], ['Atlantis'], ['XX'], ['  '], [42], [null], [undefined], ['x'.repeat(1000)]])(
    '%j is not a country',
    (input) => {
      expect(normalizeCountry(input)).toBeUndefined()
    },
  )
})
