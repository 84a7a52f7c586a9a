// Seeded pseudo-random numbers for sampling. Pure 32-bit integer arithmetic (Math.imul, >>>, ^),
// so the same seed gives the same sequence on every machine and every JS engine.
//
// Algorithm
//   * Generator: xoshiro128** 1.1 (Blackman & Vigna, https://prng.di.unimi.it/xoshiro128starstar.c),
//     128-bit state s[0..3] (four uint32), period 2^128 − 1:
//         result = rotl(s1 * 5, 7) * 9
//         t = s1 << 9;  s2 ^= s0;  s3 ^= s1;  s1 ^= s2;  s0 ^= s3;  s2 ^= t;  s3 = rotl(s3, 11)
//   * Seeding: the four state words are the first four outputs of a 32-bit SplitMix-style generator
//     ("splitmix32") started at x = seed (uint32):
//         x = (x + 0x9E3779B9) mod 2^32;  z = x
//         z = (z ^ (z >>> 16)) * 0x21F0AAAD;  z = (z ^ (z >>> 15)) * 0x735A2D97;  z = z ^ (z >>> 15)
//     An all-zero state (the one invalid state) cannot be used; it is replaced by s = [1, 0, 0, 0]
//     (splitmix32 would have to emit four zeros in a row, which it never does for any seed in practice).
//   * Number seeds: must be integers; reduced mod 2^32 (negative seeds wrap, e.g. −1 ≡ 0xFFFFFFFF).
//     String seeds: 32-bit FNV-1a over the UTF-8 bytes (offset basis 0x811C9DC5, prime 0x01000193).
//   * nextFloat(): 53 random bits, uniform on [0, 1) in steps of 2^−53:
//         (a >>> 5) · 2^26 + (b >>> 6), divided by 2^53, where a, b are two consecutive nextUint32() outputs
//     (the same construction as genrand_res53 of the Mersenne Twister reference code).

export type Seed = number | string;

/** Four uint32 words of xoshiro128** state. */
export type RngState = readonly [number, number, number, number];

/** 32-bit FNV-1a of the UTF-8 bytes of `s`. */
export function fnv1a32(s: string): number {
  let h = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(s)) {
    h ^= byte;
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Seed → uint32. Integers are reduced mod 2^32; strings are hashed with FNV-1a. */
export function seedToUint32(seed: Seed): number {
  if (typeof seed === 'string') return fnv1a32(seed);
  if (!Number.isInteger(seed)) throw new RangeError(`seed must be an integer or a string, got ${seed}`);
  // Reduce mod 2^32 exactly, also beyond ±2^53 where `>>> 0` alone would still be exact for integers.
  const m = seed % 4294967296;
  return (m < 0 ? m + 4294967296 : m) >>> 0;
}

/** The four splitmix32 outputs used as xoshiro128** state for `seed`. */
export function splitmix32State(seed: Seed): [number, number, number, number] {
  let x = seedToUint32(seed);
  const out: number[] = [];
  for (let i = 0; i < 4; i++) {
    x = (x + 0x9e3779b9) >>> 0;
    let z = x;
    z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
    z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
    z = (z ^ (z >>> 15)) >>> 0;
    out.push(z);
  }
  return out as [number, number, number, number];
}

const TWO_POW_26 = 67108864;
const TWO_POW_53 = 9007199254740992;

/** xoshiro128** generator; see the header comment for the exact algorithm. */
export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  /** Seeds through splitmix32 (numbers mod 2^32, strings via FNV-1a). */
  constructor(seed: Seed = 0) {
    const [a, b, c, d] = splitmix32State(seed);
    this.s0 = a; this.s1 = b; this.s2 = c; this.s3 = d;
    this.fixZero();
  }

  /** A generator positioned exactly at `state` (e.g. one saved with `state()`), no seeding step. */
  static fromState(state: RngState): Rng {
    const r = new Rng(0);
    r.s0 = state[0] >>> 0; r.s1 = state[1] >>> 0; r.s2 = state[2] >>> 0; r.s3 = state[3] >>> 0;
    r.fixZero();
    return r;
  }

  private fixZero(): void {
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** Current state (four uint32), enough to reproduce the rest of the sequence via `Rng.fromState`. */
  state(): [number, number, number, number] {
    return [this.s0, this.s1, this.s2, this.s3];
  }

  /** Independent copy at the same position. */
  clone(): Rng {
    return Rng.fromState(this.state());
  }

  /** Next uint32 in [0, 2^32). */
  nextUint32(): number {
    const s1 = this.s1;
    const r = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    // Keep the stored words as uint32 (the xors above may leave int32 values; same bits).
    this.s0 >>>= 0; this.s1 >>>= 0; this.s2 >>>= 0; this.s3 >>>= 0;
    return r;
  }

  /** Uniform double in [0, 1) with 53 random bits (consumes two uint32 outputs). */
  nextFloat(): number {
    const a = this.nextUint32() >>> 5; // 27 bits
    const b = this.nextUint32() >>> 6; // 26 bits
    return (a * TWO_POW_26 + b) / TWO_POW_53;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
