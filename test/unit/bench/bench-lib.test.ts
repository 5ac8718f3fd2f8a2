/**
 * The benchmarks' shared flags and report helpers (scripts/bench/lib/cli.ts, report.ts): what every
 * bench's command line and table rest on.
 */
import t from 'tap';
import { parseFlags, parseSize } from '../../../scripts/bench/lib/cli.js';
import { fixed, median, percentile, table } from '../../../scripts/bench/lib/report.js';

const DEFAULTS = { runs: 3, size: '1G', only: ['loft', 'rclone'], keep: false };
const CHOICES = { only: ['loft', 'rclone', 'ceiling'] } as const;

t.test('flags: defaults, both spellings, booleans and lists', async (t) => {
  t.same(parseFlags([], DEFAULTS, 'usage'), DEFAULTS);
  t.same(
    parseFlags(['--runs', '5', '--size=2M', '--keep', '--only', 'ceiling,loft'], DEFAULTS, 'usage', CHOICES),
    {
      runs: 5,
      size: '2M',
      only: ['ceiling', 'loft'],
      keep: true,
    },
  );
});

t.test('flags: bad input is a usage error naming what was wrong', async (t) => {
  for (const argv of [
    ['--runs', '0'],
    ['--runs', 'x'],
    ['--runs'],
    ['--bogus', '1'],
    ['runs', '3'],
    ['--only', 'zfs'],
  ])
    t.throws(() => parseFlags(argv, DEFAULTS, 'usage: x', CHOICES), { name: 'UsageError' }, argv.join(' '));
  t.throws(() => parseFlags(['--only', 'zfs'], DEFAULTS, 'usage: x', CHOICES), /unknown "zfs" in --only/);
});

t.test('sizes', async (t) => {
  t.equal(parseSize('4096'), 4096);
  t.equal(parseSize('64K'), 65536);
  t.equal(parseSize('1.5MiB'), 1.5 * 1024 * 1024);
  t.equal(parseSize('1G'), 1024 ** 3);
  t.ok(Number.isNaN(parseSize('lots')));
  t.ok(Number.isNaN(parseSize(undefined)));
});

t.test('median, percentile, fixed, table', async (t) => {
  t.equal(median([3, 1, 2]), 2);
  t.equal(median([4, 1, 3, 2]), 2.5);
  t.ok(Number.isNaN(median([])));
  t.equal(median([NaN, 5, Infinity, 1]), 3, 'non-finite values are not samples');
  t.equal(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 90), 9);
  t.equal(percentile([5], 99), 5);
  t.equal(fixed(NaN), '—');
  t.equal(fixed(1.234, 1), '1.2');
  t.equal(table(['what', 'ms:'], [['a', '1']]), '| what | ms |\n| --- | ---: |\n| a | 1 |');
});
