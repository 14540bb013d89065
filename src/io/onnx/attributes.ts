/** A node's attributes by name, with ONNX's defaults. */
import type { AttributeProto, NodeProto } from './schema.js';

const utf8 = new TextDecoder();

export function attribute(node: NodeProto, name: string): AttributeProto | undefined {
  return (node.attribute ?? []).find((a) => a.name === name);
}

// A present attribute whose value is 0 has no `i` / `f` on the wire (protobuf omits defaults).
export function attrInt(node: NodeProto, name: string, fallback: number): number {
  const a = attribute(node, name);
  return a ? (a.i ?? 0) : fallback;
}

export function attrInts(node: NodeProto, name: string): number[] | undefined {
  return attribute(node, name)?.ints;
}

export function attrFloat(node: NodeProto, name: string, fallback: number): number {
  const a = attribute(node, name);
  return a ? (a.f ?? 0) : fallback;
}

export function attrString(node: NodeProto, name: string, fallback: string): string {
  const s = attribute(node, name)?.s;
  return s ? utf8.decode(s) : fallback;
}
