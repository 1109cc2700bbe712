// Checks a bundle's source map with the `source-map` npm package (an independent consumer).
//
//   node sourcemap_check.js <node_modules> <static dir> <bundle> <map> [name@file:line ...]
//
// For scripts (the map has names): every mapping that carries a name is a candidate; the
// check asks source-map's originalPositionFor for its generated position and requires the
// answer to name the same file, line and name, and the ORIGINAL FILE ON DISK (not the map's
// sourcesContent) to hold that name at that line and column. Each `name@file:line` argument
// must be found that way too. For stylesheets (no names): every mapping whose generated
// text starts a class selector (`.name`) is a candidate, and the original file must hold
// the same `.name` at the position originalPositionFor gives.
//
// Prints one JSON object: {checked, failures: [...], failureCount, approximate, perSource:
// {file: n}, expected: {...}, sources}.
'use strict';
const fs = require('fs');
const path = require('path');
const [modules, staticDir, bundlePath, mapPath, ...expects] = process.argv.slice(2);
const { SourceMapConsumer } = require(path.join(modules, 'source-map'));

const map = JSON.parse(fs.readFileSync(mapPath, 'utf8'));
const consumer = new SourceMapConsumer(map);
const bundleLines = fs.readFileSync(bundlePath, 'utf8').split('\n');
const originals = {};
function originalLines(source) {
  if (!(source in originals)) {
    originals[source] = fs.readFileSync(path.join(staticDir, source), 'utf8').split('\n');
  }
  return originals[source];
}
const ident = /^[A-Za-z_$][\w$]*/;
const classSelector = /^\.(-?[A-Za-z_][\w-]*)/;
const isCss = bundlePath.endsWith('.css');

const checked = [];
const failures = [];
const approximate = [];
const perSource = {};
const seen = new Set();
consumer.eachMapping((m) => {
  if (m.source == null) return;
  const generatedText = (bundleLines[m.generatedLine - 1] || '').slice(m.generatedColumn);
  let token;
  if (isCss) {
    const found = classSelector.exec(generatedText);
    if (!found) return;
    token = found[0];
  } else {
    // Names that are not identifiers (quoted property keys such as '\xe1') are skipped.
    if (!m.name || !/^[A-Za-z_$][\w$]*$/.test(m.name)) return;
    token = m.name;
    if (!ident.test(generatedText)) {
      failures.push({ why: 'generated text is not an identifier', m, generatedText: generatedText.slice(0, 20) });
      return;
    }
  }
  const key = `${m.generatedLine}:${m.generatedColumn}`;
  if (seen.has(key)) return;
  seen.add(key);
  const pos = consumer.originalPositionFor({ line: m.generatedLine, column: m.generatedColumn });
  const line = originalLines(pos.source)[pos.line - 1] || '';
  const at = line.slice(pos.column);
  const expectedName = isCss ? null : token;
  const nameOk = isCss ? true : pos.name === expectedName;
  const textOk = isCss ? at.startsWith(token) && !/[\w-]/.test(at[token.length] || '')
    : at.startsWith(token) && !/[\w$]/.test(at[token.length] || '');
  const record = { token, source: pos.source, line: pos.line, column: pos.column };
  const exact = pos.source === m.source && pos.line === m.originalLine && nameOk && textOk;
  if (!exact) {
    // The minifier fuses statements (`if (!x) { x = y; }` becomes `x ||= y`): the fused
    // code maps to the start of the original statement, a few words or lines (up to 10) before the name.
    // Counted apart (`approximate`); anything else is a failure.
    const near = originalLines(pos.source).slice(pos.line - 1, pos.line + 9).join('\n').slice(pos.column);
    const word = new RegExp(`(^|[^\\w$.-])${token.replace(/[.$]/g, '\\$&')}($|[^\\w$-])`);
    if (pos.source === m.source && word.test(near)) {
      approximate.push({ ...record, at: at.slice(0, 30) });
    } else {
      failures.push({ why: 'original position does not hold the token', ...record, at: at.slice(0, 30) });
    }
    return;
  }
  checked.push(record);
  perSource[pos.source] = (perSource[pos.source] || 0) + 1;
});

const expected = {};
for (const spec of expects) {
  const [, name, file, line] = /^(.+)@(.+):(\d+)$/.exec(spec);
  expected[spec] = checked.some((c) => c.token === name && c.source === file && c.line === Number(line));
}
console.log(JSON.stringify({ checked: checked.length, failures: failures.slice(0, process.env.ALL_FAILURES ? 100000 : 20), failureCount: failures.length, approximate: approximate.length, approximateFirst: approximate.slice(0, 5), perSource, expected, sources: map.sources }));
