/**
 * A consistent-hash ring: every member owns `virtualNodes` points on a 32-bit circle, placed by
 * hashing its name, and a key belongs to the member owning the first point at or after the key's
 * hash (wrapping around). A member's points depend only on its own name, so when a member joins it
 * takes only keys that now fall just before its points, and when one leaves only its keys move
 * (to the next points clockwise); every other key stays where it was.
 */

/**
 * A 32-bit hash of a string's UTF-16 code units: FNV-1a, then murmur3's finalizer so that names
 * differing in their last characters (`host:8001#7`, `host:8002#7`) land far apart on the ring.
 * The same string hashes the same in every process, so every client maps a key to the same member.
 */
export function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The points of the member named `name`: the hashes of `name#0` ... `name#(virtualNodes-1)`. */
export function ringPoints(name: string, virtualNodes: number): Uint32Array {
  const points = new Uint32Array(virtualNodes);
  for (let i = 0; i < virtualNodes; i++) points[i] = hashString(`${name}#${i}`);
  return points;
}

export class HashRing<T> {
  /**
   * Every point as `hash * members + member index`, sorted: one Float64Array (exact below 2^53, so
   * up to 2^21 members) instead of an array of pairs, so a lookup is a binary search over numbers.
   */
  private readonly points: Float64Array;

  constructor(
    private readonly members: readonly T[],
    pointsOf: (member: T) => Uint32Array,
  ) {
    const m = members.length;
    let total = 0;
    const each = members.map((member) => {
      const p = pointsOf(member);
      total += p.length;
      return p;
    });
    const points = new Float64Array(total);
    let at = 0;
    each.forEach((p, index) => {
      for (let i = 0; i < p.length; i++) points[at++] = (p[i] as number) * m + index;
    });
    this.points = points.sort();
  }

  get size(): number {
    return this.members.length;
  }

  /** The member owning `hash` (a 32-bit unsigned integer), or `undefined` on an empty ring. */
  lookup(hash: number): T | undefined {
    const points = this.points;
    const m = this.members.length;
    if (points.length === 0) return undefined;
    const target = hash * m;
    let lo = 0;
    let hi = points.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((points[mid] as number) < target) lo = mid + 1;
      else hi = mid;
    }
    const point = points[lo === points.length ? 0 : lo] as number;
    return this.members[point % m];
  }
}
