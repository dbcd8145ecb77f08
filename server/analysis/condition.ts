// The condition language of metric analysis: `result < 0.01`,
// `result[0] >= 0.95 && len(result) > 0`, `isNaN(result) || result < 200`.
// Parsed once into a tree and evaluated against a measurement; there is no
// eval and nothing to name but `result`, numbers and a few functions.
// A comparison of a list (several series) holds when it holds for every element.
export type Value = number | boolean | number[];

type Node =
  | { k: "num"; v: number }
  | { k: "bool"; v: boolean }
  | { k: "result"; index?: number }
  | { k: "neg"; e: Node }
  | { k: "not"; e: Node }
  | { k: "bin"; op: string; l: Node; r: Node }
  | { k: "call"; fn: "len" | "isNaN" | "abs" | "min" | "max"; args: Node[] };

export class ConditionError extends Error {}

const FUNCTIONS = { len: 1, isNaN: 1, abs: 1, min: 1, max: 1 } as const;
const TOKEN = /\s*(\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|&&|\|\||[<>=!]=|[-+*/()<>!,\[\]]|[A-Za-z_][A-Za-z0-9_]*)/y;

function tokenize(text: string): string[] {
  const tokens: string[] = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < text.length) {
    if (/^\s*$/.test(text.slice(TOKEN.lastIndex))) break;
    const at = TOKEN.lastIndex;
    const m = TOKEN.exec(text);
    if (!m) throw new ConditionError(`unexpected character at ${at + 1}: "${text.slice(at).trim().slice(0, 10)}"`);
    tokens.push(m[1]);
  }
  return tokens;
}

/** A parsed condition; `evaluate` never throws for a well-formed one, a failed comparison is false. */
export interface Condition {
  source: string;
  evaluate(result: number | number[]): boolean;
}

export function parseCondition(source: string): Condition {
  if (source.length > 256) throw new ConditionError("a condition is at most 256 characters");
  const tokens = tokenize(source);
  let i = 0;
  const peek = () => tokens[i];
  const take = (expected?: string) => {
    const t = tokens[i++];
    if (t === undefined) throw new ConditionError(expected ? `expected "${expected}" at the end` : "unexpected end of the condition");
    if (expected && t !== expected) throw new ConditionError(`expected "${expected}", found "${t}"`);
    return t;
  };
  const binary = (next: () => Node, ops: string[], alias: Record<string, string> = {}) => (): Node => {
    let l = next();
    while (peek() !== undefined && (ops.includes(peek()) || peek() in alias)) {
      const t = take();
      l = { k: "bin", op: alias[t] ?? t, l, r: next() };
    }
    return l;
  };
  const primary = (): Node => {
    const t = take();
    if (/^\d/.test(t)) return { k: "num", v: Number(t) };
    if (t === "(") {
      const e = or();
      take(")");
      return e;
    }
    if (t === "true" || t === "false") return { k: "bool", v: t === "true" };
    if (t === "result") {
      if (peek() !== "[") return { k: "result" };
      take("[");
      const index = take();
      if (!/^\d+$/.test(index)) throw new ConditionError("an index is a whole number, as in result[0]");
      take("]");
      return { k: "result", index: Number(index) };
    }
    if (t in FUNCTIONS) {
      take("(");
      const args = [or()];
      take(")");
      return { k: "call", fn: t as keyof typeof FUNCTIONS, args };
    }
    throw new ConditionError(`unknown name "${t}": a condition can use result, numbers, and/or/not, comparisons, + - * /, len, isNaN, abs, min, max`);
  };
  const unary = (): Node => {
    if (peek() === "-") {
      take();
      return { k: "neg", e: unary() };
    }
    return primary();
  };
  const mul = binary(unary, ["*", "/"]);
  const add = binary(mul, ["+", "-"]);
  const cmp = (): Node => {
    const l = add();
    if (["<", "<=", ">", ">=", "==", "!="].includes(peek())) return { k: "bin", op: take(), l, r: add() };
    return l;
  };
  const not = (): Node => {
    if (peek() === "!" || peek() === "not") {
      take();
      return { k: "not", e: not() };
    }
    return cmp();
  };
  const and = binary(not, ["&&"], { and: "&&" });
  const or = binary(and, ["||"], { or: "||" });
  const tree = or();
  if (i < tokens.length) throw new ConditionError(`unexpected "${tokens[i]}"`);
  if (tokens.length === 0) throw new ConditionError("the condition is empty");
  return {
    source,
    evaluate: (result) => {
      const v = evaluate(tree, result);
      return typeof v === "boolean" ? v : false;
    },
  };
}

const asNumbers = (v: Value): number[] => (Array.isArray(v) ? v : typeof v === "number" ? [v] : [v ? 1 : 0]);
const scalar = (v: Value): number => {
  const xs = asNumbers(v);
  return xs.length === 1 ? xs[0] : NaN;
};

function evaluate(n: Node, result: number | number[]): Value {
  switch (n.k) {
    case "num":
    case "bool":
      return n.v;
    case "result": {
      if (n.index === undefined) return Array.isArray(result) && result.length === 1 ? result[0] : result;
      const xs = asNumbers(result);
      return n.index < xs.length ? xs[n.index] : NaN;
    }
    case "neg":
      return -scalar(evaluate(n.e, result));
    case "not":
      return !truthy(evaluate(n.e, result));
    case "call": {
      const v = evaluate(n.args[0], result);
      const xs = asNumbers(v);
      if (n.fn === "len") return xs.length;
      if (n.fn === "isNaN") return xs.length === 0 || xs.some(Number.isNaN);
      if (n.fn === "abs") return Array.isArray(v) ? xs.map(Math.abs) : Math.abs(scalar(v));
      return xs.length === 0 ? NaN : n.fn === "min" ? Math.min(...xs) : Math.max(...xs);
    }
    case "bin": {
      if (n.op === "&&") return truthy(evaluate(n.l, result)) && truthy(evaluate(n.r, result));
      if (n.op === "||") return truthy(evaluate(n.l, result)) || truthy(evaluate(n.r, result));
      const l = evaluate(n.l, result);
      const r = evaluate(n.r, result);
      if (["+", "-", "*", "/"].includes(n.op)) return arithmetic(n.op, l, r);
      const ls = asNumbers(l);
      const rs = asNumbers(r);
      if (ls.length === 0 || rs.length === 0) return false;
      return ls.every((a) => rs.every((b) => compare(n.op, a, b)));
    }
  }
}

function arithmetic(op: string, l: Value, r: Value): Value {
  const f = (a: number, b: number) => (op === "+" ? a + b : op === "-" ? a - b : op === "*" ? a * b : a / b);
  if (Array.isArray(l) && !Array.isArray(r)) return l.map((a) => f(a, scalar(r)));
  if (Array.isArray(r) && !Array.isArray(l)) return r.map((b) => f(scalar(l), b));
  return f(scalar(l), scalar(r));
}

function compare(op: string, a: number, b: number): boolean {
  if (Number.isNaN(a) || Number.isNaN(b)) return op === "!=";
  switch (op) {
    case "<":
      return a < b;
    case "<=":
      return a <= b;
    case ">":
      return a > b;
    case ">=":
      return a >= b;
    case "==":
      return a === b;
    default:
      return a !== b;
  }
}

const truthy = (v: Value): boolean => (typeof v === "boolean" ? v : asNumbers(v).every((x) => x !== 0 && !Number.isNaN(x)));
