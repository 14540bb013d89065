/** Subgraphs of control-flow nodes (If, Loop, Scan) and the outer names they read. */
import type { AttributeProto, GraphProto, NodeProto } from './schema.js';

/** The subgraphs held by a node's attributes (If, Loop, Scan bodies). */
export function subgraphs(node: NodeProto): GraphProto[] {
  return (node.attribute ?? []).flatMap((a) => {
    const sub = a as AttributeProto & { g?: GraphProto; graphs?: GraphProto[] };
    return [...(sub.g ? [sub.g] : []), ...(sub.graphs ?? [])];
  });
}

/**
 * Names that a node's subgraphs read from the enclosing graph (implicit inputs): inputs of their
 * nodes, at any depth, that no subgraph input, initializer or node of that scope provides.
 */
export function capturedNames(node: NodeProto): string[] {
  const captured = new Set<string>();
  const scan = (graph: GraphProto, outer: Set<string>): void => {
    const local = new Set<string>([
      ...(graph.input ?? []).map((v) => v.name ?? ''),
      ...(graph.initializer ?? []).map((t) => t.name ?? ''),
      ...(graph.node ?? []).flatMap((n) => n.output ?? []),
    ]);
    for (const n of graph.node ?? []) {
      for (const i of n.input ?? []) if (i && !local.has(i)) outer.add(i);
      for (const g of subgraphs(n)) {
        const inner = new Set<string>();
        scan(g, inner);
        for (const i of inner) if (!local.has(i)) outer.add(i);
      }
    }
  };
  for (const g of subgraphs(node)) scan(g, captured);
  return [...captured];
}
