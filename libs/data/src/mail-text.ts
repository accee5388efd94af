/**
 * Reduces a raw e-mail (RFC 5322 with MIME) to its subject and readable body. Header lines are
 * dropped because relay names, dates and list headers identify the source of a message more
 * than its content. The MIME decoding covers the common cases only: multipart bodies,
 * quoted-printable and base64 transfer encodings, declared charsets, RFC 2047 encoded words in
 * the subject, and HTML reduced to its text.
 */

import { TextDecoder } from 'node:util';

/** Nesting depth of multipart and attached messages beyond which parts are dropped. */
const MAX_MIME_DEPTH = 8;

interface MimeEntity {
  /** Unfolded header values by lower-case name; the first occurrence of a name wins. */
  headers: Map<string, string>;
  /** Body as a binary string, one character per byte (latin1). */
  body: string;
}

/**
 * Returns `subject + "\n\n" + body text` of a raw e-mail, with line endings normalised to `\n`,
 * trailing spaces removed and runs of blank lines shortened to one. Non-text parts (images,
 * signatures, other attachments) are dropped. In a `multipart/alternative` body the first
 * `text/plain` part is kept, or else the first part with text.
 *
 * @param raw - the message bytes, or a string with one character per byte
 */
export function extractMailText(raw: Uint8Array | string): string {
  const binary = typeof raw === 'string' ? raw : Buffer.from(raw).toString('latin1');
  const message = parseEntity(binary.replace(/\r\n?/g, '\n'));
  const subject = decodeHeaderValue(message.headers.get('subject') ?? '');
  const body = entityText(message, 0);
  return tidyText(subject === '' ? body : `${subject}\n\n${body}`);
}

function parseEntity(text: string): MimeEntity {
  const headerEnd = text.startsWith('\n') ? 0 : text.indexOf('\n\n');
  const headerBlock = headerEnd < 0 ? text : text.slice(0, headerEnd);
  const body = headerEnd < 0 ? '' : text.slice(headerEnd + (headerEnd === 0 ? 1 : 2));
  const headers = new Map<string, string>();
  let name = '';
  let value = '';
  const flush = () => {
    if (name !== '' && !headers.has(name)) headers.set(name, value.trim());
  };
  for (const line of headerBlock.split('\n')) {
    if (line.startsWith(' ') || line.startsWith('\t')) {
      // A folded line continues the previous header.
      value += ' ' + line.trim();
      continue;
    }
    flush();
    const colon = line.indexOf(':');
    // Lines without a colon, such as the mbox "From sender date" line, are not headers.
    name = colon > 0 ? line.slice(0, colon).trim().toLowerCase() : '';
    value = colon > 0 ? line.slice(colon + 1) : '';
  }
  flush();
  return { headers, body };
}

/** Returns the readable text of an entity and its parts. */
function entityText(entity: MimeEntity, depth: number): string {
  const contentType = entity.headers.get('content-type') ?? 'text/plain';
  const mediaType = contentType.split(';')[0]!.trim().toLowerCase() || 'text/plain';
  if (mediaType.startsWith('multipart/')) {
    const boundary = headerParameter(contentType, 'boundary');
    const parts = boundary === undefined ? undefined : splitMultipart(entity.body, boundary);
    // A multipart body without a usable boundary is read as plain text.
    if (parts === undefined) return decodedText(entity, 'text/plain');
    if (depth >= MAX_MIME_DEPTH) return '';
    return multipartText(parts.map(parseEntity), mediaType, depth);
  }
  if (mediaType === 'message/rfc822') {
    if (depth >= MAX_MIME_DEPTH) return '';
    return entityText(parseEntity(transferDecoded(entity)), depth + 1);
  }
  if (mediaType.startsWith('text/')) {
    const declared = entity.headers.has('content-type');
    const boundary = declared ? undefined : undeclaredBoundary(entity.body);
    const parts = boundary === undefined ? undefined : splitMultipart(entity.body, boundary);
    if (parts !== undefined && depth < MAX_MIME_DEPTH) {
      return multipartText(parts.map(parseEntity), 'multipart/mixed', depth);
    }
    return decodedText(entity, mediaType);
  }
  return '';
}

/**
 * Returns the boundary of a multipart body whose message lacks a Content-Type header, as some
 * spam does: a line `--boundary` directly followed by a part's Content-Type or
 * Content-Transfer-Encoding header.
 */
function undeclaredBoundary(body: string): string | undefined {
  const match = /^--([^\s][^\n]*)\ncontent-(?:type|transfer-encoding):/im.exec(body);
  return match === null ? undefined : match[1]!.trimEnd();
}

function multipartText(parts: MimeEntity[], mediaType: string, depth: number): string {
  if (mediaType === 'multipart/alternative') {
    const plain = parts.find((part) => partMediaType(part) === 'text/plain');
    const plainText = plain === undefined ? '' : entityText(plain, depth + 1);
    if (plainText.trim() !== '') return plainText;
    for (const part of parts) {
      const text = entityText(part, depth + 1);
      if (text.trim() !== '') return text;
    }
    return '';
  }
  return parts
    .map((part) => entityText(part, depth + 1))
    .filter((text) => text.trim() !== '')
    .join('\n\n');
}

function partMediaType(entity: MimeEntity): string {
  const contentType = entity.headers.get('content-type') ?? 'text/plain';
  return contentType.split(';')[0]!.trim().toLowerCase();
}

/** Returns the parts between the boundary lines, or undefined when no boundary line occurs. */
function splitMultipart(body: string, boundary: string): string[] | undefined {
  const delimiter = `--${boundary}`;
  const parts: string[] = [];
  let current: string[] | undefined;
  let found = false;
  for (const line of body.split('\n')) {
    const trimmed = line.trimEnd();
    if (trimmed === delimiter || trimmed === `${delimiter}--`) {
      found = true;
      if (current !== undefined) parts.push(current.join('\n'));
      current = trimmed === delimiter ? [] : undefined;
      if (current === undefined) break;
      continue;
    }
    // Lines before the first boundary are the preamble, which mail readers do not show.
    current?.push(line);
  }
  if (current !== undefined) parts.push(current.join('\n'));
  return found ? parts : undefined;
}

function decodedText(entity: MimeEntity, mediaType: string): string {
  const charset = headerParameter(entity.headers.get('content-type') ?? '', 'charset');
  const text = decodeBytes(transferDecoded(entity), charset);
  const looksLikeHtml = mediaType === 'text/html' || /<(html|body)[\s>]/i.test(text);
  return looksLikeHtml ? htmlToText(text) : text;
}

/** Returns the body with its Content-Transfer-Encoding undone, one character per byte. */
function transferDecoded(entity: MimeEntity): string {
  const encoding = (entity.headers.get('content-transfer-encoding') ?? '').trim().toLowerCase();
  if (encoding === 'base64') {
    return Buffer.from(entity.body.replace(/[^A-Za-z0-9+/=]/g, ''), 'base64').toString('latin1');
  }
  if (encoding === 'quoted-printable') return decodeQuotedPrintable(entity.body);
  return entity.body;
}

function decodeQuotedPrintable(text: string): string {
  return text
    .replace(/=[ \t]*\n/g, '')
    .replace(/=([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

/** Returns a parameter such as `charset` or `boundary` of a structured header value. */
function headerParameter(value: string, name: string): string | undefined {
  const match = new RegExp(`(?:^|;)\\s*${name}\\s*=\\s*(?:"([^"]*)"|([^;\\s]+))`, 'i').exec(value);
  if (match === null) return undefined;
  return match[1] ?? match[2];
}

const decoders = new Map<string, TextDecoder | undefined>();
const utf8Strict = new TextDecoder('utf-8', { fatal: true });
const windows1252 = new TextDecoder('windows-1252');

/**
 * Decodes a binary string in `charset`. Without a charset, or with one that Node does not know,
 * the bytes are read as UTF-8 when they are valid UTF-8 and as Windows-1252 otherwise.
 */
function decodeBytes(binary: string, charset: string | undefined): string {
  const bytes = Buffer.from(binary, 'latin1');
  const decoder = charset === undefined ? undefined : decoderFor(charset);
  if (decoder !== undefined) return decoder.decode(bytes);
  try {
    return utf8Strict.decode(bytes);
  } catch {
    return windows1252.decode(bytes);
  }
}

function decoderFor(charset: string): TextDecoder | undefined {
  const label = charset.trim().toLowerCase();
  if (!decoders.has(label)) {
    let decoder: TextDecoder | undefined;
    try {
      decoder = new TextDecoder(label);
    } catch {
      decoder = undefined;
    }
    decoders.set(label, decoder);
  }
  return decoders.get(label);
}

/** An RFC 2047 encoded word `=?charset?B|Q?data?=`. */
const ENCODED_WORD = /=\?([^?\s]+)\?([BbQq])\?([^?\s]*)\?=/g;

/** Decodes the raw bytes of a header value and then its RFC 2047 encoded words. */
function decodeHeaderValue(value: string): string {
  const text = decodeBytes(value, undefined);
  // Whitespace between two adjacent encoded words is not part of the text (RFC 2047, 6.2).
  return text
    .replace(/(\?=)\s+(=\?)/g, '$1$2')
    .replace(ENCODED_WORD, (_, charset: string, encoding: string, data: string) => {
      const binary =
        encoding.toUpperCase() === 'B'
          ? Buffer.from(data, 'base64').toString('latin1')
          : decodeQuotedPrintable(data.replace(/_/g, ' '));
      return decodeBytes(binary, charset);
    });
}

const HTML_ENTITIES: Record<string, string> = {
  nbsp: ' ',
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
  copy: '\u00a9',
  reg: '\u00ae',
  trade: '\u2122',
};

/** Tags that end a line of text; all other tags are removed without a space. */
const BLOCK_TAGS = new RegExp(
  '</?(br|p|div|tr|td|th|li|ul|ol|table|h[1-6]|hr|title|blockquote|center|form|body|html)\\b[^>]*>',
  'gi',
);

/** Returns the visible text of an HTML document: no tags, comments, scripts or styles. */
function htmlToText(html: string): string {
  return html
    .replace(/<!--[\s\S]*?-->/g, ' ')
    .replace(/<(style|script)\b[\s\S]*?<\/\1\s*>/gi, ' ')
    .replace(BLOCK_TAGS, '\n')
    .replace(/<[^>]*>/g, '')
    .replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, decodeHtmlEntity)
    .replace(/[ \t\u00a0]+/g, ' ');
}

function decodeHtmlEntity(entity: string, name: string): string {
  if (!name.startsWith('#')) return HTML_ENTITIES[name.toLowerCase()] ?? entity;
  const hex = name[1] === 'x' || name[1] === 'X';
  const codePoint = hex ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
  return codePoint > 0 && codePoint <= 0x10ffff ? String.fromCodePoint(codePoint) : ' ';
}

function tidyText(text: string): string {
  return text
    .replace(/[ \t]+\n/g, '\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}
