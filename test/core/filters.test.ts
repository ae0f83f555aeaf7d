import { describe, expect, it } from 'vitest'
import { matches, parseFilter, parseFilters } from '../../core/filters.js'

type Rec = Record<string, string | undefined>
const read = (r: Rec, path: string[]) => r[path.join('.')]

describe('parseFilter()', () => {
  it('parses a field alone as "present"', () => {
    expect(parseFilter('labels.l')).toEqual([{ fieldpath: ['labels', 'l'], op: 'present', value: '' }])
  })

  it('parses quoted field names with dots and slashes', () => {
    expect(parseFilter('labels."containerd.io/gc.root"==x')[0].fieldpath).toEqual(['labels', 'containerd.io/gc.root'])
    expect(parseFilter('labels.`raw\\name`==x')[0].fieldpath).toEqual(['labels', 'raw\\name'])
  })

  it('parses quoted values with escapes and the empty string', () => {
    expect(parseFilter('parent!=""')[0]).toMatchObject({ op: '!=', value: '' })
    expect(parseFilter('name=="a,b \\"c\\" \\u00e9"')[0].value).toBe('a,b "c" é')
  })

  it('splits selectors on commas and skips blanks', () => {
    expect(parseFilter(' kind == active , name ~= ^a ').map((s) => s.op)).toEqual(['==', '~='])
  })

  it.each(['name==', '==x', 'name==a,', ',', 'labels."open', 'name~=(', 'name=x', 'a b', '.x', 'name=="\\q"'])(
    'rejects %j with ERR_INVALID_ARGUMENT',
    (bad) => {
      expect(() => parseFilter(bad)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }))
    },
  )

  it('rejects a non-array filter list', () => {
    expect(() => parseFilters('name==x' as unknown as string[])).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }))
  })
})

describe('matches()', () => {
  const rec: Rec = { name: 'abc', parent: '', 'labels.a': '1' }
  it('ANDs selectors and ORs filters', () => {
    expect(matches(parseFilters(['name==abc,labels.a==1']), rec, read)).toBe(true)
    expect(matches(parseFilters(['name==abc,labels.a==2']), rec, read)).toBe(false)
    expect(matches(parseFilters(['name==x', 'labels.a']), rec, read)).toBe(true)
  })
  it('treats a missing field as "" for != and as no match for == and ~=', () => {
    expect(matches(parseFilters(['labels.b!=x']), rec, read)).toBe(true)
    expect(matches(parseFilters(['labels.b==""']), rec, read)).toBe(false)
    expect(matches(parseFilters(['labels.b~=.*']), rec, read)).toBe(false)
    expect(matches(parseFilters(['parent!=""']), rec, read)).toBe(false)
  })
  it('matches regular expressions unanchored, like Go', () => {
    expect(matches(parseFilters(['name~=b']), rec, read)).toBe(true)
    expect(matches(parseFilters(['name~=^b']), rec, read)).toBe(false)
  })
  it('matches everything with no filters or an empty one', () => {
    expect(matches(parseFilters([]), rec, read)).toBe(true)
    expect(matches(parseFilters(['']), rec, read)).toBe(true)
  })
})
