// Label and field selectors as the apiserver parses them from `labelSelector` / `fieldSelector`,
// and the conversion of a `metav1.LabelSelector` (matchLabels, matchExpressions) into one.

import { badRequest } from './errors.ts';
import { getPath, isObject } from './objects.ts';

export interface Requirement {
  key: string;
  op: 'in' | 'notin' | 'exists' | '!exists' | '=' | '!=';
  values: string[];
}

export type Selector = Requirement[];

/** Parses `a=b,c!=d,e in (x,y),f notin (z),g,!h`; throws 400 on syntax errors. */
export function parseLabelSelector(text: string | undefined): Selector {
  const out: Selector = [];
  if (!text) return out;
  for (const part of splitTopLevel(text)) {
    const term = part.trim();
    if (!term) continue;
    let m = /^!\s*([\w./-]+)$/.exec(term);
    if (m) {
      out.push({ key: m[1] as string, op: '!exists', values: [] });
      continue;
    }
    m = /^([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(term);
    if (m) {
      out.push({
        key: m[1] as string,
        op: m[2] as 'in' | 'notin',
        values: (m[3] as string)
          .split(',')
          .map((v) => v.trim())
          .filter((v) => v !== ''),
      });
      continue;
    }
    m = /^([\w./-]+)\s*(==|=|!=)\s*([\w.-]*)$/.exec(term);
    if (m) {
      out.push({ key: m[1] as string, op: m[2] === '!=' ? '!=' : '=', values: [m[3] as string] });
      continue;
    }
    m = /^([\w./-]+)$/.exec(term);
    if (m) {
      out.push({ key: m[1] as string, op: 'exists', values: [] });
      continue;
    }
    throw badRequest(`unable to parse requirement: found '${term}', expected: in, notin, =, ==, !=, gt, lt`);
  }
  return out;
}

function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of text) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  parts.push(cur);
  return parts;
}

export function matchesLabels(selector: Selector, labels: Record<string, string> | undefined): boolean {
  const l = labels ?? {};
  return selector.every((r) => {
    const has = Object.hasOwn(l, r.key);
    const v = l[r.key];
    switch (r.op) {
      case 'exists':
        return has;
      case '!exists':
        return !has;
      case '=':
        return has && v === r.values[0];
      case '!=':
        return !has || v !== r.values[0];
      case 'in':
        return has && r.values.includes(v as string);
      case 'notin':
        return !has || !r.values.includes(v as string);
    }
    return false;
  });
}

/** `metav1.LabelSelector` → requirements. An empty selector matches everything, as in the API. */
export function fromLabelSelector(sel: unknown): Selector {
  const out: Selector = [];
  if (!isObject(sel)) return out;
  const matchLabels = isObject(sel.matchLabels) ? sel.matchLabels : {};
  for (const [k, v] of Object.entries(matchLabels)) out.push({ key: k, op: '=', values: [String(v)] });
  const exprs = Array.isArray(sel.matchExpressions) ? sel.matchExpressions : [];
  for (const e of exprs) {
    if (!isObject(e)) continue;
    const key = String(e.key);
    const values = Array.isArray(e.values) ? e.values.map(String) : [];
    const op = String(e.operator);
    if (op === 'In') out.push({ key, op: 'in', values });
    else if (op === 'NotIn') out.push({ key, op: 'notin', values });
    else if (op === 'Exists') out.push({ key, op: 'exists', values: [] });
    else if (op === 'DoesNotExist') out.push({ key, op: '!exists', values: [] });
  }
  return out;
}

/** The string form, as `kubectl scale` reads from `Scale.status.selector`. */
export function labelSelectorString(sel: unknown): string {
  return fromLabelSelector(sel)
    .map((r) => {
      switch (r.op) {
        case '=':
          return `${r.key}=${r.values[0]}`;
        case '!=':
          return `${r.key}!=${r.values[0]}`;
        case 'exists':
          return r.key;
        case '!exists':
          return `!${r.key}`;
        default:
          return `${r.key} ${r.op} (${r.values.join(',')})`;
      }
    })
    .join(',');
}

export interface FieldRequirement {
  field: string;
  negate: boolean;
  value: string;
}

/** Parses `metadata.name=x,status.phase!=Running`; each field must be in `supported` (else 400, as the apiserver answers). */
export function parseFieldSelector(text: string | undefined, supported: readonly string[], kind: string): FieldRequirement[] {
  const out: FieldRequirement[] = [];
  if (!text) return out;
  for (const term of text.split(',')) {
    if (!term.trim()) continue;
    const m = /^\s*([\w.[\]'/-]+)\s*(==|=|!=)\s*(.*?)\s*$/.exec(term);
    if (!m) throw badRequest(`invalid selector: '${text}'; can't understand '${term}'`);
    const field = m[1] as string;
    if (!supported.includes(field)) throw badRequest(`field label not supported: ${field}`);
    out.push({ field, negate: m[2] === '!=', value: m[3] as string });
  }
  void kind;
  return out;
}

export function matchesFields(reqs: readonly FieldRequirement[], obj: unknown): boolean {
  return reqs.every((r) => {
    const raw = getPath(obj, r.field.split('.'));
    const value = raw === undefined || raw === null ? '' : String(raw);
    return r.negate ? value !== r.value : value === r.value;
  });
}
