/**
 * Seeded random numbers for everything that must reproduce: test data, random weights, and
 * (later) synthesis seeds. mulberry32 is tiny and good enough for these; it is not for secrets.
 */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One standard normal sample (Box–Muller) from a uniform source. */
export function gaussian(r: () => number): number {
  const u = Math.max(r(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r());
}

export function randn(r: () => number, n: number): number[] {
  return Array.from({ length: n }, () => gaussian(r));
}

/** FNV-1a of a string: a reproducible seed per name. */
export function hashName(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/**
 * A uniform value in [-0.5, 0.5) that is a pure function of (seed, index): filler for benchmark
 * weights, where values do not matter but hundreds of millions of them must be cheap and repeatable.
 */
export function hashUniform(seed: number, index: number): number {
  let x = Math.imul(index ^ seed, 0x9e3779b1);
  x ^= x >>> 15;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  return (x >>> 0) / 2 ** 32 - 0.5;
}
