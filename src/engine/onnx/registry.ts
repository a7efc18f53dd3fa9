import type { OpDef } from './types.js';

const defs = new Map<string, OpDef>();

/** Op families call this at import; `ops/index.ts` imports every family once. */
export function register(...list: OpDef[]): void {
  for (const d of list) {
    if (defs.has(d.type)) throw new Error(`op ${d.type} is registered twice`);
    defs.set(d.type, d);
  }
}

export function opDef(type: string): OpDef | undefined {
  return defs.get(type);
}

export function registeredOps(): string[] {
  return [...defs.keys()].sort();
}
