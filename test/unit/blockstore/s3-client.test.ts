/** The small XML reading of s3-client.ts (S3's error and listing bodies) and its error shape. */
import t from 'tap';
import { errorOf, xmlText, xmlTexts } from '../../../src/blockstore/s3-client.js';

t.test('xmlText / xmlTexts: first and every element text, entities unescaped', async (t) => {
  const xml =
    '<?xml version="1.0"?><ListBucketResult><IsTruncated>true</IsTruncated>' +
    '<Contents><Key>a/1</Key></Contents><Contents><Key>a/&lt;2&gt;&amp;&#51;&#x34;</Key></Contents>' +
    '<NextContinuationToken>tok&amp;en</NextContinuationToken></ListBucketResult>';
  t.equal(xmlText(xml, 'IsTruncated'), 'true');
  t.same(xmlTexts(xml, 'Key'), ['a/1', 'a/<2>&34']);
  t.equal(xmlText(xml, 'NextContinuationToken'), 'tok&en');
  t.equal(xmlText(xml, 'Missing'), undefined);
  t.same(xmlTexts(xml, 'Missing'), []);
});

t.test('errorOf: status, S3 code and message; a bodiless answer (HEAD) by its status', async (t) => {
  const body = Buffer.from(
    '<?xml version="1.0"?><Error><Code>NoSuchBucket</Code><Message>gone</Message></Error>',
  );
  const e = errorOf({ status: 404, headers: {}, body });
  t.match(e, { status: 404, code: 'NoSuchBucket', message: '404 NoSuchBucket: gone' });
  t.match(errorOf({ status: 403, headers: {}, body: Buffer.alloc(0) }), {
    status: 403,
    code: 'HTTP 403',
    message: '403 HTTP 403',
  });
});
