// Selection arithmetic the specs check reads and writes with (an independent model of
// the library's C-order layout, kept out of the library itself).

/** The coordinates (C order) of flat element `i` of an array of `shape`. */
export function unravel(i: number, shape: number[]): number[] {
  const out: number[] = []
  for (let k = shape.length - 1; k >= 0; k--) {
    out.unshift(shape[k] === 0 ? 0 : i % shape[k])
    i = shape[k] === 0 ? 0 : Math.floor(i / shape[k])
  }
  return out
}

/**
 * Flat (C order) offsets in an array of `shape` of every element a selection covers,
 * given the selected coordinates along each axis, in selection order.
 */
export function flatOffsets(shape: number[], coords: number[][]): number[] {
  let offs = [0]
  for (let a = 0; a < shape.length; a++) {
    const next: number[] = []
    for (const o of offs) for (const c of coords[a]) next.push(o * shape[a] + c)
    offs = next
  }
  return offs
}
