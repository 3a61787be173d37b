// The planner's state ⇄ query string, without a browser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseState, stateQuery, filterQuery, validHours, periodDays } from '../js/state.js';
import { DENSITY, DIFF, classLabels, step } from '../js/scales.js';

test('state round-trips through the query string in canonical order', () => {
  const q = 'from=2025-05-01&to=2025-05-31&hours=8-12,18&days=mon,sat&age=18-24,65%2B&gender=f&nationality=DE&origin=054039&spend=high&zone=corso'
    + '&compare_from=2025-04-01&compare_to=2025-04-30&layers=density,origins&lang=en&z=16&lat=42.98&lon=12.41&sel=zone%3Acorso';
  const s = parseState(q);
  assert.deepEqual(s.filters, {
    from: '2025-05-01', to: '2025-05-31', hours: '8-12,18', days: 'mon,sat', age: '18-24,65+',
    gender: 'f', nationality: 'DE', origin: '054039', spend: 'high', zone: 'corso',
  });
  assert.deepEqual(s.compare, { from: '2025-04-01', to: '2025-04-30' });
  assert.deepEqual(s.layers, ['density', 'origins']);
  assert.equal(s.lang, 'en');
  assert.equal(s.sel, 'zone:corso');
  assert.deepEqual(parseState(stateQuery(s)), s);
  assert.equal(stateQuery(parseState(stateQuery(s))), stateQuery(s));
});

test('defaults are left out, unknown values dropped, lists put in order', () => {
  assert.equal(stateQuery(parseState('')), '');
  const s = parseState('days=sun,mon,funday&gender=q&lang=fr&z=99&layers=zones,bogus');
  assert.equal(s.filters.days, 'mon,sun');
  assert.equal(s.filters.gender, undefined);
  assert.equal(s.lang, 'it');
  assert.equal(s.z, 20);
  assert.deepEqual(s.layers, ['zones']);
  assert.equal(parseState('compare_from=2025-01-01').compare, null);
});

test('tile queries carry only filters; a comparison period replaces the window', () => {
  const f = { from: '2025-05-01', to: '2025-05-31', age: '65+', zone: 'corso' };
  assert.equal(filterQuery(f), 'from=2025-05-01&to=2025-05-31&age=65%2B&zone=corso');
  assert.equal(filterQuery(f, { from: '2025-04-01', to: '2025-04-30' }), 'from=2025-04-01&to=2025-04-30&age=65%2B&zone=corso');
});

test('hours syntax and period lengths', () => {
  for (const ok of ['', '8', '8-12', '8-12,18', '0-23']) assert.ok(validHours(ok), ok);
  for (const bad of ['24', '8-', 'a', '8-12;18', '-3']) assert.ok(!validHours(bad), bad);
  assert.equal(periodDays('2025-05-01', '2025-05-31'), 31);
  assert.equal(periodDays('2025-05-01', null), null);
  assert.equal(periodDays('2025-05-02', '2025-05-01'), null);
});

test('colour scales are fixed classes with labels', () => {
  assert.equal(DENSITY.colors.length, DENSITY.breaks.length + 1);
  assert.equal(DIFF.colors.length, DIFF.breaks.length + 1);
  assert.deepEqual(classLabels({ breaks: [10, 20], colors: [1, 2, 3] }, String, 5), ['5 – 10', '10 – 20', '≥ 20']);
  assert.deepEqual(step({ breaks: [10], colors: ['a', 'b'] }, ['get', 'x']), ['step', ['get', 'x'], 'a', 10, 'b']);
});
