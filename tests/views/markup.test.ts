import assert from 'node:assert/strict';
import { test } from 'node:test';

import { h, markupToString } from '../../src/lab/views/markup';
import { HOSTILE_NAME } from './fixtures';
import { parseXml, textOf } from './xml';

test('text and attribute values are escaped and read back unchanged', () => {
  const xml = markupToString(
    h(
      'div',
      { 'data-name': HOSTILE_NAME, title: HOSTILE_NAME },
      HOSTILE_NAME,
      h('b', {}, HOSTILE_NAME)
    )
  );
  assert.ok(!xml.includes(HOSTILE_NAME), 'the raw name never appears in the markup');
  const root = parseXml(xml);
  assert.equal(root.attrs['data-name'], HOSTILE_NAME);
  assert.equal(root.attrs.title, HOSTILE_NAME);
  assert.equal(textOf(root), HOSTILE_NAME + HOSTILE_NAME);
});

test('characters XML cannot hold become U+FFFD and the picture stays well-formed', () => {
  const name = 'conv\u0000\u0007\uD800x\uFFFF';
  const root = parseXml(markupToString(h('svg', {}, h('text', { 'data-name': name }, name))));
  const text = root.children[0];
  assert.ok(typeof text !== 'string');
  assert.equal(text.attrs['data-name'], 'conv\uFFFD\uFFFD\uFFFDx\uFFFD');
  assert.equal(textOf(text), 'conv\uFFFD\uFFFD\uFFFDx\uFFFD');
});

test('a surrogate pair (an emoji in a name) is kept', () => {
  assert.equal(textOf(parseXml(markupToString(h('span', {}, 'layer 🚀')))), 'layer 🚀');
});

test('empty HTML elements are written open and closed, empty SVG elements self-closed', () => {
  assert.equal(markupToString(h('td')), '<td></td>');
  assert.equal(
    markupToString(h('div', {}, h('svg', { width: 2 }, h('rect', { x: 1 })))),
    '<div><svg width="2" xmlns="http://www.w3.org/2000/svg"><rect x="1"/></svg></div>'
  );
});

test('only the outermost svg declares the namespace', () => {
  const xml = markupToString(h('svg', {}, h('svg', { class: 'inner' })));
  assert.equal(xml.split('xmlns=').length, 2);
});

test('children are flattened; false, null and undefined are left out, as are undefined attributes', () => {
  const hidden = false;
  const markup = h(
    'ul',
    { class: undefined },
    [h('li', {}, 'a'), [h('li', {}, 'b')]],
    hidden && 'x',
    null,
    undefined
  );
  assert.equal(markupToString(markup), '<ul><li>a</li><li>b</li></ul>');
});
