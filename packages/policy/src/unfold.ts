/**
 * The text the dangerous patterns search a second time: the program with the simplest
 * obfuscations undone, and a map back to where each part came from, so an approver is shown the
 * program's own text and how it was disguised.
 *
 * Two layers, each one linear pass:
 * 1. Unicode: NFKC, as Python does to identifiers (`ｅｖａｌ` is `eval`).
 * 2. Literals: string literals glued together (`'sys'+'tem'`, `"a" "b"`, `` `child_${'process'}` ``,
 *    the shell's `c''url`) become one literal, and character escapes inside them (`'\x73ystem'`)
 *    or in identifiers (`\u0065val`, the shell's `r\m`) are decoded.
 * Anything computed at run time (`chr(115)`, `''.join(...)`, a reversed string) is out of reach.
 */

/** What turned a stretch of the program into the searched text. */
export type Change = 'unicode' | 'escape' | 'concatenation';

/** Changes as bits: a piece or literal carries a number, not a collection (1 MiB may make many). */
const BITS: Readonly<Record<Change, number>> = { unicode: 1, escape: 2, concatenation: 4 };

function changesOf(bits: number): Set<Change> {
  return new Set((Object.keys(BITS) as Change[]).filter((change) => bits & BITS[change]));
}

/** A stretch of a layer's text: copied from `from`..`to` of its source, or made from it by `changes`. */
interface Piece {
  /** Where the stretch starts in the layer's text. */
  readonly at: number;
  readonly from: number;
  to: number;
  /** Bits of BITS; 0: copied unchanged, character for character. */
  readonly changes: number;
}

/** A text made from a source, with the map back. */
export class Layer {
  constructor(
    readonly text: string,
    private readonly pieces: readonly Piece[],
  ) {}

  /** The source span that the text span [start, end) came from, and what changed it. */
  source(start: number, end: number): { from: number; to: number; changes: Set<Change> } {
    if (this.pieces.length === 0) return { from: start, to: end, changes: new Set() };
    const first = this.pieceAt(start);
    const last = this.pieceAt(Math.max(start, end - 1));
    const p = this.pieces[first] as Piece;
    const q = this.pieces[last] as Piece;
    let bits = 0;
    for (let i = first; i <= last; i++) bits |= (this.pieces[i] as Piece).changes;
    return {
      from: p.changes === 0 ? p.from + (start - p.at) : p.from,
      to: q.changes === 0 ? q.from + (end - q.at) : q.to,
      changes: changesOf(bits),
    };
  }

  /** Index of the last piece starting at or before `index` (binary search). */
  private pieceAt(index: number): number {
    let low = 0;
    let high = this.pieces.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if ((this.pieces[middle] as Piece).at <= index) low = middle;
      else high = middle - 1;
    }
    return low;
  }
}

class LayerBuilder {
  private readonly parts: string[] = [];
  private readonly pieces: Piece[] = [];
  private length = 0;
  changed = false;

  constructor(private readonly source: string) {}

  copy(from: number, to: number): void {
    if (to <= from) return;
    const last = this.pieces.at(-1);
    if (last && last.changes === 0 && last.to === from) last.to = to;
    else this.pieces.push({ at: this.length, from, to, changes: 0 });
    this.parts.push(this.source.slice(from, to));
    this.length += to - from;
  }

  replace(text: string, from: number, to: number, changes: number): void {
    this.pieces.push({ at: this.length, from, to, changes });
    this.parts.push(text);
    this.length += text.length;
    this.changed = true;
  }

  build(): Layer {
    return new Layer(this.parts.join(''), this.pieces);
  }
}

/** The program as the patterns search it the second time, and the layers that map it back. */
export interface Unfolded {
  readonly text: string;
  /** False when nothing was undone: the text is the program itself. */
  readonly changed: boolean;
  /** The program's span of the text's span [start, end), and what was undone inside it. */
  source(start: number, end: number): { from: number; to: number; changes: Set<Change> };
}

export function unfold(code: string): Unfolded {
  const unicode = foldUnicode(code);
  const literals = foldLiterals(unicode.text);
  const changed = unicode.text !== code || literals.text !== unicode.text;
  return {
    text: literals.text,
    changed,
    source(start, end) {
      const inner = literals.source(start, end);
      const outer = unicode.source(inner.from, inner.to);
      for (const change of inner.changes) outer.changes.add(change);
      return outer;
    },
  };
}

/** Non-ASCII runs closer than this are normalized together: fewer calls, a coarser map. */
const UNICODE_GAP = 8;

/** NFKC of every stretch that has non-ASCII characters (ASCII is left as it is by NFKC). */
function foldUnicode(code: string): Layer {
  const builder = new LayerBuilder(code);
  const runs = /[^\x00-\x7f]+/g;
  let copied = 0;
  let start = -1;
  let end = -1;
  const flush = (): void => {
    if (start < 0) return;
    const chunk = code.slice(start, end);
    const normalized = chunk.normalize('NFKC');
    builder.copy(copied, start);
    if (normalized === chunk) builder.copy(start, end);
    else builder.replace(normalized, start, end, BITS.unicode);
    copied = end;
  };
  let m: RegExpExecArray | null;
  while ((m = runs.exec(code)) !== null) {
    if (start >= 0 && m.index - end < UNICODE_GAP) {
      end = m.index + m[0].length;
      continue;
    }
    flush();
    start = m.index;
    end = m.index + m[0].length;
  }
  flush();
  builder.copy(copied, code.length);
  return builder.build();
}

const SPACE = /\s/;

/** An ASCII word character ([A-Za-z0-9_]) at `index`; a code comparison, as this runs per backslash and quote. */
function isWord(text: string, index: number): boolean {
  const c = text.charCodeAt(index);
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
}

/** A quoted literal read from the text: its value with escapes decoded, and where it ends. */
interface Literal {
  value: string;
  end: number;
  /** Bits of BITS. */
  changes: number;
}

/**
 * One pass over the text. A quote starts a literal (ended on its own line, else the rest of the
 * line is left as it is, which keeps the pass linear); literals separated only by blanks and an
 * optional `+` are joined. A backslash outside literals is decoded when it is `\uXXXX` (a
 * JavaScript identifier escape) or, between two word characters, dropped (the shell's `r\m`).
 */
function foldLiterals(text: string): Layer {
  const builder = new LayerBuilder(text);
  const special = /['"`\\]/g;
  let copied = 0;
  let m: RegExpExecArray | null;
  while ((m = special.exec(text)) !== null) {
    const at = m.index;
    if (text[at] === '\\') {
      const escape = decodeEscape(text, at, false);
      if (escape) {
        builder.copy(copied, at);
        builder.replace(escape.value, at, escape.end, BITS.escape);
        copied = escape.end;
      } else if (isWord(text, at - 1) && isWord(text, at + 1)) {
        builder.copy(copied, at);
        builder.replace(text[at + 1] as string, at, at + 2, BITS.escape);
        copied = at + 2;
      }
      // Whatever follows a backslash is escaped, a quote included.
      special.lastIndex = escape ? escape.end : at + 2;
      continue;
    }
    const first = readLiteral(text, at, 0);
    if (first === null) {
      const newline = text.indexOf('\n', at);
      special.lastIndex = newline < 0 ? text.length : newline;
      continue;
    }
    const quote = text[at] as string;
    let { value, end, changes } = first;
    for (let next = chained(text, end); next >= 0; next = chained(text, end)) {
      const literal = readLiteral(text, next, 0);
      if (literal === null) break;
      value += literal.value;
      end = literal.end;
      changes |= literal.changes | BITS.concatenation;
    }
    // Glued to words on both sides (the shell's c''url, ec"h"o): part of one word.
    const glued = quote !== '`' && isWord(text, at - 1) && isWord(text, end);
    if (glued) changes |= BITS.concatenation;
    if (changes !== 0) {
      builder.copy(copied, at);
      builder.replace(glued ? value : quote + value + quote, at, end, changes);
      copied = end;
    }
    special.lastIndex = end;
  }
  builder.copy(copied, text.length);
  return builder.build();
}

/** Where the next literal of a chain starts (after blanks and at most one `+`), or -1. */
function chained(text: string, from: number): number {
  let i = from;
  while (i < text.length && SPACE.test(text[i] as string)) i++;
  if (text[i] === '+') {
    i++;
    while (i < text.length && SPACE.test(text[i] as string)) i++;
  }
  const c = text[i];
  return c === "'" || c === '"' || c === '`' ? i : -1;
}

/**
 * The literal opening at `at`, or null when it does not end on its line (or, for a template,
 * holds anything but literals in its substitutions). `depth` limits templates in substitutions.
 */
function readLiteral(text: string, at: number, depth: number): Literal | null {
  const quote = text[at];
  let changes = 0;
  let value = '';
  let segment = at + 1;
  let i = at + 1;
  while (i < text.length) {
    const c = text[i];
    if (c === quote) return { value: value + text.slice(segment, i), end: i + 1, changes };
    if (c === '\n') return null;
    if (c === '\\') {
      const escape = decodeEscape(text, i, true);
      if (escape) {
        value += text.slice(segment, i) + escape.value;
        changes |= BITS.escape;
        i = segment = escape.end;
      } else {
        i += 2;
      }
      continue;
    }
    if (quote === '`' && c === '$' && text[i + 1] === '{') {
      // `${'lit'}` (or a chain of literals) inside a template: part of the text.
      let j = i + 2;
      while (j < text.length && SPACE.test(text[j] as string) && text[j] !== '\n') j++;
      const inner = depth === 0 && (text[j] === "'" || text[j] === '"') ? readLiteral(text, j, depth + 1) : null;
      if (inner === null) return null;
      let innerValue = inner.value;
      j = inner.end;
      for (let next = chained(text, j); next >= 0 && text[next] !== '`'; next = chained(text, j)) {
        const more = readLiteral(text, next, depth + 1);
        if (more === null) break;
        innerValue += more.value;
        j = more.end;
      }
      while (j < text.length && SPACE.test(text[j] as string) && text[j] !== '\n') j++;
      if (text[j] !== '}') return null;
      value += text.slice(segment, i) + innerValue;
      changes |= inner.changes | BITS.concatenation;
      i = segment = j + 1;
      continue;
    }
    i++;
  }
  return null;
}

const HEX = /^[0-9a-f]+$/i;

/**
 * The character a backslash escape at `at` stands for: `\uXXXX` and `\u{X…}` anywhere; inside a
 * literal also `\xXX` and three-digit octal `\NNN`. Other escapes (`\n`, `\'`) hide no letters
 * and are left as they are.
 */
function decodeEscape(text: string, at: number, inLiteral: boolean): { value: string; end: number } | null {
  const kind = text[at + 1];
  let digits: string;
  let end: number;
  if (kind === 'u' && text[at + 2] === '{') {
    // At most six hex digits: looking no further keeps the pass linear.
    const close = text.slice(at + 3, at + 10).indexOf('}');
    if (close < 0) return null;
    digits = text.slice(at + 3, at + 3 + close);
    end = at + 4 + close;
  } else if (kind === 'u') {
    digits = text.slice(at + 2, at + 6);
    end = at + 6;
    if (digits.length !== 4) return null;
  } else if (kind === 'x' && inLiteral) {
    digits = text.slice(at + 2, at + 4);
    end = at + 4;
    if (digits.length !== 2) return null;
  } else if (inLiteral && kind !== undefined && /[0-3]/.test(kind) && /^[0-7]{2}$/.test(text.slice(at + 2, at + 4))) {
    return { value: String.fromCharCode(parseInt(text.slice(at + 1, at + 4), 8)), end: at + 4 };
  } else {
    return null;
  }
  if (!HEX.test(digits)) return null;
  const code = parseInt(digits, 16);
  return code > 0x10ffff ? null : { value: String.fromCodePoint(code), end };
}
