import type { Node } from './ir.js';

/**
 * Orders nodes so every value is produced before it is read (Kahn's algorithm, stable for graphs
 * that are already sorted, as ONNX requires). Throws naming a node on a cycle or a missing value.
 */
export function topoSort(nodes: readonly Node[], available: ReadonlySet<string>): Node[] {
  const producer = new Map<string, number>();
  nodes.forEach((n, i) => n.outputs.forEach((o) => o && producer.set(o, i)));
  const indegree = new Array<number>(nodes.length).fill(0);
  const readers: number[][] = nodes.map(() => []);
  nodes.forEach((n, i) => {
    for (const inp of new Set(n.inputs)) {
      if (inp === '' || available.has(inp)) continue;
      const p = producer.get(inp);
      if (p === undefined) throw new Error(`node ${n.name} (${n.opType}) reads ${inp}, which nothing produces`);
      indegree[i]!++;
      readers[p]!.push(i);
    }
  });
  const ready: number[] = [];
  indegree.forEach((d, i) => d === 0 && ready.push(i));
  const order: Node[] = [];
  // A min-heap would keep file order exactly; scanning ready in index order is enough in practice.
  while (ready.length > 0) {
    ready.sort((a, b) => a - b);
    const i = ready.shift()!;
    order.push(nodes[i]!);
    for (const r of readers[i]!) if (--indegree[r]! === 0) ready.push(r);
  }
  if (order.length !== nodes.length) {
    const stuck = nodes.find((_, i) => indegree[i]! > 0)!;
    throw new Error(`graph has a cycle through node ${stuck.name} (${stuck.opType})`);
  }
  return order;
}
