import { describe, expect, it } from 'vitest';
import { extractMailText } from './mail-text.js';

/** Joins lines with CRLF, the line ending of mail on the wire. */
const crlf = (...lines: string[]) => lines.join('\r\n');

describe('extractMailText', () => {
  it('keeps the subject and body only', () => {
    const raw = crlf(
      'From sender@example.com  Thu Aug 22 12:36:23 2002',
      'Received: from relay.example.com (relay [10.0.0.1])',
      '\tby mx.example.com; Thu, 22 Aug 2002 07:36:16 -0400',
      'Subject: Re: New sequences',
      '  window',
      'Date: Thu, 22 Aug 2002 18:26:25 +0700',
      '',
      'First line.   ',
      '',
      '',
      '',
      'Second line.',
      '',
    );
    expect(extractMailText(raw)).toBe('Re: New sequences window\n\nFirst line.\n\nSecond line.');
  });

  it('reads bytes and a missing subject', () => {
    const bytes = new TextEncoder().encode('To: a@example.com\n\nBody only\n');
    expect(extractMailText(bytes)).toBe('Body only');
  });

  it('decodes quoted-printable soft breaks and bytes', () => {
    const raw = crlf(
      'Subject: offer',
      'Content-Type: text/plain; charset="iso-8859-1"',
      'Content-Transfer-Encoding: quoted-printable',
      '',
      'A long line that was bro=',
      'ken here, caf=E9 =3D 1.',
    );
    expect(extractMailText(raw)).toBe('offer\n\nA long line that was broken here, café = 1.');
  });

  it('decodes base64 UTF-8 parts', () => {
    const body = Buffer.from('Grüße aus Köln\n', 'utf8').toString('base64');
    const raw = crlf('Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: base64', '', body);
    expect(extractMailText(raw)).toBe('Grüße aus Köln');
  });

  it('reduces HTML to its text', () => {
    const raw = crlf(
      'Content-Type: text/html',
      '',
      '<html><head><style>p { color: red }</style></head><body>',
      '<!-- hidden --><p>Fish &amp; chips&nbsp;for <b>$5</b></p><br>Fr<i></i>ee &#169; &#x41;',
      '</body></html>',
    );
    expect(extractMailText(raw)).toBe('Fish & chips for $5\n\nFree © A');
  });

  it('takes the plain part of multipart/alternative', () => {
    const raw = crlf(
      'Subject: both',
      'Content-Type: multipart/alternative; boundary="XYZ"',
      '',
      'This is a multi-part message in MIME format.',
      '--XYZ',
      'Content-Type: text/plain',
      '',
      'plain text',
      '--XYZ',
      'Content-Type: text/html',
      '',
      '<p>html text</p>',
      '--XYZ--',
      'epilogue',
    );
    expect(extractMailText(raw)).toBe('both\n\nplain text');
  });

  it('joins text parts and drops attachments', () => {
    const raw = crlf(
      'Content-Type: multipart/mixed; boundary=outer',
      '',
      '--outer',
      'Content-Type: multipart/alternative; boundary=inner',
      '',
      '--inner',
      'Content-Type: text/html',
      '',
      '<div>only html</div>',
      '--inner--',
      '--outer',
      'Content-Type: image/gif',
      'Content-Transfer-Encoding: base64',
      '',
      'R0lGODlhAQABAAAAACw=',
      '--outer',
      'Content-Type: application/pgp-signature',
      '',
      '-----BEGIN PGP SIGNATURE-----',
      '--outer',
      'Content-Type: text/plain',
      '',
      'signature line',
      '--outer--',
    );
    expect(extractMailText(raw)).toBe('only html\n\nsignature line');
  });

  it('finds parts when the Content-Type header is missing', () => {
    const raw = crlf(
      'Subject: broken',
      '',
      'This is a multipart MIME message.',
      '',
      '--= Boundary 0626',
      'Content-Type: text/plain; charset="iso-8859-1"',
      'Content-Transfer-Encoding: 7bit',
      '',
      'the real text',
      '--= Boundary 0626--',
    );
    expect(extractMailText(raw)).toBe('broken\n\nthe real text');
  });

  it('decodes RFC 2047 encoded words in the subject', () => {
    const raw = crlf('Subject: =?iso-8859-1?Q?Caf=E9_au?= =?utf-8?B?bGFpdA==?= now', '', 'x');
    expect(extractMailText(raw)).toBe('Café aulait now\n\nx');
  });

  it('reads a multipart body without a boundary line as text', () => {
    const raw = crlf('Content-Type: multipart/mixed; boundary=nowhere', '', 'just text');
    expect(extractMailText(raw)).toBe('just text');
  });
});
