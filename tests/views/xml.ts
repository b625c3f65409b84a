/**
 * A strict little XML reader for the pictures' tests: elements, attributes in double or single
 * quotes, text, and the five named entities plus numeric ones. Anything else (an unclosed or
 * crossed tag, a bare '&' or '<', a duplicate attribute, text outside the root) throws, so a
 * picture that parses here is well-formed XML.
 */

export interface IXmlElement {
  name: string;
  attrs: Record<string, string>;
  children: (IXmlElement | string)[];
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function isNameChar(char: string): boolean {
  return /[A-Za-z0-9_:.-]/.test(char);
}

export function parseXml(text: string): IXmlElement {
  let at = 0;
  const fail = (why: string): never => {
    throw new Error(
      `not well-formed at ${at}: ${why} (…${text.slice(Math.max(at - 40, 0), at + 40)}…)`
    );
  };

  const decode = (raw: string): string => {
    let out = '';
    for (let i = 0; i < raw.length; i++) {
      if (raw[i] === '<') {
        fail('a bare < in text or an attribute');
      }
      if (raw[i] !== '&') {
        out += raw[i];
        continue;
      }
      const end = raw.indexOf(';', i);
      if (end < 0) {
        fail('a bare &');
      }
      const entity = raw.slice(i + 1, end);
      if (entity.startsWith('#x')) {
        out += String.fromCodePoint(parseInt(entity.slice(2), 16));
      } else if (entity.startsWith('#')) {
        out += String.fromCodePoint(parseInt(entity.slice(1), 10));
      } else if (entity in ENTITIES) {
        out += ENTITIES[entity];
      } else {
        fail(`unknown entity &${entity};`);
      }
      i = end;
    }
    return out;
  };

  const readName = (): string => {
    const start = at;
    while (at < text.length && isNameChar(text[at])) {
      at++;
    }
    if (at === start) {
      fail('expected a name');
    }
    return text.slice(start, at);
  };

  const skipSpace = () => {
    while (at < text.length && /\s/.test(text[at])) {
      at++;
    }
  };

  const readElement = (): IXmlElement => {
    if (text[at] !== '<') {
      fail('expected <');
    }
    at++;
    const element: IXmlElement = { name: readName(), attrs: {}, children: [] };
    for (;;) {
      skipSpace();
      if (text.startsWith('/>', at)) {
        at += 2;
        return element;
      }
      if (text[at] === '>') {
        at++;
        break;
      }
      const name = readName();
      if (name in element.attrs) {
        fail(`attribute ${name} twice`);
      }
      skipSpace();
      if (text[at] !== '=') {
        fail('expected =');
      }
      at++;
      skipSpace();
      const quote = text[at];
      if (quote !== '"' && quote !== "'") {
        fail('expected a quoted value');
      }
      const end = text.indexOf(quote, at + 1);
      if (end < 0) {
        fail('unterminated attribute');
      }
      element.attrs[name] = decode(text.slice(at + 1, end));
      at = end + 1;
    }
    for (;;) {
      const next = text.indexOf('<', at);
      if (next < 0) {
        fail(`<${element.name}> is never closed`);
      }
      if (next > at) {
        element.children.push(decode(text.slice(at, next)));
      }
      at = next;
      if (text.startsWith('</', at)) {
        at += 2;
        const name = readName();
        if (name !== element.name) {
          fail(`</${name}> closes <${element.name}>`);
        }
        skipSpace();
        if (text[at] !== '>') {
          fail('expected >');
        }
        at++;
        return element;
      }
      if (text.startsWith('<!', at) || text.startsWith('<?', at)) {
        fail('comments, declarations and processing instructions are not expected');
      }
      element.children.push(readElement());
    }
  };

  skipSpace();
  const root = readElement();
  skipSpace();
  if (at !== text.length) {
    fail('content after the root element');
  }
  return root;
}

/** Every element of the tree, the root first, in document order. */
export function allElements(root: IXmlElement): IXmlElement[] {
  return [
    root,
    ...root.children.flatMap(child => (typeof child === 'string' ? [] : allElements(child)))
  ];
}

export function hasClass(element: IXmlElement, className: string): boolean {
  return (element.attrs.class ?? '').split(/\s+/).includes(className);
}

export function byClass(root: IXmlElement, className: string): IXmlElement[] {
  return allElements(root).filter(element => hasClass(element, className));
}

/** The text of an element and everything in it, as a reader sees it. */
export function textOf(element: IXmlElement): string {
  return element.children
    .map(child => (typeof child === 'string' ? child : textOf(child)))
    .join('');
}
