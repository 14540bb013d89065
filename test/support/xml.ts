/**
 * A small strict XML reader for tests (no dependency): elements, quoted attributes, text, comments,
 * the XML declaration. It throws on anything not well formed — an unclosed or mismatched tag, an
 * unquoted or repeated attribute, a bare `&` or `<` in text — so a test can assert "valid XML".
 */
export interface XmlElement {
  name: string;
  attributes: Record<string, string>;
  children: XmlElement[];
  text: string;
}

const NAME = /^[A-Za-z_:][\w:.-]*/;
const ENTITY = /^&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/;

function checkText(text: string, where: number): void {
  for (let i = text.indexOf('&'); i >= 0; i = text.indexOf('&', i + 1)) {
    if (!ENTITY.test(text.slice(i))) throw new Error(`bare '&' at ${where + i}`);
  }
}

/** Parse a whole document and return its root element. */
export function parseXml(source: string): XmlElement {
  let i = 0;
  const stack: XmlElement[] = [];
  let root: XmlElement | null = null;
  const fail = (what: string): never => {
    throw new Error(`${what} at offset ${i}`);
  };
  if (source.startsWith('<?xml')) i = source.indexOf('?>') + 2;
  while (i < source.length) {
    const lt = source.indexOf('<', i);
    const text = source.slice(i, lt < 0 ? source.length : lt);
    checkText(text, i);
    if (text.trim() !== '') {
      if (!stack.length) fail('text outside the root');
      stack[stack.length - 1].text += text;
    }
    if (lt < 0) break;
    i = lt;
    if (source.startsWith('<!--', i)) {
      const end = source.indexOf('-->', i);
      if (end < 0) fail('unclosed comment');
      i = end + 3;
    } else if (source.startsWith('</', i)) {
      const name = NAME.exec(source.slice(i + 2))?.[0] ?? fail('bad closing tag');
      const open = stack.pop() ?? fail(`closing </${name}> with nothing open`);
      if (open.name !== name) fail(`</${name}> closes <${open.name}>`);
      i = source.indexOf('>', i) + 1;
      if (i === 0) fail('unterminated closing tag');
    } else {
      i++;
      const name = NAME.exec(source.slice(i))?.[0] ?? fail('bad tag name');
      i += name.length;
      const node: XmlElement = { name, attributes: {}, children: [], text: '' };
      for (;;) {
        const rest = source.slice(i);
        const space = /^\s*/.exec(rest)![0].length;
        i += space;
        if (source.startsWith('/>', i) || source[i] === '>') break;
        if (space === 0) fail('attributes must be separated by spaces');
        const attr = /^([A-Za-z_:][\w:.-]*)\s*=\s*"([^"<]*)"/.exec(source.slice(i)) ?? fail('bad attribute');
        if (attr[1] in node.attributes) fail(`repeated attribute ${attr[1]}`);
        checkText(attr[2], i);
        node.attributes[attr[1]] = attr[2];
        i += attr[0].length;
      }
      if (stack.length) stack[stack.length - 1].children.push(node);
      else if (root) fail('a second root element');
      else root = node;
      if (source[i] === '>') stack.push(node);
      i += source[i] === '>' ? 1 : 2;
    }
  }
  if (stack.length) throw new Error(`<${stack[stack.length - 1].name}> is never closed`);
  if (!root) throw new Error('no root element');
  return root;
}

/** Every element under `node` (itself included) named `name`. */
export function findAll(node: XmlElement, name: string): XmlElement[] {
  return [...(node.name === name ? [node] : []), ...node.children.flatMap((c) => findAll(c, name))];
}
